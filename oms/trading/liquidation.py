"""Stop-out and the margin call, for the trigger watcher.

Stop-out closes the most losing position first (at the market, whatever gap the quote made),
re-reads the quotes and repeats until the margin level is back at the account's stop-out level or
nothing more can be closed. Both levels are the effective ones (``UnitOfWork.levels``: the
stricter of the account's own and its group's, else the global, risk settings), read afresh on
every round, so a level raised by an admin applies to the next check. Afterwards a negative balance with no position left is reset to
exactly zero by an ADJUSTMENT ledger row when the account's negative balance protection is on.

A margin call is raised once per crossing below the margin call level: the state lives in
``accounts.margin_call_at``, so a restart does not raise it again; ``margin_call_cleared`` is
raised once the level is back.
"""

from __future__ import annotations

import structlog

from fxmesh.eventtypes import EventType
from oms.domain.events import margin_call_json
from oms.domain.model import AccountId, Order, OrderOrigin, PositionId
from oms.store import accounts as account_store
from oms.store import ledger as ledger_store
from oms.store import orders as order_store
from oms.store import positions as position_store
from oms.trading.positions import PositionDesk
from oms.trading.unit_of_work import UnitOfWork, live_figures, mark_views

log = structlog.stdlib.get_logger(__name__)


class Liquidation:
    def __init__(self, uow: UnitOfWork, desk: PositionDesk) -> None:
        self._uow = uow
        self._desk = desk

    async def stop_out(self, account_id: AccountId) -> list[Order]:
        """Close the most losing position until the margin level is back at the stop-out level."""
        orders: list[Order] = []
        tried: set[PositionId] = set()
        while True:
            symbols, prices = await self._uow.market()
            async with self._uow.pool.acquire() as conn:
                found = await account_store.get_account(conn, account_id)
                if found is None:
                    return orders
                account = self._uow.levels(found)
                positions = await position_store.open_positions(conn, account_id)
                in_flight = await order_store.in_flight(conn, account_id)
            fig = live_figures(account, positions, in_flight, symbols, prices)
            if fig.margin_level is None or fig.margin_level >= account.stop_out_level:
                break
            views = [
                v
                for v in mark_views(account, positions, symbols, prices)
                if v.profit is not None and v.row.position_id not in tried
            ]
            if not views:
                break
            worst = min(views, key=lambda v: (v.profit, v.row.position_id))
            tried.add(worst.row.position_id)
            log.warning(
                "stop_out_close",
                account_id=account_id,
                position_id=worst.row.position_id,
                margin_level=str(fig.margin_level),
            )
            result = await self._desk.close_for_server(
                account_id, worst.row.position_id, OrderOrigin.STOP_OUT
            )
            if result is not None:
                orders.append(result.order)
        await self._protect_negative_balance(account_id)
        return orders

    async def _protect_negative_balance(self, account_id: AccountId) -> None:
        symbols, prices = await self._uow.market()
        async with self._uow.locked(account_id) as tx:
            account = tx.account
            if account.balance >= 0 or not account.negative_balance_protection:
                return
            if await position_store.open_positions(tx.conn, account_id):
                return
            await ledger_store.post_ledger(
                tx.conn,
                account_id,
                "ADJUSTMENT",
                -account.balance,
                account.currency,
                reference="stop-out",
                note="negative balance protection: balance reset to zero after stop-out",
            )
            await tx.account_update("NEGATIVE_BALANCE_RESET", symbols, prices)

    async def margin_call(self, account_id: AccountId) -> bool:
        """Raise ``margin_call`` once when the level is below the margin call level (and
        ``margin_call_cleared`` once it is back); True when a margin call was raised now."""
        symbols, prices = await self._uow.market()
        async with self._uow.locked(account_id) as tx:
            account = self._uow.levels(tx.account)
            positions = await position_store.open_positions(tx.conn, account_id)
            in_flight = await order_store.in_flight(tx.conn, account_id)
            fig = live_figures(account, positions, in_flight, symbols, prices)
            below = fig.margin_level is not None and fig.margin_level < account.margin_call_level
            if not await account_store.set_margin_call(tx.conn, account_id, below):
                return False
            kind = EventType.MARGIN_CALL if below else EventType.MARGIN_CALL_CLEARED
            tx.emit(kind, margin_call_json(account, fig, raised=below))
            log.warning("margin_call", account_id=account_id, raised=below)
        return below
