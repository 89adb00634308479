"""oms use cases: place a market order end to end, read accounts, orders and positions."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, Histogram

from fxmesh import passwords
from fxmesh.errors import InvalidArgument, NotFound, PermissionDenied, Unauthenticated
from fxmesh.metrics import LATENCY_BUCKETS
from fxmesh.money import ZERO, places, to_money
from fxmesh.quotecache import ClientQuote, quote_key
from oms import domain, outbox
from oms import repository as repo
from oms.convert import PlaceOrderCommand, PositionView, fill_json, order_json, position_json
from oms.domain import (
    AccountFigures,
    AccountId,
    NoConversionRate,
    Order,
    OrderId,
    OrderStatus,
    OrderTrigger,
    OrderType,
    Price,
    SymbolSpec,
)
from oms.router_client import Execution, ExecutionUnavailable

log = structlog.stdlib.get_logger(__name__)

ORDERS = Counter(
    "fxmesh_oms_orders_total", "Orders placed, by type and final status.", ["type", "status"]
)
ORDER_LATENCY = Histogram(
    "fxmesh_oms_order_latency_seconds",
    "PlaceOrder time from request to final status (execution included).",
    buckets=LATENCY_BUCKETS,
)


class Router(Protocol):
    async def execute(
        self,
        order: Order,
        client_group: str,
        max_price_deviation: Decimal | None,
        contract_size: Decimal,
        quote_to_usd_rate: Decimal,
    ) -> Execution: ...


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order: Order
    fills: list[repo.FillRow]
    positions: list[PositionView]
    replayed: bool


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: repo.Account
    figures: AccountFigures


async def read_prices(redis: Any, symbols: Iterable[str]) -> dict[str, Price]:
    """Current client quotes (``fxmesh.quotecache`` documents) of ``symbols`` in one round trip."""
    names = list(symbols)
    if not names:
        return {}
    raws = await redis.mget([quote_key(s) for s in names])
    prices: dict[str, Price] = {}
    for name, raw in zip(names, raws, strict=True):
        if raw is None:
            continue
        quote = ClientQuote.from_json(raw)
        if quote.bid > 0 and quote.ask >= quote.bid:
            prices[name] = Price(quote.bid, quote.ask)
    return prices


class OmsService:
    def __init__(
        self,
        pool: Any,
        redis: Any,
        router: Router,
        *,
        symbols_cache_seconds: float = 2.0,
    ) -> None:
        self._pool = pool
        self._redis = redis
        self._router = router
        self._symbols_ttl = symbols_cache_seconds
        self._symbols: dict[str, SymbolSpec] = {}
        self._symbols_at = float("-inf")

    # --- reference data --------------------------------------------------------------------------

    async def symbols(self) -> dict[str, SymbolSpec]:
        if time.monotonic() - self._symbols_at > self._symbols_ttl:
            async with self._pool.acquire() as conn:
                self._symbols = await repo.load_symbols(conn)
            self._symbols_at = time.monotonic()
        return self._symbols

    async def _prices(self) -> dict[str, Price]:
        return await read_prices(self._redis, (await self.symbols()).keys())

    # --- PlaceOrder ------------------------------------------------------------------------------

    async def place_order(self, cmd: PlaceOrderCommand) -> PlaceResult:
        started = time.perf_counter()
        result = await self._place(cmd)
        if not result.replayed:
            ORDER_LATENCY.observe(time.perf_counter() - started)
            ORDERS.labels(result.order.type.value, result.order.status.value).inc()
        log.info(
            "order_placed",
            order_id=result.order.order_id,
            status=result.order.status.value,
            reason=result.order.reject_reason,
            replayed=result.replayed,
        )
        return result

    async def _place(self, cmd: PlaceOrderCommand) -> PlaceResult:
        symbols = await self.symbols()
        prices = await self._prices()
        spec = symbols.get(cmd.symbol)
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                # The row lock serialises one account's orders: margin checks see each other.
                account = await repo.get_account(conn, cmd.account_id, lock=True)
                if account is None:
                    raise NotFound(
                        f"account {cmd.account_id} not found",
                        reason="ACCOUNT_NOT_FOUND",
                        metadata={"account_id": str(cmd.account_id)},
                    )
                existing = await repo.find_order_by_client_id(
                    conn, cmd.account_id, cmd.client_order_id
                )
                if existing is not None:
                    return await self._replay(conn, existing, account.currency, symbols, prices)
                if (
                    spec is not None
                    and cmd.requested_price is not None
                    and places(cmd.requested_price) > spec.digits
                ):
                    raise InvalidArgument(
                        f"requested_price has more than {spec.digits} decimal places",
                        reason="INVALID_PRECISION",
                        metadata={"field": "requested_price", "max_places": str(spec.digits)},
                    )
                order = Order(
                    account_id=cmd.account_id,
                    client_order_id=cmd.client_order_id,
                    symbol=cmd.symbol,
                    side=cmd.side,
                    type=cmd.type,
                    time_in_force=cmd.time_in_force,
                    volume=cmd.volume,
                    requested_price=cmd.requested_price,
                    price=cmd.price,
                    deviation_points=cmd.deviation_points
                    or (spec.default_deviation_points if spec else 0),
                )
                problem = await self._validate(conn, account, order, spec, symbols, prices)
                if problem is None:
                    order.accept()
                else:
                    order.reject(*problem)
                if not await repo.insert_order(conn, order):  # lost a race on the same key
                    again = await repo.find_order_by_client_id(
                        conn, cmd.account_id, cmd.client_order_id
                    )
                    assert again is not None
                    return await self._replay(conn, again, account.currency, symbols, prices)
                if order.status is OrderStatus.REJECTED:
                    await outbox.enqueue(
                        conn, "order_rejected", order.account_id, {"order": order_json(order)}
                    )
                    return PlaceResult(order, [], [], replayed=False)
            # Committed ACCEPTED: the order is acknowledged. Now it goes to the router.
            assert spec is not None
            async with conn.transaction():
                order.apply(OrderTrigger.SUBMIT)
                await repo.save_order(conn, order)
        execution = await self._execute(order, account, spec, prices)
        return await self._apply_execution(order, spec, execution, prices)

    async def _validate(
        self,
        conn: Any,
        account: repo.Account,
        order: Order,
        spec: SymbolSpec | None,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
    ) -> tuple[str, str] | None:
        """The first business reason to refuse the order, or None."""
        if account.status != "ACTIVE":
            return "ACCOUNT_NOT_ACTIVE", f"account is {account.status.lower()}"
        if spec is None:
            return "UNKNOWN_SYMBOL", f"no symbol {order.symbol}"
        if not spec.enabled:
            return "SYMBOL_DISABLED", f"trading in {order.symbol} is disabled"
        if order.type is not OrderType.MARKET:
            return "ORDER_TYPE_NOT_SUPPORTED", f"{order.type.value} orders are not supported yet"
        if account.margin_mode != "HEDGING":
            return "MARGIN_MODE_NOT_SUPPORTED", "netting accounts are not supported yet"
        problem = domain.volume_problem(order.volume, spec)
        if problem is not None:
            return problem
        price = prices.get(order.symbol)
        if price is None:
            return "NO_QUOTE", f"no current price for {order.symbol}"
        try:
            required = domain.margin(
                order.volume,
                domain.opening_price(order.side, price),
                account.leverage,
                spec,
                account.currency,
                prices,
            ) + domain.commission(order.volume, spec, account.currency, prices)
        except NoConversionRate as exc:
            return "NO_QUOTE", str(exc)
        positions = await repo.open_positions(conn, account.account_id)
        in_flight = await repo.in_flight_orders(conn, account.account_id)
        figures = self._figures(account, positions, in_flight, symbols, prices)[0]
        if required > figures.free_margin:
            return (
                "NOT_ENOUGH_MONEY",
                f"required margin and commission {to_money(required, account.currency)} "
                f"exceed free margin {figures.free_margin} {account.currency}",
            )
        return None

    async def _execute(
        self, order: Order, account: repo.Account, spec: SymbolSpec, prices: Mapping[str, Price]
    ) -> Execution | None:
        max_dev = None
        if order.requested_price is not None:
            max_dev = order.deviation_points * spec.point
        try:
            usd_rate = domain.conversion_rate(spec.quote_currency, "USD", prices)
        except NoConversionRate:
            usd_rate = Decimal(0)
        try:
            return await self._router.execute(
                order, account.client_group, max_dev, spec.contract_size, usd_rate
            )
        except ExecutionUnavailable:
            return None

    async def _apply_execution(
        self,
        order: Order,
        spec: SymbolSpec,
        execution: Execution | None,
        prices: Mapping[str, Price],
    ) -> PlaceResult:
        """Apply the router's answer in ONE transaction: order, positions, deals, ledger, outbox."""
        fills: list[repo.FillRow] = []
        positions: list[repo.PositionRow] = []
        async with self._pool.acquire() as conn, conn.transaction():
            account = await repo.get_account(conn, order.account_id, lock=True)
            assert account is not None
            if execution is not None:
                order.book, order.routing_reason = execution.book, execution.routing_reason
            if execution is None:
                order.reject("EXECUTION_UNAVAILABLE", "the order could not be executed now")
            elif execution.status == "REJECTED" or not execution.fills:
                order.reject(
                    execution.reject_reason or "EXECUTION_REJECTED",
                    execution.reject_message or "the execution venue rejected the order",
                )
            else:
                for fill in execution.fills:
                    if await repo.fill_applied(conn, fill.venue, fill.fill_id):
                        log.warning("duplicate_fill_ignored", fill_id=fill.fill_id)
                        continue
                    order.record_fill(fill.volume, fill.price)
                    fee = domain.commission(fill.volume, spec, account.currency, prices)
                    position = await repo.insert_position(
                        conn, order, fill.volume, fill.price, -fee, fill.fill_time
                    )
                    deal_id = await repo.insert_deal(
                        conn,
                        order,
                        position.position_id,
                        "IN",
                        fill.volume,
                        fill.price,
                        -fee,
                        fill.venue,
                        fill.book,
                        fill.fill_id,
                        fill.fill_time,
                    )
                    if fee:
                        await repo.post_ledger(
                            conn,
                            order.account_id,
                            "COMMISSION",
                            -fee,
                            account.currency,
                            reference=f"order {order.order_id} deal {deal_id}",
                            deal_id=deal_id,
                        )
                    positions.append(position)
                    fills.append(
                        repo.FillRow(
                            fill.fill_id,
                            fill.price,
                            fill.volume,
                            fill.book,
                            fill.venue,
                            fill.fill_time,
                        )
                    )
                if order.status is OrderStatus.PARTIALLY_FILLED:
                    # Market orders are immediate-or-cancel: the unfilled rest is cancelled.
                    order.apply(OrderTrigger.CANCEL, "REMAINDER_CANCELLED")
                    order.reject_reason = "REMAINDER_CANCELLED"
                    order.reject_message = (
                        f"filled {order.filled_volume} of {order.volume}; the rest was cancelled"
                    )
                elif order.status is OrderStatus.FILLING:  # every fill was a duplicate
                    order.reject("EXECUTION_REJECTED", "no new fills")
            await repo.save_order(conn, order)
            if order.status is OrderStatus.REJECTED:
                await outbox.enqueue(
                    conn, "order_rejected", order.account_id, {"order": order_json(order)}
                )
            else:
                await outbox.enqueue(
                    conn,
                    "order_filled",
                    order.account_id,
                    {
                        "order": order_json(order),
                        "fills": [fill_json(f) for f in fills],
                        "positions": [position_json(p) for p in positions],
                    },
                )
                for p in positions:
                    await outbox.enqueue(
                        conn, "position_update", order.account_id, position_json(p)
                    )
                balance = await conn.fetchval(
                    "SELECT balance FROM oms.accounts WHERE account_id = $1", order.account_id
                )
                await outbox.enqueue(
                    conn,
                    "account_update",
                    order.account_id,
                    {
                        "accountId": str(order.account_id),
                        "currency": account.currency,
                        "balance": format(balance, "f"),
                        "reason": "ORDER_FILLED",
                    },
                )
        symbols = await self.symbols()
        views = self._mark(account.currency, positions, symbols, prices)
        return PlaceResult(order, fills, views, replayed=False)

    async def _replay(
        self,
        conn: Any,
        order: Order,
        currency: str,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
    ) -> PlaceResult:
        assert order.order_id is not None
        fills = await repo.fills_of_order(conn, order.order_id)
        positions = await repo.positions_of_order(conn, order.order_id)
        return PlaceResult(
            order, fills, self._mark(currency, positions, symbols, prices), replayed=True
        )

    # --- figures ---------------------------------------------------------------------------------

    @staticmethod
    def _mark(
        currency: str,
        positions: Iterable[repo.PositionRow],
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
    ) -> list[PositionView]:
        views = []
        for p in positions:
            price, spec = prices.get(p.symbol), symbols.get(p.symbol)
            if price is None or spec is None:
                views.append(PositionView(p, None, None))
                continue
            close = domain.closing_price(p.side, price)
            try:
                pnl: Decimal | None = domain.profit(
                    p.side, p.volume, p.open_price, close, spec, currency, prices
                )
            except NoConversionRate:
                pnl = None
            views.append(PositionView(p, close, pnl))
        return views

    def _figures(
        self,
        account: repo.Account,
        positions: list[repo.PositionRow],
        in_flight: list[Order],
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
    ) -> tuple[AccountFigures, list[PositionView]]:
        """Account figures; positions without a usable quote count at zero profit."""
        views = self._mark(account.currency, positions, symbols, prices)
        unrealized = sum((v.profit or ZERO for v in views), ZERO)
        used = ZERO
        for p in positions:
            used += self._margin_or_zero(account, p.symbol, p.volume, p.open_price, symbols, prices)
        for o in in_flight:  # orders being executed reserve margin at the current price
            price = prices.get(o.symbol)
            if price is not None:
                used += self._margin_or_zero(
                    account,
                    o.symbol,
                    o.volume - o.filled_volume,
                    domain.opening_price(o.side, price),
                    symbols,
                    prices,
                )
        return domain.account_figures(account.balance, unrealized, used, account.currency), views

    @staticmethod
    def _margin_or_zero(
        account: repo.Account,
        symbol: str,
        volume: Decimal,
        price: Decimal,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
    ) -> Decimal:
        spec = symbols.get(symbol)
        if spec is None or volume <= 0:
            return ZERO
        try:
            return domain.margin(volume, price, account.leverage, spec, account.currency, prices)
        except NoConversionRate:
            return ZERO

    # --- reads -----------------------------------------------------------------------------------

    async def _account(self, conn: Any, account_id: AccountId) -> repo.Account:
        account = await repo.get_account(conn, account_id)
        if account is None:
            raise NotFound(
                f"account {account_id} not found",
                reason="ACCOUNT_NOT_FOUND",
                metadata={"account_id": str(account_id)},
            )
        return account

    async def get_order(self, account_id: AccountId, order_id: OrderId) -> Order:
        async with self._pool.acquire() as conn:
            order = await repo.get_order(conn, account_id, order_id)
        if order is None:
            raise NotFound(
                f"order {order_id} not found",
                reason="ORDER_NOT_FOUND",
                metadata={"order_id": str(order_id)},
            )
        return order

    async def account_summary(self, account_id: AccountId) -> AccountSummary:
        symbols = await self.symbols()
        prices = await self._prices()
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            account = await self._account(conn, account_id)
            positions = await repo.open_positions(conn, account_id)
            in_flight = await repo.in_flight_orders(conn, account_id)
        figures, _ = self._figures(account, positions, in_flight, symbols, prices)
        return AccountSummary(account, figures)

    async def list_positions(self, account_id: AccountId) -> list[PositionView]:
        symbols = await self.symbols()
        prices = await self._prices()
        async with self._pool.acquire() as conn:
            account = await self._account(conn, account_id)
            positions = await repo.open_positions(conn, account_id)
        return self._mark(account.currency, positions, symbols, prices)

    async def list_accounts(self, page_size: int) -> list[repo.Account]:
        limit = 100 if page_size <= 0 else min(page_size, 1000)
        async with self._pool.acquire() as conn:
            return await repo.list_accounts(conn, limit)

    # --- authentication --------------------------------------------------------------------------

    async def authenticate(self, login: str, password: str) -> tuple[AccountId, str]:
        """Check a client's credentials (argon2); the same work is done for unknown logins."""
        async with self._pool.acquire() as conn:
            found = await repo.find_credentials(conn, login.strip())
        ok = await passwords.verify_password(found[2] if found else None, password)
        if found is None or not ok:
            raise Unauthenticated("invalid login or password", reason="INVALID_CREDENTIALS")
        account_id, account_login, _, status = found
        if status == "CLOSED":
            raise PermissionDenied("the account is closed", reason="ACCOUNT_CLOSED")
        return account_id, account_login
