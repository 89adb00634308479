"""Position operations: close (whole or part), close-all, close-by, modify SL / TP / trailing; and
for the trigger watcher: SL / TP closes and trailing moves.

A close is a MARKET order on the opposite side carrying ``position_id``; it is validated, committed
FILLING and executed through the router like any order, and its fill reduces or closes the
position (``oms.trading.fills``). Close-by needs no router: the house book does not change, so both
positions close against each other in one transaction (MetaTrader's rule: the chosen position
closes at the opposite position's open price and carries the pair's whole P&L; the opposite one
closes at its own open price; two OUT_BY deals; no commission).

Stop-out and margin calls are in ``oms.trading.liquidation``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import structlog

from fxmesh.errors import FailedPrecondition, InvalidArgument, NotFound
from fxmesh.eventtypes import EventType
from fxmesh.money import ZERO
from fxmesh.reasons import Reason
from oms.domain.commands import (
    KEEP,
    CloseAllCommand,
    CloseByCommand,
    ClosePositionCommand,
    Keep,
    ModifyPositionCommand,
)
from oms.domain.events import order_rejected_json
from oms.domain.model import (
    AccountId,
    CloseReason,
    DealEntry,
    NoConversionRate,
    Order,
    OrderOrigin,
    OrderStatus,
    OrderTrigger,
    OrderType,
    PositionId,
    Price,
    Side,
    SymbolSpec,
    TimeInForce,
    profit,
)
from oms.domain.records import DealRow, PositionRow
from oms.domain.results import CloseByResult, CloseResult, PositionView
from oms.domain.rules import protection_hit, trailing_improves
from oms.domain.validation import (
    check_account,
    check_precision,
    check_session,
    validate_close,
    validate_modify_position,
)
from oms.store import accounts as account_store
from oms.store import ledger as ledger_store
from oms.store import orders as order_store
from oms.store import positions as position_store
from oms.trading import fills
from oms.trading.execution import Executor
from oms.trading.unit_of_work import Tx, UnitOfWork, mark_views

log = structlog.stdlib.get_logger(__name__)


def _opposite(side: Side) -> Side:
    return Side.SELL if side is Side.BUY else Side.BUY


def position_not_found(position_id: PositionId) -> NotFound:
    return NotFound(
        f"position {position_id} not found",
        reason=Reason.POSITION_NOT_FOUND,
        metadata={"position_id": str(position_id)},
    )


def _not_open(position_id: PositionId) -> FailedPrecondition:
    return FailedPrecondition(
        f"position {position_id} is closed",
        reason=Reason.POSITION_NOT_OPEN,
        metadata={"position_id": str(position_id)},
    )


async def _open_position(tx: Tx, position_id: PositionId) -> PositionRow:
    position = await position_store.get(tx.conn, tx.account.account_id, position_id)
    if position is None:
        raise position_not_found(position_id)
    if not position.is_open:
        raise _not_open(position_id)
    return position


class PositionDesk:
    """Position use cases over one ``UnitOfWork``."""

    def __init__(self, uow: UnitOfWork, executor: Executor) -> None:
        self._uow = uow
        self._executor = executor

    # --- closes ----------------------------------------------------------------------------------

    async def close_position(self, cmd: ClosePositionCommand) -> CloseResult:
        result = await self._close(
            cmd.account_id,
            cmd.position_id,
            volume=cmd.volume,
            client_order_id=cmd.client_order_id or f"close-{uuid.uuid4().hex[:20]}",
            requested_price=cmd.requested_price,
            deviation_points=cmd.deviation_points,
            magic=cmd.magic,
            comment=cmd.comment,
        )
        assert result is not None  # a client close always answers
        return result

    async def close_all(self, cmd: CloseAllCommand) -> list[CloseResult]:
        """Close every open position (of one symbol); a retry with the same request id replays."""
        request_id = cmd.request_id or uuid.uuid4().hex[:24]
        prefix = f"{request_id}:"
        async with self._uow.pool.acquire() as conn:
            if await account_store.get_account(conn, cmd.account_id) is None:
                raise NotFound(f"account {cmd.account_id} not found", reason="ACCOUNT_NOT_FOUND")
            done = await order_store.with_client_prefix(conn, cmd.account_id, prefix)
            positions = await position_store.open_positions(conn, cmd.account_id)
        targets = {o.position_id for o in done if o.position_id is not None}
        targets |= {
            p.position_id for p in positions if cmd.symbol is None or p.symbol == cmd.symbol
        }
        results = []
        for position_id in sorted(targets):
            result = await self._close(
                cmd.account_id, position_id, client_order_id=f"{prefix}{position_id}"
            )
            if result is not None:
                results.append(result)
        return results

    async def close_for_server(
        self, account_id: AccountId, position_id: PositionId, origin: OrderOrigin
    ) -> CloseResult | None:
        """Close all of a position that is not already closing, for the server (``origin``);
        None when there is nothing to close."""
        prefix = {OrderOrigin.STOP_OUT: "SO", OrderOrigin.STOP_LOSS: "SL"}.get(origin, "TP")
        return await self._close(
            account_id,
            position_id,
            client_order_id=f"{prefix}-{position_id}-{uuid.uuid4().hex[:12]}",
            origin=origin,
        )

    async def close_for_protection(
        self, position_id: PositionId, reason: CloseReason, quote: Price
    ) -> Order | None:
        """Close a position whose SL or TP (``reason``) is reached at ``quote``.

        The closing order (origin STOP_LOSS / TAKE_PROFIT), or None when nothing was done: the
        position is gone or already closing, or its SL / TP is not reached at ``quote``.
        """
        if reason not in (CloseReason.STOP_LOSS, CloseReason.TAKE_PROFIT):
            raise ValueError(f"not a protection close: {reason}")
        async with self._uow.pool.acquire() as conn:
            account_id = await position_store.account_of(conn, position_id)
        if account_id is None:
            return None

        def still_hit(p: PositionRow) -> bool:
            return protection_hit(p.side, p.stop_loss, p.take_profit, quote) is reason

        prefix = "SL" if reason is CloseReason.STOP_LOSS else "TP"
        result = await self._close(
            account_id,
            position_id,
            client_order_id=f"{prefix}-{position_id}-{uuid.uuid4().hex[:12]}",
            origin=OrderOrigin(reason.value),
            quote=quote,
            expect=still_hit,
        )
        return result.order if result is not None else None

    async def _close(
        self,
        account_id: AccountId,
        position_id: PositionId,
        *,
        client_order_id: str,
        volume: Decimal | None = None,
        requested_price: Decimal | None = None,
        deviation_points: int = 0,
        origin: OrderOrigin = OrderOrigin.CLIENT,
        quote: Price | None = None,
        expect: Callable[[PositionRow], bool] | None = None,
        magic: int = 0,
        comment: str = "",
    ) -> CloseResult | None:
        """One close; None only for server closes that found nothing to do."""
        server = origin is not OrderOrigin.CLIENT
        symbols, prices = await self._uow.market()
        async with self._uow.locked(account_id) as tx:
            existing = await order_store.find_by_client_id(tx.conn, account_id, client_order_id)
            if existing is not None:
                return await self._replayed(tx, existing, symbols, prices)
            position = await position_store.get(tx.conn, account_id, position_id)
            if position is None:
                if server:
                    return None
                raise position_not_found(position_id)
            if not position.is_open or (expect is not None and not expect(position)):
                if server:
                    return None
                raise _not_open(position_id)
            spec = symbols[position.symbol]
            if quote is not None:
                prices[position.symbol] = quote
            check_precision(spec, {"requested_price": requested_price})
            available = position.volume - await order_store.closing_volume(tx.conn, position_id)
            if server and available <= 0:
                return None
            amount = volume if volume is not None else available
            order = Order(
                account_id=account_id,
                client_order_id=client_order_id,
                symbol=position.symbol,
                side=_opposite(position.side),
                type=OrderType.MARKET,
                time_in_force=TimeInForce.IOC,
                volume=amount if amount > 0 else position.volume,
                requested_price=requested_price,
                deviation_points=deviation_points or spec.default_deviation_points,
                position_id=position_id,
                origin=origin,
                magic=magic,
                comment=comment,
            )
            now = None if server else self._uow.now()
            problem = validate_close(tx.account, spec, amount, available, prices, now)
            if problem is not None:
                order.reject(problem.code, problem.message)
            else:
                order.accept()
                order.apply(OrderTrigger.SUBMIT)
            if not await tx.insert_order(order):
                again = await order_store.find_by_client_id(tx.conn, account_id, client_order_id)
                assert again is not None
                return await self._replayed(tx, again, symbols, prices)
            account = tx.account
            if order.status is OrderStatus.REJECTED:
                tx.emit(EventType.ORDER_REJECTED, order_rejected_json(order))
                view = mark_views(account, [position], symbols, prices)[0]
                return CloseResult(order, [], view, replayed=False)
            booked = await self._executor.fill_in_house(tx, order, spec, symbols, prices, position)
            if booked is not None:
                closed = next((p for p in booked.positions if p.position_id == position_id), None)
                if closed is None:
                    closed = await position_store.get(tx.conn, account_id, position_id)
                assert closed is not None
                view = mark_views(account, [closed], symbols, prices)[0]
                return CloseResult(order, booked.deals, view, replayed=False)
        outcome = await self._executor.execute(order, account, spec, prices, position)
        after = next((p for p in outcome.positions if p.position_id == position_id), None)
        if after is None:
            async with self._uow.pool.acquire() as conn:
                after = await position_store.get(conn, account_id, position_id)
        assert after is not None
        view = mark_views(account, [after], symbols, prices)[0]
        return CloseResult(outcome.order, outcome.deals, view, replayed=False)

    async def _replayed(
        self, tx: Tx, order: Order, symbols: dict[str, SymbolSpec], prices: dict[str, Price]
    ) -> CloseResult:
        booked = await fills.replay(tx.conn, order)
        position = None
        if order.position_id is not None:
            position = await position_store.get(tx.conn, tx.account.account_id, order.position_id)
        if position is None:
            raise InvalidArgument(
                f"client_order_id {order.client_order_id} belongs to an order that closes no "
                "position",
                reason=Reason.CLIENT_ORDER_ID_REUSED,
            )
        view = mark_views(tx.account, [position], symbols, prices)[0]
        return CloseResult(order, booked.deals, view, replayed=True)

    # --- close-by --------------------------------------------------------------------------------

    async def close_by(self, cmd: CloseByCommand) -> CloseByResult:
        symbols, prices = await self._uow.market()
        now = self._uow.now()
        async with self._uow.locked(cmd.account_id) as tx:
            account = tx.account
            if account.netting:
                raise FailedPrecondition(
                    "close-by needs a hedging account", reason=Reason.CLOSE_BY_NOT_ALLOWED
                )
            problem = check_account(account, opening=False)
            if problem is not None:
                raise FailedPrecondition(problem.message, reason=problem.code)
            first = await _open_position(tx, cmd.position_id)
            other = await _open_position(tx, cmd.opposite_position_id)
            if first.symbol != other.symbol or first.side is other.side:
                raise FailedPrecondition(
                    "close-by needs two opposite positions of one symbol",
                    reason=Reason.CLOSE_BY_NOT_ALLOWED,
                )
            for p in (first, other):
                if await order_store.closing_volume(tx.conn, p.position_id) > 0:
                    raise FailedPrecondition(
                        f"position {p.position_id} is being closed", reason=Reason.POSITION_CLOSING
                    )
            spec = symbols[first.symbol]
            problem = check_session(spec, now)
            if problem is not None:
                raise FailedPrecondition(problem.message, reason=problem.code)
            volume = min(first.volume, other.volume)
            price = other.open_price
            try:
                pnl = profit(
                    first.side, volume, first.open_price, price, spec, account.currency, prices
                )
            except NoConversionRate as exc:
                raise FailedPrecondition(str(exc), reason=Reason.NO_QUOTE) from exc
            deals: list[DealRow] = []
            changed: list[PositionRow] = []
            for p, p_pnl, tag in ((first, pnl, "A"), (other, ZERO, "B")):
                after = await position_store.update(
                    tx.conn,
                    fills.reduce_position(p, volume, p_pnl, ZERO, price, now, CloseReason.CLOSE_BY),
                )
                deal = await position_store.insert_deal(
                    tx.conn,
                    order_id=None,
                    position_id=p.position_id,
                    account_id=account.account_id,
                    symbol=p.symbol,
                    side=_opposite(p.side),
                    entry=DealEntry.OUT_BY,
                    volume=volume,
                    price=price,
                    commission=ZERO,
                    realized_pnl=p_pnl,
                    venue="CLOSE_BY",
                    book=None,
                    fill_id=f"{first.position_id}-by-{other.position_id}-{tag}",
                    deal_time=now,
                    reason=CloseReason.CLOSE_BY,
                )
                assert deal is not None  # a pair closes by each other once
                deals.append(deal)
                changed.append(after)
            if pnl:
                await ledger_store.post_ledger(
                    tx.conn,
                    account.account_id,
                    "REALIZED_PNL",
                    pnl,
                    account.currency,
                    reference=f"close-by {first.position_id} by {other.position_id} "
                    f"deal {deals[0].deal_id}",
                    deal_id=deals[0].deal_id,
                )
            for p in changed:
                tx.position_changed(p)
            await tx.account_update("CLOSE_BY", symbols, prices)
            views = mark_views(tx.account, changed, symbols, prices)
        return CloseByResult(deals, views)

    # --- protection ------------------------------------------------------------------------------

    async def modify_position(self, cmd: ModifyPositionCommand) -> PositionView:
        symbols, prices = await self._uow.market()
        async with self._uow.locked(cmd.account_id) as tx:
            if tx.account.status == "CLOSED":
                raise FailedPrecondition("the account is closed", reason=Reason.ACCOUNT_NOT_ACTIVE)
            position = await _open_position(tx, cmd.position_id)
            spec = symbols[position.symbol]
            new_sl = position.stop_loss if isinstance(cmd.stop_loss, Keep) else cmd.stop_loss
            new_tp = position.take_profit if isinstance(cmd.take_profit, Keep) else cmd.take_profit
            check_precision(spec, {"stop_loss": new_sl, "take_profit": new_tp})
            distance = cmd.trailing_distance_points
            if distance is None:
                distance = position.trailing_distance_points
            step = cmd.trailing_step_points
            if step is None:
                step = position.trailing_step_points
            problem = validate_modify_position(
                position.side,
                None if cmd.stop_loss is KEEP else new_sl,
                None if cmd.take_profit is KEEP else new_tp,
                distance,
                spec,
                prices.get(position.symbol),
            )
            if problem is not None:
                raise FailedPrecondition(problem.message, reason=problem.code)
            changed = await position_store.update(
                tx.conn,
                replace(
                    position,
                    stop_loss=new_sl,
                    take_profit=new_tp,
                    trailing_distance_points=distance,
                    trailing_step_points=step if distance else 0,
                ),
            )
            view = mark_views(tx.account, [changed], symbols, prices)[0]
            tx.position_changed(changed, view)
        return view

    async def move_trailing_stop(self, position_id: PositionId, stop_loss: Decimal) -> bool:
        """Persist a trailing stop's new SL if it improves on the current one by the step."""
        async with self._uow.pool.acquire() as conn:
            account_id = await position_store.account_of(conn, position_id)
        if account_id is None:
            return False
        symbols = await self._uow.symbols()
        async with self._uow.locked(account_id) as tx:
            position = await position_store.get(tx.conn, account_id, position_id)
            if position is None or not position.is_open or not position.trailing_distance_points:
                return False
            spec = symbols[position.symbol]
            if not trailing_improves(
                position.side,
                position.stop_loss,
                stop_loss,
                position.trailing_step_points,
                spec.point,
            ):
                return False
            changed = await position_store.update(tx.conn, replace(position, stop_loss=stop_loss))
            tx.position_changed(changed)
        return True
