"""``OmsService``: the one entry point to oms's use cases, for the gRPC servicer and the trigger
watcher alike.

It builds the account-locked unit of work (``oms.trading.unit_of_work``) and the use cases on it:
orders (``OrderDesk``), positions (``PositionDesk``), stop-out and margin calls (``Liquidation``),
accounts and their money (``AccountBook``) and the lot / margin calculator; it answers the account
reads and authentication itself. Every RPC of ``fxmesh.v1.OmsService`` is one method here.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from decimal import Decimal

from redis.asyncio import Redis

from fxmesh import passwords
from fxmesh.db import Conn, Pool
from fxmesh.errors import NotFound, PermissionDenied, Unauthenticated
from fxmesh.money import to_money
from fxmesh.reasons import Reason
from oms.domain.commands import (
    AccountChanges,
    AccountSearch,
    BalanceOperation,
    CloseAllCommand,
    CloseByCommand,
    ClosePositionCommand,
    HoldRequest,
    ListOrdersQuery,
    LotQuery,
    MarginQuery,
    ModifyOrderCommand,
    ModifyPositionCommand,
    NewAccount,
    PageRequest,
    PlaceOrderCommand,
)
from oms.domain.model import (
    Account,
    AccountId,
    CloseReason,
    NoConversionRate,
    Order,
    OrderId,
    PositionId,
    Price,
    SymbolSpec,
    conversion_rate,
)
from oms.domain.records import DealRow, LedgerRow, PositionRow
from oms.domain.results import (
    AccountSummary,
    BalanceResult,
    BookActivity,
    BookSplit,
    CloseByResult,
    CloseResult,
    HoldResult,
    LotResult,
    MarginPreview,
    MarginWatch,
    Page,
    PlaceResult,
    PositionView,
    Statement,
    StoredTriggers,
    SymbolView,
    TraderResult,
    TradingSummary,
    VenueSplit,
)
from oms.domain.rules import session_open
from oms.domain.settings import RiskSettings, SymbolChange, SymbolSettings, check_symbol_name
from oms.store import accounts as account_store
from oms.store import orders as order_store
from oms.store import positions as position_store
from oms.store import settings as settings_store
from oms.trading.accounts import AccountBook
from oms.trading.calculator import LotMarginCalculator
from oms.trading.execution import Executor
from oms.trading.liquidation import Liquidation
from oms.trading.marks import AccountMark, AccountMarks
from oms.trading.orders import OrderDesk
from oms.trading.positions import PositionDesk
from oms.trading.unit_of_work import (
    Clock,
    Router,
    TradingListener,
    UnitOfWork,
    account_not_found,
    live_figures,
    mark_views,
    utc_now,
)

__all__ = ["OmsService"]


class OmsService:
    """Every use case of the account of record; the servicer and the watcher call only this."""

    def __init__(
        self,
        pool: Pool,
        redis: Redis,
        router: Router,
        *,
        now: Clock = utc_now,
        symbols_cache_seconds: float = 2.0,
        marks_interval_seconds: float = 0.25,
        marks_max_accounts: int = 10_000,
        group_commit_max: int = 32,
        group_committers: int = 2,
    ) -> None:
        self.uow = UnitOfWork(
            pool,
            redis,
            router,
            now=now,
            symbols_cache_seconds=symbols_cache_seconds,
            group_commit_max=group_commit_max,
            group_committers=group_committers,
        )
        self.executor = Executor(self.uow)
        self.orders = OrderDesk(self.uow, self.executor)
        self.positions = PositionDesk(self.uow, self.executor)
        self.liquidation = Liquidation(self.uow, self.positions)
        self.accounts = AccountBook(self.uow)
        self.calculator = LotMarginCalculator(self.uow)
        self.marks = AccountMarks(
            self.uow, interval_seconds=marks_interval_seconds, max_accounts=marks_max_accounts
        )
        self.add_listener(self.marks)

    @property
    def now(self) -> Clock:
        """The service's clock (statements default their end to it)."""
        return self.uow.now

    async def symbols(self) -> dict[str, SymbolSpec]:
        return await self.uow.symbols()

    async def list_symbols(self, symbol: str = "") -> list[SymbolView]:
        """Every symbol (by name), or the one named (NOT_FOUND ``UNKNOWN_SYMBOL`` if none), with
        whether its trading session is open now."""
        symbols = await self.uow.symbols()
        if symbol:
            spec = symbols.get(symbol)
            if spec is None:
                raise NotFound(
                    f"no symbol {symbol}", reason=Reason.UNKNOWN_SYMBOL, metadata={"symbol": symbol}
                )
            specs = [spec]
        else:
            specs = sorted(symbols.values(), key=lambda s: s.symbol)
        now = self.now()
        return [SymbolView(s, session_open(s.sessions, now)) for s in specs]

    # --- symbol and risk settings (oms owns a symbol: oms.store.settings) -------------------------

    async def symbol_settings(self, symbol: str = "") -> list[SymbolSettings]:
        """Every symbol's settings across oms, quotes and router, or the one named."""
        async with self.uow.pool.acquire() as conn:
            return await settings_store.list_symbol_settings(conn, symbol)

    async def upsert_symbol(
        self, change: SymbolChange, *, create: bool
    ) -> tuple[SymbolSettings | None, SymbolSettings]:
        """Create or change a symbol in oms, quotes and router at once; (before, after)."""
        check_symbol_name(change.symbol)
        result = await settings_store.upsert_symbol(self.uow.pool, change, create=create)
        self.uow.forget_symbols()  # this process: at once; the others on the NOTIFY
        return result

    async def set_symbol_enabled(
        self, symbol: str, enabled: bool
    ) -> tuple[SymbolSettings, SymbolSettings]:
        result = await settings_store.set_symbol_enabled(self.uow.pool, symbol, enabled)
        self.uow.forget_symbols()
        return result

    async def risk_settings(self, client_group: str | None = None) -> list[RiskSettings]:
        """Every stored row (global first), or the effective limits of one group."""
        table = await self.uow.reload_risk()
        if client_group is None:
            return table.rows()
        return [table.effective(client_group)]

    async def update_risk_settings(
        self, row: RiskSettings
    ) -> tuple[RiskSettings | None, RiskSettings]:
        """Replace the global row or a group's; applied to this process's next order at once."""
        result = await settings_store.put_risk(self.uow.pool, row)
        await self.uow.reload_risk()
        return result

    # --- orders ----------------------------------------------------------------------------------

    async def place_order(self, cmd: PlaceOrderCommand) -> PlaceResult:
        return await self.orders.place_order(cmd)

    async def modify_order(self, cmd: ModifyOrderCommand) -> Order:
        return await self.orders.modify_order(cmd)

    async def cancel_order(self, account_id: AccountId, order_id: OrderId) -> Order:
        return await self.orders.cancel_order(account_id, order_id)

    async def get_order(self, account_id: AccountId, order_id: OrderId) -> Order:
        return await self.orders.get_order(account_id, order_id)

    async def list_orders(self, query: ListOrdersQuery) -> tuple[list[Order], str]:
        return await self.orders.list_orders(query)

    # --- positions -------------------------------------------------------------------------------

    async def close_position(self, cmd: ClosePositionCommand) -> CloseResult:
        return await self.positions.close_position(cmd)

    async def close_all_positions(self, cmd: CloseAllCommand) -> list[CloseResult]:
        return await self.positions.close_all(cmd)

    async def close_by(self, cmd: CloseByCommand) -> CloseByResult:
        return await self.positions.close_by(cmd)

    async def modify_position(self, cmd: ModifyPositionCommand) -> PositionView:
        return await self.positions.modify_position(cmd)

    # --- account reads ---------------------------------------------------------------------------

    async def _account(self, conn: Conn, account_id: AccountId) -> Account:
        account = await account_store.get_account(conn, account_id)
        if account is None:
            raise account_not_found(account_id)
        return account

    async def account_summary(self, account_id: AccountId) -> AccountSummary:
        """Live figures; hedged positions hold the margin of their larger leg per symbol."""
        symbols, prices = await self.uow.market()
        async with self.uow.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            account = await self._account(conn, account_id)
            positions = await position_store.open_positions(conn, account_id)
            in_flight = await order_store.in_flight(conn, account_id)
        return AccountSummary(account, live_figures(account, positions, in_flight, symbols, prices))

    async def list_positions(self, account_id: AccountId) -> list[PositionView]:
        symbols, prices = await self.uow.market()
        async with self.uow.pool.acquire() as conn:
            account = await self._account(conn, account_id)
            positions = await position_store.open_positions(conn, account_id)
        return mark_views(account, positions, symbols, prices)

    def watch_account(self, account_id: AccountId) -> AsyncGenerator[AccountMark, None]:
        """The account marked to market now, then whenever a figure or a mark changes."""
        return self.marks.watch(account_id)

    def start_of_day(self) -> datetime:
        """00:00 UTC of the current day on oms's clock."""
        return self.now().astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

    async def trading_summary(self, since: datetime | None = None) -> TradingSummary:
        """Orders, deals, lots and active accounts since ``since`` (default: the start of the UTC
        day on oms's clock), with the open positions and working orders now; one snapshot."""
        if since is None:
            since = self.start_of_day()
        async with self.uow.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            placed, filled, rejected, working = await order_store.activity_since(conn, since)
            deals, lots, accounts, open_positions = await position_store.activity_since(conn, since)
            books = await position_store.books_since(conn, since)
        return TradingSummary(
            since,
            placed,
            filled,
            rejected,
            deals,
            lots,
            accounts,
            open_positions,
            working,
            tuple(BookActivity(*b) for b in books),
        )

    async def top_traders(
        self, since: datetime, limit: int
    ) -> tuple[list[TraderResult], list[TraderResult]]:
        """The ``limit`` best and worst net results since ``since``, ranked in USD at the current
        quotes (an account whose currency no quote converts is left out of the ranking)."""
        _, prices = await self.uow.market()
        async with self.uow.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            results = await position_store.results_since(conn, since)
            accounts = await account_store.accounts_by_id(conn, [r[0] for r in results])
        by_id = {a.account_id: a for a in accounts}
        ranked: list[TraderResult] = []
        for account_id, net, deals, lots in results:
            account = by_id[AccountId(account_id)]
            try:
                rate: Decimal | None = conversion_rate(account.currency, "USD", prices)
            except NoConversionRate:
                rate = None
            net_usd = to_money(net * rate, "USD") if rate is not None else None
            ranked.append(TraderResult(account, net, net_usd, deals, lots))
        priced = sorted(
            (r for r in ranked if r.net_usd is not None),
            key=lambda r: (r.net_usd, -r.account.account_id),
        )
        winners = [r for r in reversed(priced) if r.net > 0][:limit]
        losers = [r for r in priced if r.net < 0][:limit]
        return winners, losers

    async def book_split(self, start: datetime, end: datetime) -> list[BookSplit]:
        """The A/B/C split of the deals in [start, end): per order book, its volume, share of
        the volume and client P&L, and each venue's part."""
        async with self.uow.pool.acquire() as conn:
            rows = await position_store.book_split(conn, start, end)
        total = sum((r[4] for r in rows), Decimal(0))
        splits = []
        for book in ("A", "B", "C"):
            mine = [r for r in rows if r[0] == book]
            if not mine:
                continue
            volume = sum((r[4] for r in mine), Decimal(0))
            splits.append(
                BookSplit(
                    book=book,
                    deals=sum(r[3] for r in mine),
                    volume=volume,
                    volume_percent=(volume * 100 / total).quantize(Decimal("0.01")),
                    realized_pnl=sum((r[5] for r in mine), Decimal(0)),
                    commission=sum((r[6] for r in mine), Decimal(0)),
                    swap=sum((r[7] for r in mine), Decimal(0)),
                    venues=tuple(
                        VenueSplit(r[1], r[2], r[3], r[4], r[5] + r[6] + r[7]) for r in mine
                    ),
                )
            )
        return splits

    async def margin_watch(self, within: Decimal) -> list[MarginWatch]:
        """Accounts with open positions whose margin level is at most ``within`` percentage
        points above their effective margin-call level (``UnitOfWork.levels``; the account is
        answered with its effective levels), lowest level first (figures as GetAccountSummary
        makes them, at the current quotes)."""
        symbols, prices = await self.uow.market()
        async with self.uow.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            positions = await position_store.all_open(conn)
            by_account: dict[AccountId, list[PositionRow]] = {}
            for p in positions:
                by_account.setdefault(p.account_id, []).append(p)
            accounts = await account_store.accounts_by_id(conn, list(by_account))
        watched = []
        for stored in accounts:
            account = self.uow.levels(stored)  # the levels the watcher acts at
            held = by_account[account.account_id]
            fig = live_figures(account, held, [], symbols, prices)
            if (
                fig.margin_level is not None
                and fig.margin_level <= account.margin_call_level + within
            ):
                watched.append(MarginWatch(account, fig, len(held)))
        watched.sort(key=lambda w: (w.figures.margin_level, w.account.account_id))
        return watched

    async def list_accounts(
        self, page_size: int, search: AccountSearch | None = None
    ) -> tuple[list[Account], int | None]:
        """A page of accounts by id (at most 1000; 100 by default) matching ``search``, and the
        last id of a full page (where the next page starts; None on a short page)."""
        limit = 100 if page_size <= 0 else min(page_size, 1000)
        async with self.uow.pool.acquire() as conn:
            accounts = await account_store.list_accounts(conn, limit, search)
        return accounts, accounts[-1].account_id if len(accounts) == limit else None

    async def authenticate(self, login: str, password: str) -> tuple[AccountId, str]:
        """Check a client's credentials (argon2); the same work is done for unknown logins."""
        async with self.uow.pool.acquire() as conn:
            found = await account_store.find_credentials(conn, login.strip())
        ok = await passwords.verify_password(found[2] if found else None, password)
        if found is None or not ok:
            raise Unauthenticated("invalid login or password", reason="INVALID_CREDENTIALS")
        account_id, account_login, _, status = found
        if status == "CLOSED":
            raise PermissionDenied("the account is closed", reason=Reason.ACCOUNT_CLOSED)
        return account_id, account_login

    # --- money: balance operations, accounts, listings, statements (AccountBook) ------------------

    async def post_balance_operation(self, op: BalanceOperation) -> BalanceResult:
        return await self.accounts.post_balance_operation(op)

    async def place_hold(self, req: HoldRequest) -> HoldResult:
        """Hold funds for a withdrawal awaiting approval (off the free margin until it ends)."""
        return await self.accounts.place_hold(req)

    async def capture_hold(self, account_id: AccountId, hold_id: int) -> HoldResult:
        """Book a hold's WITHDRAWAL ledger row and end it."""
        return await self.accounts.capture_hold(account_id, hold_id)

    async def release_hold(self, account_id: AccountId, hold_id: int) -> HoldResult:
        """End a hold without booking anything."""
        return await self.accounts.release_hold(account_id, hold_id)

    async def create_account(self, cmd: NewAccount) -> Account:
        return await self.accounts.create_account(cmd)

    async def update_account(self, account_id: AccountId, changes: AccountChanges) -> Account:
        return await self.accounts.update_account(account_id, changes)

    async def list_ledger(self, account_id: AccountId, page: PageRequest) -> Page[LedgerRow]:
        return await self.accounts.list_ledger(account_id, page)

    async def list_deals(self, account_id: AccountId, page: PageRequest) -> Page[DealRow]:
        return await self.accounts.list_deals(account_id, page)

    async def statement(self, account_id: AccountId, start: datetime, end: datetime) -> Statement:
        return await self.accounts.statement(account_id, start, end)

    # --- risk tools (LotMarginCalculator) --------------------------------------------------------

    async def calculate_lot(self, query: LotQuery) -> LotResult:
        return await self.calculator.calculate_lot(query)

    async def preview_margin(self, query: MarginQuery) -> MarginPreview:
        return await self.calculator.preview_margin(query)

    # --- actions for the trigger watcher (through oms.triggers.bridge.WatcherBridge) ------------

    async def trigger_order(self, order_id: OrderId, quote: Price) -> Order | None:
        return await self.orders.trigger_order(order_id, quote)

    async def activate_stop_limit(self, order_id: OrderId, quote: Price) -> Order | None:
        return await self.orders.activate_stop_limit(order_id, quote)

    async def expire_order(self, order_id: OrderId) -> Order | None:
        return await self.orders.expire_order(order_id)

    async def close_for_protection(
        self, position_id: PositionId, reason: CloseReason, quote: Price
    ) -> Order | None:
        return await self.positions.close_for_protection(position_id, reason, quote)

    async def move_trailing_stop(self, position_id: PositionId, stop_loss: Decimal) -> bool:
        return await self.positions.move_trailing_stop(position_id, stop_loss)

    async def stop_out(self, account_id: AccountId) -> list[Order]:
        return await self.liquidation.stop_out(account_id)

    async def margin_call(self, account_id: AccountId) -> bool:
        return await self.liquidation.margin_call(account_id)

    async def load_stored_triggers(self) -> StoredTriggers:
        """Every working order and open position with their accounts, in one snapshot."""
        async with self.uow.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            orders = await order_store.working(conn)
            positions = await position_store.all_open(conn)
            ids = sorted({o.account_id for o in orders} | {p.account_id for p in positions})
            accounts = await account_store.accounts_by_id(conn, ids)
        return StoredTriggers(orders, positions, {a.account_id: a for a in accounts})

    def add_listener(self, listener: TradingListener) -> None:
        self.uow.listeners.append(listener)

    async def account_positions(
        self, account_id: AccountId
    ) -> tuple[Account, list[PositionRow]] | None:
        """An account with its open positions (None: unknown account)."""
        async with self.uow.pool.acquire() as conn:
            account = await account_store.get_account(conn, account_id)
            if account is None:
                return None
            return account, await position_store.open_positions(conn, account_id)
