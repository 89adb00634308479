"""The trading core as the trigger watcher needs it: the one seam between the two.

``WatcherBridge`` is the watcher's ``TriggerActions`` (each action calls the ``OmsService`` method
of the same name, which answers what it did; the watcher needs no answer) and its
``TriggerLoader`` (the books' contents from the account of record), and, once ``attach``ed, a
``TradingListener`` that keeps the watcher's books in step with every change the core commits
(orders, positions, accounts), whoever made it. ``oms.server.watcher_task`` wires it in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from oms.domain.model import (
    Account,
    AccountId,
    CloseReason,
    Order,
    OrderId,
    OrderStatus,
    PositionId,
    Price,
    SymbolSpec,
)
from oms.domain.records import PositionRow
from oms.domain.settings import level_risk
from oms.domain.stopout import AccountRisk, RiskPosition
from oms.trading.service import OmsService
from oms.triggers.book import ProtectedPosition, WorkingOrder
from oms.triggers.dispatch import TriggerState
from oms.triggers.watcher import TriggerWatcher


def working_order(order: Order) -> WorkingOrder:
    assert order.order_id is not None
    assert order.price is not None
    return WorkingOrder(
        order_id=order.order_id,
        account_id=order.account_id,
        symbol=order.symbol,
        side=order.side,
        type=order.type,
        price=order.price,
        stop_limit_price=order.stop_limit_price,
        stop_limit_active=order.stop_limit_active,
        expire_at=order.expire_at,
    )


def protected(position: PositionRow, spec: SymbolSpec) -> ProtectedPosition | None:
    """The position as the books hold it; None when it is closed or has no protection."""
    guarded = (
        position.stop_loss is not None
        or position.take_profit is not None
        or position.trailing_distance_points > 0
    )
    if not position.is_open or not guarded:
        return None
    return ProtectedPosition(
        position_id=position.position_id,
        account_id=position.account_id,
        symbol=position.symbol,
        side=position.side,
        open_price=position.open_price,
        point=spec.point,
        stop_loss=position.stop_loss,
        take_profit=position.take_profit,
        trailing_distance_points=position.trailing_distance_points,
        trailing_step_points=position.trailing_step_points,
    )


def account_risk(
    account: Account, positions: Iterable[PositionRow], symbols: Mapping[str, SymbolSpec]
) -> AccountRisk:
    return AccountRisk(
        account_id=account.account_id,
        currency=account.currency,
        balance=account.balance,
        leverage=account.leverage,
        positions=tuple(
            RiskPosition(p.position_id, symbols[p.symbol], p.side, p.volume, p.open_price)
            for p in positions
            if p.is_open and p.symbol in symbols
        ),
        margin_call_level=account.margin_call_level,
        stop_out_level=account.stop_out_level,
        client_group=account.client_group,
    )


class WatcherBridge:
    """``TriggerActions`` + ``TriggerLoader`` over ``OmsService``; a listener once attached."""

    def __init__(self, service: OmsService) -> None:
        self._service = service
        self._watcher: TriggerWatcher | Any = None
        self._specs: Mapping[str, SymbolSpec] = {}

    def attach(self, watcher: TriggerWatcher | Any) -> None:
        """Send every committed change to ``watcher`` from now on, and every change of the
        margin-call / stop-out risk settings (``oms_settings`` NOTIFY or this process's write)."""
        self._watcher = watcher
        self._service.add_listener(self)
        self._service.uow.levels_listeners.append(self._levels_changed)

    def levels(self, risk: AccountRisk) -> AccountRisk:
        """The watcher's ``levels``: ``risk`` at its group's current effective levels."""
        return level_risk(risk, self._service.uow.risk)

    def _levels_changed(self) -> None:
        if self._watcher is not None:
            self._watcher.levels_changed()

    # --- TriggerActions --------------------------------------------------------------------------

    async def trigger_order(self, order_id: OrderId, account_id: AccountId, quote: Price) -> None:
        await self._service.trigger_order(order_id, quote)

    async def activate_stop_limit(
        self, order_id: OrderId, account_id: AccountId, quote: Price
    ) -> None:
        await self._service.activate_stop_limit(order_id, quote)

    async def expire_order(self, order_id: OrderId, account_id: AccountId, at: datetime) -> None:
        await self._service.expire_order(order_id)

    async def close_for_protection(
        self, position_id: PositionId, account_id: AccountId, reason: CloseReason, quote: Price
    ) -> None:
        await self._service.close_for_protection(position_id, reason, quote)

    async def move_trailing_stop(
        self, position_id: PositionId, account_id: AccountId, stop_loss: Decimal, quote: Price
    ) -> None:
        await self._service.move_trailing_stop(position_id, stop_loss)

    async def stop_out(self, account_id: AccountId, margin_level: Decimal) -> None:
        await self._service.stop_out(account_id)

    async def margin_call(self, account_id: AccountId, margin_level: Decimal) -> None:
        await self._service.margin_call(account_id)

    # --- TriggerLoader ---------------------------------------------------------------------------

    async def load_triggers(self) -> TriggerState:
        symbols = await self._service.symbols()
        self._specs = symbols
        state = await self._service.load_stored_triggers()
        positions = [
            found
            for p in state.positions
            if p.symbol in symbols and (found := protected(p, symbols[p.symbol])) is not None
        ]
        held: dict[AccountId, list[PositionRow]] = {}
        for p in state.positions:
            held.setdefault(p.account_id, []).append(p)
        return TriggerState(
            symbols=tuple(symbols),
            orders=tuple(working_order(o) for o in state.orders),
            positions=tuple(positions),
            accounts=tuple(
                account_risk(state.accounts[a], rows, symbols)
                for a, rows in held.items()
                if a in state.accounts
            ),
        )

    async def load_account(self, account_id: AccountId) -> AccountRisk | None:
        symbols = await self._service.symbols()
        found = await self._service.account_positions(account_id)
        if found is None:
            return None
        account, positions = found
        return account_risk(account, positions, symbols) if positions else None

    # --- TradingListener -------------------------------------------------------------------------

    def order_changed(self, order: Order) -> None:
        if self._watcher is None or order.order_id is None:
            return
        if order.status is OrderStatus.WORKING and order.price is not None:
            self._watcher.upsert_order(working_order(order))
        else:
            self._watcher.remove_order(order.order_id)

    def position_changed(self, position: PositionRow) -> None:
        if self._watcher is None:
            return
        spec = self._specs.get(position.symbol)
        found = protected(position, spec) if spec is not None else None
        if found is None:
            self._watcher.remove_position(position.position_id)
        else:
            self._watcher.upsert_position(found)
        self._watcher.reload_account(position.account_id)

    def account_changed(self, account: Account, open_positions: Sequence[PositionRow]) -> None:
        if self._watcher is None:
            return
        if any(p.symbol not in self._specs for p in open_positions):
            self._watcher.reload_account(account.account_id)  # a symbol added since start
            return
        # The committed account and positions are at hand: re-arming from them saves the two
        # queries a reload would make after every fill.
        risk = account_risk(account, open_positions, self._specs) if open_positions else None
        self._watcher.rearm_account(account.account_id, risk)
