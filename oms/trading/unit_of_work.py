"""What every oms use case shares: the pool, quotes, the router, the clock, cached symbols, and the
account-locked unit of work in which every change of money, orders and positions commits.

``UnitOfWork.locked(account_id)`` opens a transaction holding the account's row lock (so one
account's changes never interleave) and yields a ``Tx``. Everything a use case writes goes through
the Tx in that one transaction: orders with their transitions, positions, deals, ledger rows, and
the outbox events describing them. After the commit, in-process listeners (the trigger watcher) hear
about the orders, positions and accounts that changed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog
from opentelemetry import context as otel_context
from redis.asyncio import Redis

from fxmesh import events
from fxmesh.db import Conn, Pool
from fxmesh.errors import NotFound
from fxmesh.eventtypes import EventData, EventType
from fxmesh.money import to_money
from fxmesh.quotecache import ClientQuote, quote_key
from oms.domain import accounting
from oms.domain.events import account_json, order_json, position_json
from oms.domain.model import (
    Account,
    AccountFigures,
    AccountId,
    NoConversionRate,
    Order,
    Price,
    SymbolSpec,
    closing_price,
    margin,
    profit,
)
from oms.domain.records import PositionRow
from oms.domain.results import CloseVenue, Execution, PositionView
from oms.domain.settings import RiskTable, level_account, levels_key
from oms.store import accounts as account_store
from oms.store import orders as order_store
from oms.store import outbox
from oms.store import positions as position_store
from oms.store import settings as settings_store

log = structlog.stdlib.get_logger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Router(Protocol):
    """The router as oms uses it (``oms.api.router_client.RouterClient``, or a test double).

    Both calls raise ``ExecutionUnavailable`` when the answer is unknown.
    """

    def execute(
        self,
        order: Order,
        client_group: str,
        max_price_deviation: Any,
        contract_size: Any,
        quote_to_usd_rate: Any,
        limit_price: Any = None,
        closing: CloseVenue | None = None,
    ) -> Awaitable[Execution]: ...

    def reconcile(self, order: Order) -> Awaitable[Execution]: ...


class ExecutionUnavailable(Exception):
    """The router could not be reached, did not answer in time, or gave an unusable answer.

    The order may or may not have been executed: only ``reconcile`` can tell.
    """


class TradingListener(Protocol):
    """Hears, after each commit, what changed; must return quickly and never raise."""

    def order_changed(self, order: Order) -> None: ...

    def position_changed(self, position: PositionRow) -> None: ...

    def account_changed(self, account: Account, open_positions: Sequence[PositionRow]) -> None: ...


async def read_prices(
    redis: Redis, symbols: Iterable[str], parsed: dict[Any, Price | None] | None = None
) -> dict[str, Price]:
    """Current client quotes (``fxmesh.quotecache`` documents) of ``symbols`` in one round trip.

    ``parsed``: prices by raw document, kept by the caller between reads. A document changes when
    its price does and at least once a second (its time), while a market order reads every symbol
    twice: most reads find their document parsed already."""
    names = list(symbols)
    if not names:
        return {}
    raws = await redis.mget([quote_key(s) for s in names])
    if parsed is None:
        parsed = {}
    elif len(parsed) > PARSED_QUOTES_KEPT:
        parsed.clear()
    prices: dict[str, Price] = {}
    for name, raw in zip(names, raws, strict=True):
        if raw is None:
            continue
        try:
            price = parsed[raw]
        except KeyError:
            quote = ClientQuote.from_json(raw)
            price = parsed[raw] = (
                Price(quote.bid, quote.ask) if quote.bid > 0 and quote.ask >= quote.bid else None
            )
        if price is not None:
            prices[name] = price
    return prices


PARSED_QUOTES_KEPT = 4096


def mark_views(
    account: Account,
    positions: Iterable[PositionRow],
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
) -> list[PositionView]:
    """Positions with their current closing price, P&L and own margin (None without a quote)."""
    views = []
    for p in positions:
        price, spec = prices.get(p.symbol), symbols.get(p.symbol)
        if price is None or spec is None or not p.is_open:
            views.append(PositionView(p, None, None))
            continue
        close = closing_price(p.side, price)
        try:
            pnl = profit(p.side, p.volume, p.open_price, close, spec, account.currency, prices)
            used = to_money(
                margin(p.volume, p.open_price, account.leverage, spec, account.currency, prices),
                account.currency,
            )
        except NoConversionRate:
            views.append(PositionView(p, close, None))
            continue
        views.append(PositionView(p, close, pnl, used))
    return views


def live_figures(
    account: Account,
    positions: Iterable[PositionRow],
    in_flight: Iterable[Order],
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
) -> AccountFigures:
    """Account figures for display and events: unpriceable positions count zero (hedged margin)."""
    opening = [o for o in in_flight if o.position_id is None]
    return accounting.live_figures(
        account.balance,
        account.currency,
        account.leverage,
        [p.as_open() for p in positions],
        accounting.order_legs(opening, prices, strict=False),
        symbols,
        prices,
        strict=False,
        held=account.held,
    )


def account_not_found(account_id: AccountId) -> NotFound:
    return NotFound(
        f"account {account_id} not found",
        reason="ACCOUNT_NOT_FOUND",
        metadata={"account_id": str(account_id)},
    )


@dataclass
class Tx:
    """One account-locked transaction; records what changed for the listeners."""

    conn: Conn
    account: Account
    orders: dict[int, Order] = field(default_factory=dict)
    positions: dict[int, PositionRow] = field(default_factory=dict)
    account_touched: bool = False
    open_positions: list[PositionRow] = field(default_factory=list)  # read by account_update
    # Written in one statement just before the commit (``UnitOfWork.locked``), not one per event.
    events: list[outbox.OutboxEvent] = field(default_factory=list)
    # The trace headers of the OpenTelemetry context the last event was raised in: a fill raises
    # five events in one context, and injecting it is most of what raising an event costs.
    _trace: tuple[otel_context.Context, dict[str, str]] | None = field(default=None, repr=False)

    async def insert_order(self, order: Order) -> bool:
        """Insert a new order (False: its client order id exists) and emit ``order_update``."""
        if not await order_store.insert(self.conn, order):
            return False
        self._order_event(order)
        return True

    async def save_order(self, order: Order) -> None:
        """Persist the order's changes and transitions and emit ``order_update``."""
        await order_store.save(self.conn, order)
        self._order_event(order)

    def _order_event(self, order: Order) -> None:
        self.emit(EventType.ORDER_UPDATE, order_json(order))
        assert order.order_id is not None
        self.orders[order.order_id] = order

    def position_changed(self, position: PositionRow, view: PositionView | None = None) -> None:
        self.emit(EventType.POSITION_UPDATE, position_json(position, view))
        self.positions[position.position_id] = position

    def balance_booked(self, balance_after: Decimal) -> None:
        """A ledger row of this transaction moved the locked account's balance to
        ``balance_after`` (``oms.store.ledger.post_ledger``'s answer): ``account`` follows it."""
        self.account = replace(self.account, balance=balance_after)

    async def account_update(
        self,
        reason: str,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
        *,
        reread: bool = True,
    ) -> AccountFigures:
        """Emit ``account_update`` with the balance and live figures as of this transaction.

        ``reread=False``: ``account`` is already the row as this transaction left it (it changed
        only by ledger rows reported through ``balance_booked``), so it is not read again."""
        if reread:
            account = await account_store.get_account(self.conn, self.account.account_id)
            assert account is not None
            self.account = account
        account = self.account
        positions, in_flight = await position_store.open_book(self.conn, account.account_id)
        self.open_positions = positions
        fig = live_figures(account, positions, in_flight, symbols, prices)
        self.emit(EventType.ACCOUNT_UPDATE, account_json(account, fig, reason))
        self.account_touched = True
        return fig

    def emit(self, event_type: EventType, data: EventData) -> None:
        """Raise an event; it is written to the outbox with this transaction."""
        current = otel_context.get_current()
        if self._trace is None or self._trace[0] is not current:
            self._trace = (current, events.trace_headers())
        self.events.append(
            outbox.new_event(event_type, self.account.account_id, data, self._trace[1])
        )


class UnitOfWork:
    """Shared dependencies of the trading use cases."""

    def __init__(
        self,
        pool: Pool,
        redis: Redis,
        router: Router,
        *,
        now: Clock = utc_now,
        symbols_cache_seconds: float = 2.0,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.router = router
        self.now = now
        self.listeners: list[TradingListener] = []
        self._symbols_ttl = symbols_cache_seconds
        self._symbols: dict[str, SymbolSpec] = {}
        self._symbols_at = float("-inf")
        self._parsed_quotes: dict[Any, Price | None] = {}
        # Risk settings of new orders, kept in memory (no query per order) and replaced whole by
        # ``oms.trading.settings_sync`` on each ``oms_settings`` NOTIFY.
        self.risk = RiskTable()
        # Told (synchronously, on the event loop) when a reload changed a margin-call or stop-out
        # level: the trigger watcher re-arms its accounts at the new levels.
        self.levels_listeners: list[Callable[[], None]] = []

    def levels(self, account: Account) -> Account:
        """``account`` with the margin-call and stop-out levels it is watched and stopped out at:
        the stricter of its own and its group's risk settings (``oms.domain.settings``)."""
        return level_account(account, self.risk.effective(account.client_group))

    def forget_symbols(self) -> None:
        """Drop the cached symbols: the next read loads them (a symbol changed)."""
        self._symbols_at = float("-inf")

    async def reload_risk(self) -> RiskTable:
        async with self.pool.acquire() as conn:
            table = await settings_store.load_risk(conn)
        changed = levels_key(table) != levels_key(self.risk)
        self.risk = table
        if changed:
            for listener in self.levels_listeners:
                try:
                    listener()
                except Exception:
                    log.exception("levels_listener_failed")
        return self.risk

    async def symbols(self) -> dict[str, SymbolSpec]:
        if time.monotonic() - self._symbols_at > self._symbols_ttl:
            async with self.pool.acquire() as conn:
                self._symbols = await account_store.load_symbols(conn)
            self._symbols_at = time.monotonic()
        return self._symbols

    async def market(
        self, quote: tuple[str, Price] | None = None
    ) -> tuple[dict[str, SymbolSpec], dict[str, Price]]:
        """Symbols and current quotes; ``quote`` (a watcher's tick) overrides its symbol's."""
        symbols = await self.symbols()
        prices = await read_prices(self.redis, symbols.keys(), self._parsed_quotes)
        if quote is not None:
            prices[quote[0]] = quote[1]
        return symbols, prices

    @asynccontextmanager
    async def locked(self, account_id: AccountId) -> AsyncIterator[Tx]:
        """A transaction holding the account's row lock; listeners hear the changes on commit."""
        async with self.pool.acquire() as conn, conn.transaction():
            account = await account_store.get_account(conn, account_id, lock=True)
            if account is None:
                raise account_not_found(account_id)
            tx = Tx(conn, account)
            yield tx
            await outbox.write(conn, tx.events)
        self._notify(tx)

    def _notify(self, tx: Tx) -> None:
        for listener in self.listeners:
            try:
                for order in tx.orders.values():
                    listener.order_changed(order)
                for position in tx.positions.values():
                    listener.position_changed(position)
                if tx.account_touched:
                    listener.account_changed(tx.account, tx.open_positions)
            except Exception:
                log.exception("trading_listener_failed")
