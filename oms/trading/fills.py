"""Fill application: the router's fills become positions, deals, ledger rows and events.

Everything here runs inside the caller's account-locked transaction
(``oms.trading.unit_of_work.Tx``), so an order's new state, its positions, deals, commission and
realized P&L ledger rows and the outbox events commit together or not at all. A fill applies once
per (venue, fill id).

Positions:

* HEDGING: an order without ``position_id`` opens a position per fill; a closing order (with
  ``position_id``) reduces or closes that position (deal OUT).
* NETTING: one position per symbol; a fill adds (IN, volume-weighted open price), reduces or closes
  (OUT), or reverses it (INOUT: the old position is closed with its realized P&L and a new one is
  opened with the rest, on the new position's deal).

Commission is charged per side per lot on every fill (opening and closing) as a COMMISSION ledger
row; realized P&L of every OUT part, in the account currency at the current cross rate, as a
REALIZED_PNL row. A venue's partial fill of an IOC or FOK order is booked (it happened) and the
unfilled rest is cancelled ``REMAINDER_CANCELLED``.
"""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

import structlog
from prometheus_client import Counter

from fxmesh.db import Conn
from fxmesh.eventtypes import EventType
from fxmesh.money import ZERO
from fxmesh.reasons import Reason
from oms.domain.events import order_filled_json, order_rejected_json
from oms.domain.model import (
    CloseReason,
    DealEntry,
    Order,
    OrderId,
    OrderStatus,
    OrderTrigger,
    Price,
    SymbolSpec,
    TimeInForce,
    commission,
    profit,
)
from oms.domain.records import DealRow, Fill, PositionRow
from oms.domain.results import Execution
from oms.domain.rules import average_price, net_fill
from oms.store import ledger as ledger_store
from oms.store import positions as position_store
from oms.trading.unit_of_work import Tx

log = structlog.stdlib.get_logger(__name__)

FOK_PARTIAL_FILLS = Counter(
    "fxmesh_oms_fok_partial_fills_total",
    "Fill-or-kill orders a venue filled only in part (booked, rest cancelled).",
)


@dataclass(frozen=True, slots=True)
class Booked:
    """What applying an execution did: the new deals and the positions they changed."""

    deals: list[DealRow]
    positions: list[PositionRow]

    @property
    def fills(self) -> list[Fill]:
        return [Fill.of(d) for d in self.deals]


async def apply_execution(
    tx: Tx,
    order: Order,
    execution: Execution | None,
    spec: SymbolSpec,
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
    *,
    applied: Set[tuple[str, str]] | None = None,
) -> Booked:
    """Apply the router's answer (None: no answer at all) to an order in FILLING.

    ``applied``: which of its fills ((venue, fill id)) were booked before, as read under this
    transaction's account lock (``orders.get_with_applied``); None reads it fill by fill."""
    deals: list[DealRow] = []
    touched: dict[int, PositionRow] = {}
    if execution is None:
        order.reject(Reason.EXECUTION_UNAVAILABLE, "the order could not be executed now")
    else:
        order.book, order.routing_reason = execution.book, execution.routing_reason
        if execution.status == "REJECTED" or not execution.fills:
            _refused(order, execution)
        else:
            # Booked before, or earlier in this list (a venue repeating a fill in one report).
            done = set(applied) if applied is not None else None
            for fill in execution.fills:
                if (
                    (fill.venue, fill.fill_id) in done
                    if done is not None
                    else await position_store.fill_applied(tx.conn, fill.venue, fill.fill_id)
                ):
                    log.warning("duplicate_fill_ignored", fill_id=fill.fill_id)
                    continue
                if fill.volume > order.volume - order.filled_volume:
                    log.error("overfill_ignored", order_id=order.order_id, fill_id=fill.fill_id)
                    continue
                order.record_fill(fill.volume, fill.price)
                new_deals, changed = await _book_fill(tx, order, fill, spec, prices)
                if done is not None:
                    done.add((fill.venue, fill.fill_id))
                deals.extend(new_deals)
                touched.update({p.position_id: p for p in changed})
            _finish(order)
    await tx.save_order(order)
    positions = list(touched.values())
    if order.status is OrderStatus.REJECTED:
        tx.emit(EventType.ORDER_REJECTED, order_rejected_json(order))
    elif deals:
        tx.emit(
            EventType.ORDER_FILLED,
            order_filled_json(order, [Fill.of(d) for d in deals], positions),
        )
        for p in positions:
            tx.position_changed(p)
        # The account row changed only by this fill's ledger rows (``_deal``): not read again.
        await tx.account_update("ORDER_FILLED", symbols, prices, reread=False)
    return Booked(deals, positions)


def _refused(order: Order, execution: Execution) -> None:
    reason = execution.reject_reason or Reason.EXECUTION_REJECTED
    message = execution.reject_message or "the execution venue rejected the order"
    if (
        reason == Reason.LIMIT_NOT_REACHED
        and order.is_pending_type
        and order.status is OrderStatus.FILLING
        and order.filled_volume == 0
    ):
        # The price moved back before the venue could fill at the limit: the order works again.
        order.apply(OrderTrigger.REARM, Reason.LIMIT_NOT_REACHED)
        return
    if reason == Reason.NOT_EXECUTED:  # ReconcileExecution: never executed, now fenced
        order.reject(Reason.EXECUTION_UNAVAILABLE, f"the order could not be executed: {message}")
        return
    order.reject(reason, message)


def _finish(order: Order) -> None:
    if order.status is OrderStatus.PARTIALLY_FILLED:
        if order.time_in_force is TimeInForce.FOK:
            FOK_PARTIAL_FILLS.inc()
            log.warning("fok_partially_filled", order_id=order.order_id)
        order.cancel(
            "REMAINDER_CANCELLED",
            f"filled {order.filled_volume} of {order.volume}; the rest was cancelled",
        )
    elif order.status is OrderStatus.FILLING:  # every fill was a duplicate or refused
        order.reject(Reason.EXECUTION_REJECTED, "no new fills")


async def _book_fill(
    tx: Tx, order: Order, fill: Fill, spec: SymbolSpec, prices: Mapping[str, Price]
) -> tuple[list[DealRow], list[PositionRow]]:
    if tx.account.netting:
        return await _book_netting(tx, order, fill, spec, prices)
    if order.position_id is None:
        return await _open(tx, order, fill, fill.volume, fill.fill_id, spec, prices)
    position = await position_store.get(tx.conn, tx.account.account_id, order.position_id)
    if position is None or not position.is_open:
        # The venue filled a close of a position that is gone: book what happened, loudly.
        log.error("close_fill_without_position", order_id=order.order_id)
        return await _open(tx, order, fill, fill.volume, fill.fill_id, spec, prices)
    closed = min(fill.volume, position.volume)
    deals, changed = await _close(tx, order, fill, position, closed, spec, prices)
    if fill.volume > closed:
        log.error("close_fill_exceeds_position", order_id=order.order_id)
        more, opened = await _open(
            tx, order, fill, fill.volume - closed, f"{fill.fill_id}:excess", spec, prices
        )
        return deals + more, changed + opened
    return deals, changed


async def _open(
    tx: Tx,
    order: Order,
    fill: Fill,
    volume: Decimal,
    fill_id: str,
    spec: SymbolSpec,
    prices: Mapping[str, Price],
) -> tuple[list[DealRow], list[PositionRow]]:
    fee = commission(volume, spec, tx.account.currency, prices)
    position = await position_store.insert(
        tx.conn,
        tx.account.account_id,
        order.symbol,
        order.side,
        volume,
        fill.price,
        -fee,
        _order_id(order),
        fill.fill_time,
        order.stop_loss,
        order.take_profit,
        book=fill.book,
        venue=fill.venue,
        venue_order_id=fill.venue_order_id,
    )
    deal = await _deal(
        tx, order, fill, position, DealEntry.IN, volume, fill_id, fee, ZERO, CloseReason.CLIENT
    )
    return [deal], [position]


async def _close(
    tx: Tx,
    order: Order,
    fill: Fill,
    position: PositionRow,
    volume: Decimal,
    spec: SymbolSpec,
    prices: Mapping[str, Price],
) -> tuple[list[DealRow], list[PositionRow]]:
    currency = tx.account.currency
    fee = commission(volume, spec, currency, prices)
    pnl = profit(position.side, volume, position.open_price, fill.price, spec, currency, prices)
    changed = await position_store.update(
        tx.conn,
        reduce_position(position, volume, pnl, fee, fill.price, fill.fill_time, order.close_reason),
    )
    deal = await _deal(
        tx, order, fill, changed, DealEntry.OUT, volume, fill.fill_id, fee, pnl, order.close_reason
    )
    return [deal], [changed]


def reduce_position(
    position: PositionRow,
    volume: Decimal,
    pnl: Decimal,
    fee: Decimal,
    price: Decimal,
    at: datetime,
    reason: CloseReason,
) -> PositionRow:
    """``position`` less ``volume`` lots, with its realized P&L and commission; closed at
    ``price`` / ``at`` for ``reason`` when nothing remains."""
    remaining = position.volume - volume
    reduced = replace(
        position,
        volume=remaining,
        realized_pnl=position.realized_pnl + pnl,
        commission=position.commission - fee,
    )
    if remaining > 0:
        return reduced
    return replace(reduced, closed_at=at, close_price=price, close_reason=reason)


async def _book_netting(
    tx: Tx, order: Order, fill: Fill, spec: SymbolSpec, prices: Mapping[str, Price]
) -> tuple[list[DealRow], list[PositionRow]]:
    current = await position_store.open_in_symbol(tx.conn, tx.account.account_id, order.symbol)
    outcome = net_fill(
        current.side if current else None,
        current.volume if current else ZERO,
        order.side,
        fill.volume,
    )
    if outcome.entry is DealEntry.IN and current is None:
        return await _open(tx, order, fill, fill.volume, fill.fill_id, spec, prices)
    assert current is not None
    if outcome.entry is DealEntry.OUT:
        return await _close(tx, order, fill, current, fill.volume, spec, prices)
    currency = tx.account.currency
    if outcome.entry is DealEntry.IN:  # add to the position
        fee = commission(fill.volume, spec, currency, prices)
        added = replace(
            current,
            volume=current.volume + fill.volume,
            open_price=average_price(current.volume, current.open_price, fill.volume, fill.price),
            commission=current.commission - fee,
            stop_loss=order.stop_loss if order.stop_loss is not None else current.stop_loss,
            take_profit=order.take_profit if order.take_profit is not None else current.take_profit,
        )
        changed = await position_store.update(tx.conn, added)
        deal = await _deal(
            tx,
            order,
            fill,
            changed,
            DealEntry.IN,
            fill.volume,
            fill.fill_id,
            fee,
            ZERO,
            CloseReason.CLIENT,
        )
        return [deal], [changed]
    # INOUT: close the whole position, open the rest on the other side.
    fee_out = commission(outcome.closed_volume, spec, currency, prices)
    fee_in = commission(outcome.opened_volume, spec, currency, prices)
    pnl = profit(
        current.side, current.volume, current.open_price, fill.price, spec, currency, prices
    )
    reason = order.close_reason
    old = await position_store.update(
        tx.conn,
        reduce_position(current, current.volume, pnl, fee_out, fill.price, fill.fill_time, reason),
    )
    new = await position_store.insert(
        tx.conn,
        tx.account.account_id,
        order.symbol,
        order.side,
        outcome.opened_volume,
        fill.price,
        -fee_in,
        _order_id(order),
        fill.fill_time,
        order.stop_loss,
        order.take_profit,
        book=fill.book,
        venue=fill.venue,
        venue_order_id=fill.venue_order_id,
    )
    deal = await _deal(
        tx,
        order,
        fill,
        new,
        DealEntry.INOUT,
        fill.volume,
        fill.fill_id,
        fee_out + fee_in,
        pnl,
        reason,
    )
    return [deal], [old, new]


async def _deal(
    tx: Tx,
    order: Order,
    fill: Fill,
    position: PositionRow,
    entry: DealEntry,
    volume: Decimal,
    fill_id: str,
    fee: Decimal,
    pnl: Decimal,
    reason: CloseReason,
) -> DealRow:
    """The deal and its COMMISSION and REALIZED_PNL ledger rows."""
    deal = await position_store.insert_deal(
        tx.conn,
        order_id=order.order_id,
        position_id=position.position_id,
        account_id=tx.account.account_id,
        symbol=order.symbol,
        side=order.side,
        entry=entry,
        volume=volume,
        price=fill.price,
        commission=-fee,
        realized_pnl=pnl,
        venue=fill.venue,
        book=fill.book,
        fill_id=fill_id,
        deal_time=fill.fill_time,
        reason=reason,
        magic=order.magic,
        comment=order.comment,
    )
    if deal is None:  # checked before under the account lock: only a venue reusing an id
        raise RuntimeError(f"fill {fill.venue}/{fill_id} was applied concurrently")
    reference = f"order {order.order_id} deal {deal.deal_id}"
    currency = tx.account.currency
    if fee:
        _, after = await ledger_store.post_ledger(
            tx.conn,
            tx.account.account_id,
            "COMMISSION",
            -fee,
            currency,
            reference=reference,
            deal_id=deal.deal_id,
        )
        tx.balance_booked(after)
    if pnl:
        _, after = await ledger_store.post_ledger(
            tx.conn,
            tx.account.account_id,
            "REALIZED_PNL",
            pnl,
            currency,
            reference=reference,
            deal_id=deal.deal_id,
        )
        tx.balance_booked(after)
    return deal


def _order_id(order: Order) -> OrderId:
    assert order.order_id is not None
    return order.order_id


async def replay(conn: Conn, order: Order) -> Booked:
    """What an order's fills did, read back (idempotent retries, settled orders)."""
    order_id = _order_id(order)
    deals = await position_store.deals_of_order(conn, order_id)
    positions = await position_store.touched_by_order(conn, order_id)
    return Booked(deals, positions)
