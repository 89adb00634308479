"""Pure trading rules over the domain model: sessions, pending-order triggers, SL / TP, trailing
stops and netting. No I/O; oms's use cases and the trigger watcher apply the same rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from fxmesh.money import ZERO
from oms.domain.model import (
    CloseReason,
    DealEntry,
    Order,
    OrderStatus,
    OrderTrigger,
    OrderType,
    Price,
    Session,
    Side,
    closing_price,
)

# --- sessions ------------------------------------------------------------------------------------


def parse_sessions(raw: object) -> tuple[Session, ...]:
    """The ``oms.symbols.trading_sessions`` JSON: ``[{"weekday", "from": "HH:MM", "to"}]``."""
    if not isinstance(raw, list):
        return ()

    def minutes(text: str) -> int:
        hours, _, mins = text.partition(":")
        return int(hours) * 60 + int(mins or 0)

    return tuple(
        Session(int(item["weekday"]), minutes(item["from"]), minutes(item["to"])) for item in raw
    )


def session_open(sessions: tuple[Session, ...], now: datetime) -> bool:
    """Whether ``now`` (UTC) falls in one of the sessions; no sessions at all means always open."""
    if not sessions:
        return True
    minute = now.hour * 60 + now.minute
    weekday = now.isoweekday()
    return any(s.weekday == weekday and s.start_minute <= minute < s.end_minute for s in sessions)


def end_of_day(now: datetime) -> datetime:
    """The UTC midnight that ends ``now``'s day: when a DAY order expires."""
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=now.tzinfo)


# --- price rules of pending orders and protected positions ---------------------------------------


def trigger_side_price(side: Side, price: Price) -> Decimal:
    """Buy orders watch (and trade at) the ask, sell orders the bid."""
    return price.ask if side is Side.BUY else price.bid


def pending_action(order: Order, price: Price) -> OrderTrigger | None:
    """What a WORKING order does at this quote: TRIGGER, ACTIVATE (a stop-limit's stop) or None.

    Buy limit: ask <= price. Buy stop: ask >= price. Sell limit: bid >= price. Sell stop:
    bid <= price. A stop-limit activates like a stop and then triggers like a limit at its
    stop_limit_price.
    """
    if order.status is not OrderStatus.WORKING or order.price is None:
        return None
    at = trigger_side_price(order.side, price)
    buy = order.side is Side.BUY
    if order.type is OrderType.LIMIT:
        return OrderTrigger.TRIGGER if (at <= order.price if buy else at >= order.price) else None
    if order.type is OrderType.STOP:
        return OrderTrigger.TRIGGER if (at >= order.price if buy else at <= order.price) else None
    if order.type is OrderType.STOP_LIMIT:
        if not order.stop_limit_active:
            reached = at >= order.price if buy else at <= order.price
            return OrderTrigger.ACTIVATE if reached else None
        limit = order.stop_limit_price
        if limit is None:
            return None
        return OrderTrigger.TRIGGER if (at <= limit if buy else at >= limit) else None
    return None


def protection_hit(
    side: Side, stop_loss: Decimal | None, take_profit: Decimal | None, price: Price
) -> CloseReason | None:
    """Whether a position's SL or TP is reached at its closing price (SL wins a gap over both)."""
    close = closing_price(side, price)
    if stop_loss is not None and (close <= stop_loss if side is Side.BUY else close >= stop_loss):
        return CloseReason.STOP_LOSS
    if take_profit is not None and (
        close >= take_profit if side is Side.BUY else close <= take_profit
    ):
        return CloseReason.TAKE_PROFIT
    return None


def trailing_improves(
    side: Side,
    current: Decimal | None,
    candidate: Decimal,
    step_points: int,
    point: Decimal,
) -> bool:
    """A trailing stop moves only in the client's favour, and by at least the step."""
    if current is None:
        return True
    step = step_points * point
    if side is Side.BUY:
        return candidate > current and candidate - current >= step
    return candidate < current and current - candidate >= step


# --- netting -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NettingOutcome:
    """How one fill changes a netting account's position in its symbol."""

    entry: DealEntry
    closed_volume: Decimal  # taken off the existing position (OUT part)
    opened_volume: Decimal  # added to it, or opened on the other side after a reversal (IN part)


def net_fill(
    position_side: Side | None, position_volume: Decimal, fill_side: Side, fill_volume: Decimal
) -> NettingOutcome:
    """IN (open or add), OUT (reduce or close) or INOUT (close and open the rest reversed)."""
    if position_side is None or position_volume == 0 or position_side is fill_side:
        return NettingOutcome(DealEntry.IN, ZERO, fill_volume)
    if fill_volume <= position_volume:
        return NettingOutcome(DealEntry.OUT, fill_volume, ZERO)
    return NettingOutcome(DealEntry.INOUT, position_volume, fill_volume - position_volume)


AVERAGE_PRICE_PLACES = 10


def average_price(
    volume: Decimal, price: Decimal, added_volume: Decimal, added_price: Decimal
) -> Decimal:
    """Volume-weighted open price after adding to a position (kept to 10 places)."""
    raw = (volume * price + added_volume * added_price) / (volume + added_volume)
    return raw.quantize(Decimal(1).scaleb(-AVERAGE_PRICE_PLACES)).normalize()
