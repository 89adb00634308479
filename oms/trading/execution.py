"""The execution round trip of an order committed in FILLING: Execute at the router, and when its
outcome is unknown (timeout, connection lost) ReconcileExecution instead of a blind reject; then
the answer is settled in one account-locked transaction (``oms.trading.fills``).

Settling re-reads the order under the lock and does nothing to an order that is no longer in
flight, so PlaceOrder, a trigger, and recovery may race on one order and it still settles once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

import structlog

from fxmesh.db import Conn
from fxmesh.errors import FailedPrecondition
from fxmesh.reasons import Reason
from oms.domain import model as domain
from oms.domain.model import (
    Account,
    NoConversionRate,
    Order,
    OrderStatus,
    OrderTrigger,
    Price,
    SymbolSpec,
)
from oms.domain.records import DealRow, PositionRow
from oms.domain.results import CloseVenue, Execution
from oms.store import orders as order_store
from oms.store import positions as position_store
from oms.trading import fills
from oms.trading.unit_of_work import ExecutionUnavailable, SettlingFirst, Tx, UnitOfWork

log = structlog.stdlib.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    """An order after its execution was settled (or still FILLING when the router is away)."""

    order: Order
    deals: list[DealRow]
    positions: list[PositionRow]


class Executor:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def execute(
        self,
        order: Order,
        account: Account,
        spec: SymbolSpec,
        prices: Mapping[str, Price],
        position: PositionRow | None = None,
    ) -> Outcome:
        """Execute a committed FILLING order and settle the router's answer.

        ``position``: the position a closing order closes, when the caller has it at hand (else
        it is read). A close, and a netting order that reduces the account's position, is sent
        to the book and venue holding that position's risk (``close_book`` / ``close_venue``).
        """
        closing = await self._closing(order, account, position)
        execution = await self._call(order, account, spec, prices, closing)
        if execution is None:
            log.warning("execution_outcome_unknown", order_id=order.order_id)
            return Outcome(order, [], [])
        return await self.settle(order, execution, prices)

    async def reconcile(self, order: Order) -> Outcome | None:
        """Ask the router what became of an order oms lost track of and settle it; None when the
        router cannot be reached (the order stays in flight for the next attempt)."""
        try:
            execution = await self._uow.router.reconcile(order)
        except ExecutionUnavailable:
            return None
        return await self.settle(order, execution, None)

    async def _closing(
        self, order: Order, account: Account, position: PositionRow | None
    ) -> CloseVenue | None:
        """Where the risk this order closes is held; None for an opening order."""
        if position is None and _may_close(order, account):
            async with self._uow.pool.acquire() as conn:
                position = await _closed_position(conn, order, account)
        return _venue(position)

    async def fill_in_house(
        self,
        tx: Tx,
        order: Order,
        spec: SymbolSpec,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
        position: PositionRow | None = None,
    ) -> fills.Booked | None:
        """Fill an order just put in FILLING by ``tx`` (a market order accepted, a close, a
        pending order triggered: its limit price is the worst it fills at) within ``tx``, when
        the router in this process fills it from the house book: the router's claim and house
        fill, the position, deal, ledger rows and events commit with the order, or none of it does
        (docs/performance.md, "One transaction per B-book market order"). ``position``: the one
        a close closes (its venue decides, as in ``execute``); None for any other order (on a
        netting account, an order against its position follows that position's venue too).

        None: nothing was filled (no router here that leads, another book, a refused price, a
        claim not made, or the router failed); the order commits in FILLING and ``execute``
        takes it after the commit, as every other order."""
        if not self._uow.router.prepares:  # no reads for it when the router is elsewhere
            return None
        if position is None and _may_close(order, tx.account):
            position = await _closed_position(tx.conn, order, tx.account)
        closing = _venue(position)
        max_dev, usd_rate = _pricing(order, spec, prices)
        try:
            house = await self._uow.router.prepare(
                order, tx.account.client_group, max_dev, spec.contract_size, usd_rate, closing
            )
        except Exception:
            log.exception("house_fill_not_prepared", order_id=order.order_id)
            return None
        if house is None:
            return None
        tx.on_end(house.settle)  # the fill is booked in the house only once this commits
        if not await house.write(tx.conn):
            house.settle(False)  # its place in the house's order is free at once
            return None
        return await fills.apply_execution(
            tx, order, house.execution, spec, symbols, prices, applied=frozenset()
        )

    async def _call(
        self,
        order: Order,
        account: Account,
        spec: SymbolSpec,
        prices: Mapping[str, Price],
        closing: CloseVenue | None = None,
    ) -> Execution | None:
        max_dev, usd_rate = _pricing(order, spec, prices)
        try:
            return await self._uow.router.execute(
                order,
                account.client_group,
                max_dev,
                spec.contract_size,
                usd_rate,
                order.limit_price,
                closing,
            )
        except ExecutionUnavailable:
            pass
        # Execute may or may not have reached the router: only the router can say.
        try:
            return await self._uow.router.reconcile(order)
        except ExecutionUnavailable:
            return None

    async def settle(
        self, order: Order, execution: Execution, prices: Mapping[str, Price] | None
    ) -> Outcome:
        """Apply ``execution`` to the order in one transaction, once.

        ``prices`` are the quotes read for this order just before it was executed (a few ms old:
        reading them again would be one more Redis round trip per order for nothing); None reads
        them now (recovery, reconcile)."""
        assert order.order_id is not None
        if prices is None:
            symbols, merged = await self._uow.market()
        else:
            symbols, merged = await self._uow.symbols(), dict(prices)
        spec = symbols.get(order.symbol)
        if spec is None:
            raise FailedPrecondition(
                f"symbol {order.symbol} no longer exists", reason=Reason.UNKNOWN_SYMBOL
            )
        order_id = order.order_id
        one = execution.fills[0] if len(execution.fills) == 1 else None
        first_read = SettlingFirst(order_id, one.venue, one.fill_id) if one is not None else None

        async def book(tx: Tx) -> Outcome:
            # The order and which of the execution's fills are booked already, in one read (with
            # the account's lock when the answer has one fill and the transaction is its own).
            current, applied = tx.take_settling() or await order_store.get_with_applied(
                tx.conn,
                order.account_id,
                order_id,
                [(f.venue, f.fill_id) for f in execution.fills],
            )
            assert current is not None
            if current.status.value not in order_store.IN_FLIGHT:
                booked = await fills.replay(tx.conn, current)
                return Outcome(current, booked.deals, booked.positions)
            if current.status is OrderStatus.ACCEPTED:  # a crash before it was submitted
                current.apply(OrderTrigger.SUBMIT, "RECOVERY")
            booked = await fills.apply_execution(
                tx, current, execution, spec, symbols, merged, applied=applied
            )
            return Outcome(current, booked.deals, booked.positions)

        return await self._uow.grouped(order.account_id, book, first_read=first_read)


def _may_close(order: Order, account: Account) -> bool:
    """Whether the order may close a position the caller did not give: its own
    (``position_id``), or a netting account's in the symbol."""
    return order.position_id is not None or account.netting


async def _closed_position(conn: Conn, order: Order, account: Account) -> PositionRow | None:
    """The position ``order`` closes or reduces (``_may_close``), as ``conn`` reads it; None
    when it opens or adds to one."""
    if order.position_id is not None:
        return await position_store.get(conn, account.account_id, order.position_id)
    position = await position_store.open_in_symbol(conn, account.account_id, order.symbol)
    if position is not None and position.side is order.side:
        return None  # adds to the position: an opening order, routed as usual
    return position


def _venue(position: PositionRow | None) -> CloseVenue | None:
    """Where a closed position's risk is held (the book and venue a close follows)."""
    if position is None or not position.is_open:
        return None
    return CloseVenue(position.book, position.venue)


def _pricing(
    order: Order, spec: SymbolSpec, prices: Mapping[str, Price]
) -> tuple[Decimal | None, Decimal]:
    """The order's largest price deviation allowed (None: any) and its symbol's quote-to-USD
    rate (0 when no quote converts it), as the router prices with them."""
    max_dev = None
    if order.requested_price is not None:
        max_dev = order.deviation_points * spec.point
    try:
        usd_rate = domain.conversion_rate(spec.quote_currency, "USD", prices)
    except NoConversionRate:
        usd_rate = Decimal(0)
    return max_dev, usd_rate
