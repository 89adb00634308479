"""The simulator's order model: pure, no FIX and no I/O.

An order changes only through ``SimOrder``'s methods, each a move of the (FIX 4.4) OrdStatus
table below; an illegal move raises ``IllegalTransition`` naming both states.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Literal

from fixgw.lpsim.knobs import OrderStyle

BUY, SELL = "1", "2"

PENDING_NEW = "A"
NEW = "0"
PARTIALLY_FILLED = "1"
FILLED = "2"
CANCELED = "4"
REJECTED = "8"
EXPIRED = "C"
FINAL = frozenset((FILLED, CANCELED, REJECTED, EXPIRED))

Trigger = Literal["accept", "fill", "reject", "cancel", "expire"]

_TRANSITIONS: dict[tuple[str, Trigger], str | None] = {
    (PENDING_NEW, "accept"): NEW,
    (PENDING_NEW, "reject"): REJECTED,
    (NEW, "fill"): None,  # PARTIALLY_FILLED or FILLED, by the leaves quantity
    (PARTIALLY_FILLED, "fill"): None,
    (NEW, "cancel"): CANCELED,
    (PARTIALLY_FILLED, "cancel"): CANCELED,
    (NEW, "expire"): EXPIRED,
    (PARTIALLY_FILLED, "expire"): EXPIRED,
}

Delivery = Literal["normal", "silent", "late"]


class IllegalTransition(Exception):
    """An order event that its current state does not allow."""

    def __init__(self, state: str, trigger: str) -> None:
        super().__init__(f"order in OrdStatus {state!r} cannot {trigger}")
        self.state = state
        self.trigger = trigger


def order_style(ord_type: str, tif: str) -> OrderStyle | None:
    """MARKET (40=1), LIMIT_IOC (40=2, 59=3), LIMIT_FOK (40=2, 59=4), LIMIT (other TIF)."""
    if ord_type == "1":
        return "MARKET"
    if ord_type != "2":
        return None
    if tif == "3":
        return "LIMIT_IOC"
    if tif == "4":
        return "LIMIT_FOK"
    return "LIMIT"


def quantum_of(qty: Decimal) -> Decimal:
    """The smallest step at ``qty``'s own precision (1 for integers)."""
    exponent = qty.as_tuple().exponent
    return Decimal(1).scaleb(exponent) if isinstance(exponent, int) and exponent < 0 else Decimal(1)


def split_quantity(qty: Decimal, parts: int) -> list[Decimal]:
    """Split ``qty`` into at most ``parts`` positive pieces at the quantity's own precision."""
    base = (qty / parts).quantize(quantum_of(qty), rounding=ROUND_DOWN)
    if base <= 0:
        return [qty]
    pieces = [base] * (parts - 1)
    pieces.append(qty - base * (parts - 1))
    return pieces


def immediate_quantity(qty: Decimal, style: OrderStyle, fill_ratio: Decimal) -> Decimal:
    """How much of an order that can trade now is filled: MARKET and IOC ``fill_ratio`` of it
    (rounded down at the quantity's precision), FOK all or nothing, a resting LIMIT all."""
    if style == "LIMIT":
        return qty
    if style == "LIMIT_FOK":
        return qty if fill_ratio >= 1 else Decimal(0)
    return (qty * fill_ratio).quantize(quantum_of(qty), rounding=ROUND_DOWN)


def fill_price(side: str, bid: Decimal, ask: Decimal, slip: Decimal) -> Decimal:
    """The price an order trades at: the quote's far side, ``slip`` worse."""
    return ask + slip if side == BUY else bid - slip


def within_limit(side: str, px: Decimal, limit: Decimal | None) -> bool:
    if limit is None:
        return True
    return px <= limit if side == BUY else px >= limit


@dataclass(frozen=True, slots=True)
class SimFill:
    exec_id: str
    qty: Decimal
    px: Decimal


@dataclass(slots=True)
class SimOrder:
    """One order as the simulator knows it (what a status query answers)."""

    session: str
    cl_ord_id: str
    order_id: str
    symbol: str  # ours (the price book's)
    wire_symbol: str  # as the counterparty spelled it
    side: str
    qty: Decimal | None
    ord_type: str
    price: Decimal | None
    tif: str
    status: str = PENDING_NEW
    cum_qty: Decimal = Decimal(0)
    notional: Decimal = Decimal(0)
    text: str | None = None
    rej_reason: str | None = None
    fills: list[SimFill] = field(default_factory=list)
    delivery: Delivery = "normal"
    late_ms: int | None = None
    withheld: int = 0  # reports not sent (silence)
    received_at: float = field(default_factory=time.time)

    @property
    def style(self) -> OrderStyle | None:
        return order_style(self.ord_type, self.tif)

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def leaves_qty(self) -> Decimal:
        if self.final or self.qty is None:
            return Decimal(0)
        return self.qty - self.cum_qty

    @property
    def avg_px(self) -> Decimal:
        if not self.cum_qty:
            return Decimal(0)
        avg = self.notional / self.cum_qty
        exact = avg.quantize(Decimal("1e-10"))  # fills at one price divide exactly anyway
        return avg if avg == exact else exact

    def _move(self, trigger: Trigger) -> str | None:
        key = (self.status, trigger)
        if key not in _TRANSITIONS:
            raise IllegalTransition(self.status, trigger)
        return _TRANSITIONS[key]

    def accept(self) -> None:
        self.status = self._move("accept") or self.status

    def reject(self, reason: str, text: str) -> None:
        if self.status != PENDING_NEW:
            raise IllegalTransition(self.status, "reject")
        self.status, self.rej_reason, self.text = REJECTED, reason, text

    def fill(self, exec_id: str, qty: Decimal, px: Decimal) -> SimFill:
        self._move("fill")
        assert self.qty is not None
        if qty <= 0 or self.cum_qty + qty > self.qty:
            raise ValueError(f"fill of {qty} exceeds leaves {self.leaves_qty}")
        self.cum_qty += qty
        self.notional += qty * px
        self.status = FILLED if self.cum_qty == self.qty else PARTIALLY_FILLED
        done = SimFill(exec_id, qty, px)
        self.fills.append(done)
        return done

    def cancel(self, text: str | None = None) -> None:
        self.status = self._move("cancel") or self.status
        self.text = text

    def expire(self, status: str, text: str) -> None:
        """End the unfilled rest: OrdStatus ``status`` (4 Canceled or C Expired), cum kept."""
        self._move("expire")
        self.status, self.text = status, text

    def as_json(self) -> dict[str, Any]:
        return {
            "sessionId": self.session,
            "clOrdId": self.cl_ord_id,
            "orderId": self.order_id,
            "symbol": self.symbol,
            "side": self.side,
            "qty": None if self.qty is None else str(self.qty),
            "ordType": self.ord_type,
            "price": None if self.price is None else str(self.price),
            "tif": self.tif,
            "ordStatus": self.status,
            "cumQty": str(self.cum_qty),
            "leavesQty": str(self.leaves_qty),
            "avgPx": str(self.avg_px),
            "text": self.text,
            "fills": [
                {"execId": f.exec_id, "qty": str(f.qty), "px": str(f.px)} for f in self.fills
            ],
            "delivery": self.delivery,
            "withheldReports": self.withheld,
        }
