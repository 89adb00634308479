"""The oms service facade: orders (``oms.trading``), positions (``oms.positions``), account reads,
authentication, and the trigger watcher's actions (``oms.actions.TradingActions``)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from fxmesh import passwords
from fxmesh.errors import PermissionDenied, Unauthenticated
from oms import order_store, position_store
from oms import repository as repo
from oms.actions import TradingListener, TriggerState
from oms.convert import PlaceOrderCommand, PositionView
from oms.core import Clock, Core, Router, account_not_found, live_figures, mark_views, read_prices
from oms.core import utc_now as utc_now
from oms.domain import (
    Account,
    AccountFigures,
    AccountId,
    CloseReason,
    Order,
    OrderId,
    PositionId,
    Price,
    SymbolSpec,
)
from oms.execution import Executor
from oms.liquidation import Liquidation
from oms.positions import CloseByResult, CloseResult, PositionDesk
from oms.trading import PlaceResult, Trading
from oms.trading_convert import (
    CloseAllCommand,
    CloseByCommand,
    ClosePositionCommand,
    ListOrdersQuery,
    ModifyOrderCommand,
    ModifyPositionCommand,
)

__all__ = ["AccountSummary", "OmsService", "PlaceResult", "read_prices"]


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: Account
    figures: AccountFigures


class OmsService:
    """Every trading use case of the account of record."""

    def __init__(
        self,
        pool: Any,
        redis: Any,
        router: Router,
        *,
        now: Clock = utc_now,
        symbols_cache_seconds: float = 2.0,
    ) -> None:
        self.core = Core(pool, redis, router, now=now, symbols_cache_seconds=symbols_cache_seconds)
        self.executor = Executor(self.core)
        self.trading = Trading(self.core, self.executor)
        self.positions = PositionDesk(self.core, self.executor)
        self.liquidation = Liquidation(self.core, self.positions)

    @property
    def now(self) -> Clock:
        return self.core.now

    async def symbols(self) -> dict[str, SymbolSpec]:
        return await self.core.symbols()

    # --- orders ----------------------------------------------------------------------------------

    async def place_order(self, cmd: PlaceOrderCommand) -> PlaceResult:
        return await self.trading.place_order(cmd)

    async def modify_order(self, cmd: ModifyOrderCommand) -> Order:
        return await self.trading.modify_order(cmd)

    async def cancel_order(self, account_id: AccountId, order_id: OrderId) -> Order:
        return await self.trading.cancel_order(account_id, order_id)

    async def get_order(self, account_id: AccountId, order_id: OrderId) -> Order:
        return await self.trading.get_order(account_id, order_id)

    async def list_orders(self, query: ListOrdersQuery) -> tuple[list[Order], str]:
        return await self.trading.list_orders(query)

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

    async def _account(self, conn: Any, account_id: AccountId) -> Account:
        account = await repo.get_account(conn, account_id)
        if account is None:
            raise account_not_found(account_id)
        return account

    async def account_summary(self, account_id: AccountId) -> AccountSummary:
        """Live figures; hedged positions hold the margin of their larger leg per symbol."""
        symbols, prices = await self.core.market()
        async with self.core.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            account = await self._account(conn, account_id)
            positions = await position_store.open_positions(conn, account_id)
            in_flight = await order_store.in_flight(conn, account_id)
        return AccountSummary(account, live_figures(account, positions, in_flight, symbols, prices))

    async def list_positions(self, account_id: AccountId) -> list[PositionView]:
        symbols, prices = await self.core.market()
        async with self.core.pool.acquire() as conn:
            account = await self._account(conn, account_id)
            positions = await position_store.open_positions(conn, account_id)
        return mark_views(account, positions, symbols, prices)

    async def list_accounts(self, page_size: int) -> list[Account]:
        limit = 100 if page_size <= 0 else min(page_size, 1000)
        async with self.core.pool.acquire() as conn:
            return await repo.list_accounts(conn, limit)

    async def authenticate(self, login: str, password: str) -> tuple[AccountId, str]:
        """Check a client's credentials (argon2); the same work is done for unknown logins."""
        async with self.core.pool.acquire() as conn:
            found = await repo.find_credentials(conn, login.strip())
        ok = await passwords.verify_password(found[2] if found else None, password)
        if found is None or not ok:
            raise Unauthenticated("invalid login or password", reason="INVALID_CREDENTIALS")
        account_id, account_login, _, status = found
        if status == "CLOSED":
            raise PermissionDenied("the account is closed", reason="ACCOUNT_CLOSED")
        return account_id, account_login

    # --- actions for the trigger watcher (oms.actions.TradingActions) ----------------------------

    async def trigger_order(self, order_id: OrderId, quote: Price) -> Order | None:
        return await self.trading.trigger_order(order_id, quote)

    async def activate_stop_limit(self, order_id: OrderId, quote: Price) -> Order | None:
        return await self.trading.activate_stop_limit(order_id, quote)

    async def expire_order(self, order_id: OrderId) -> Order | None:
        return await self.trading.expire_order(order_id)

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

    async def load_trigger_state(self) -> TriggerState:
        async with self.core.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            orders = await order_store.working(conn)
            positions = await position_store.all_open(conn)
            ids = sorted({o.account_id for o in orders} | {p.account_id for p in positions})
            accounts = await repo.accounts_by_id(conn, ids)
        return TriggerState(orders, positions, {a.account_id: a for a in accounts})

    def add_listener(self, listener: TradingListener) -> None:
        self.core.listeners.append(listener)
