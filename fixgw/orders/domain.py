"""Pure model of A-book orders at the LPs: attempts, ExecutionReport aggregation, order outcome.

No I/O here. An order (one fxmesh order id) is executed through attempts, each one NewOrderSingle
to one LP with its own ClOrdID. ExecutionReports change an attempt only through ``apply_report``,
which applies each ExecID once and tracks the cumulative quantity from the LP's CumQty, so a replay
(PossDup), a duplicated ExecID or a status answer never counts a fill twice. Quantities inside an
attempt are the LP's (units or lots, as sent); fills and views are in lots.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from enum import StrEnum

from fixgw.config import OrderStyle, QtyUnit
from fixgw.domain import ExecutionReport, normalize_exec_type
from fxmesh.reasons import Reason

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def fix(self) -> str:
        """Side (54) on the wire."""
        return "1" if self is Side.BUY else "2"


class OrderStatus(StrEnum):
    """Where an order stands at the LPs (``LpOrderStatus`` without the prefix)."""

    PENDING = "PENDING"
    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"
    NOT_FOUND = "NOT_FOUND"


class AttemptStatus(StrEnum):
    """One NewOrderSingle's fate. PENDING: sent, not final; UNKNOWN: held for reconciliation."""

    PENDING = "PENDING"
    UNKNOWN = "UNKNOWN"
    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    REJECTED = "REJECTED"

    @property
    def final(self) -> bool:
        return self in _FINAL_ATTEMPT


_FINAL_ATTEMPT = frozenset(
    (AttemptStatus.FILLED, AttemptStatus.PARTIALLY_FILLED, AttemptStatus.REJECTED)
)


# OrdStatus (39) values that end an order at the LP.
FINAL_ORD_STATUSES = frozenset(("2", "3", "4", "8", "C"))
WORKING_ORD_STATUSES = frozenset(("0", "1", "5", "6", "7", "9", "A", "D", "E"))
TRADE = "F"
ORDER_STATUS = "I"


# -- quantities and prices ---------------------------------------------------------------------


def plain(value: Decimal) -> str:
    """A decimal as FIX and protobuf want it: no exponent, no trailing zeros ("10000", "1.1")."""
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def qty_factor(contract_size: Decimal, unit: QtyUnit) -> Decimal:
    """LP quantity per lot: the contract size for an LP counting units, 1 for one counting lots."""
    return contract_size if unit is QtyUnit.UNITS else Decimal(1)


def to_lots(lp_qty: Decimal, factor: Decimal) -> Decimal:
    """An LP quantity back in lots, exactly (normalized)."""
    return (lp_qty / factor).normalize()


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True, slots=True)
class OrderTerms:
    """How one attempt goes out: OrdType / TimeInForce and the limit price (None for MARKET)."""

    style: OrderStyle
    limit_price: Decimal | None


def order_terms(
    style: OrderStyle,
    side: Side,
    worst_price: Decimal | None,
    top_of_book: tuple[Decimal, Decimal] | None,
    slippage: Decimal,
) -> OrderTerms | None:
    """The terms for an LP with ``style``; None when a limit is needed and the LP has no price.

    A worst price always goes as a limit at it (LIMIT IOC for a MARKET LP, so the LP enforces it).
    Without one, a LIMIT LP gets its own current price (ask for a buy, bid for a sell) moved by
    ``slippage`` (a fraction) against us, rounded to the quote's precision toward the quote.
    """
    if worst_price is not None:
        kept = style if style is not OrderStyle.MARKET else OrderStyle.LIMIT_IOC
        return OrderTerms(kept, worst_price)
    if style is OrderStyle.MARKET:
        return OrderTerms(style, None)
    if top_of_book is None:
        return None
    bid, ask = top_of_book
    quantum = Decimal(1).scaleb(-max(_places(bid), _places(ask)))
    if side is Side.BUY:
        limit = (ask * (1 + slippage)).quantize(quantum, rounding=ROUND_DOWN)
    else:
        limit = (bid * (1 - slippage)).quantize(quantum, rounding=ROUND_UP)
    return OrderTerms(style, limit)


# -- ClOrdIDs --------------------------------------------------------------------------------

_SUFFIX = re.compile(r"^(?P<base>.+-\d+)-[CS][0-9a-z]+$")


def cl_ord_id(prefix: str, order_id: str, attempt_no: int) -> str:
    """The ClOrdID of an attempt: unique forever, since attempt numbers are durable."""
    return f"{prefix}{order_id}-{attempt_no}"


def parse_cl_ord_id(prefix: str, value: str) -> tuple[str, int] | None:
    """(order_id, attempt_no) of one of our ClOrdIDs (a cancel's or status query's id included)."""
    match = _SUFFIX.match(value)
    base = match["base"] if match else value
    if not base.startswith(prefix):
        return None
    order_id, sep, number = base[len(prefix) :].rpartition("-")
    if not sep or not order_id or not number.isdigit():
        return None
    return order_id, int(number)


def attempt_cl_ord_id(prefix: str, value: str) -> str | None:
    """The attempt ClOrdID behind ``value`` (itself, or the one a cancel/status id derives from)."""
    parsed = parse_cl_ord_id(prefix, value)
    return None if parsed is None else cl_ord_id(prefix, *parsed)


# -- attempts and their reports ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution at an LP (volume in lots)."""

    lp: str
    lp_order_id: str
    exec_id: str
    cl_ord_id: str
    price: Decimal
    volume: Decimal
    transact_time: datetime | None
    received_at: datetime


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """What is stored for one applied report (unique per LP and ExecID)."""

    lp: str
    exec_id: str
    cl_ord_id: str
    exec_type: str
    ord_status: str | None
    lp_order_id: str | None
    last_qty: Decimal | None  # lots; set only for a fill
    last_px: Decimal | None
    transact_time: datetime | None
    received_at: datetime
    poss_dup: bool


@dataclass(frozen=True, slots=True)
class Attempt:
    """One NewOrderSingle to one LP and what the LP said about it."""

    cl_ord_id: str
    order_id: str
    attempt_no: int
    lp: str
    lp_symbol: str
    side: Side
    style: OrderStyle
    limit_price: Decimal | None
    lp_qty: Decimal  # OrderQty as sent
    qty_factor: Decimal  # LP quantity per lot
    status: AttemptStatus
    sent_at: datetime
    lp_order_id: str | None = None
    filled_lp_qty: Decimal = ZERO
    avg_price: Decimal | None = None
    reject_reason: str | None = None
    reject_message: str | None = None
    final_at: datetime | None = None
    fills: tuple[Fill, ...] = ()
    exec_ids: frozenset[str] = frozenset()
    # Not stored: a held attempt loaded at start counts as timed out; a cancel we asked for
    # names the reason a no-fill ending gets (LP_TIMEOUT or LP_CANCELLED).
    timed_out: bool = False
    cancel_reason: str | None = None

    @property
    def filled(self) -> Decimal:
        """Filled volume in lots."""
        return to_lots(self.filled_lp_qty, self.qty_factor)

    @property
    def volume(self) -> Decimal:
        return to_lots(self.lp_qty, self.qty_factor)

    @property
    def unresolved(self) -> bool:
        return not self.status.final


@dataclass(frozen=True, slots=True)
class Applied:
    """The outcome of one report: the attempt after it, and the row to store (None: no row)."""

    attempt: Attempt
    execution: ExecutionRow | None
    fill: Fill | None
    became_final: bool


def _fill_delta(
    attempt: Attempt, report: ExecutionReport, exec_type: str
) -> tuple[Decimal, Decimal | None] | None:
    """(LP quantity newly filled, its price) by this report, or None when nothing new filled.

    CumQty decides how much is new, so a replayed trade report (or one a status answer already
    covered) adds nothing; a report without CumQty counts its LastQty. The price is LastPx when
    the new quantity is exactly LastQty, else what AvgPx over CumQty leaves for the new part.
    """
    if report.cum_qty is not None:
        delta = report.cum_qty - attempt.filled_lp_qty
    elif exec_type == TRADE and report.last_qty is not None:
        delta = report.last_qty
    else:
        return None
    if delta <= 0:
        return None
    if exec_type == TRADE and report.last_qty == delta and report.last_px is not None:
        return delta, report.last_px
    if report.avg_px is not None and report.avg_px > 0 and report.cum_qty is not None:
        prior = attempt.filled_lp_qty * (attempt.avg_price or ZERO)
        if attempt.filled_lp_qty == 0:
            return delta, report.avg_px
        price = (report.cum_qty * report.avg_px - prior) / delta
        quantum = Decimal(1).scaleb(
            -max(_places(report.avg_px), _places(attempt.avg_price or ZERO))
        )
        return delta, price.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if report.last_px is not None and report.last_px > 0:
        return delta, report.last_px
    return delta, None


def _settle(
    attempt: Attempt, report: ExecutionReport, exec_type: str
) -> tuple[AttemptStatus, str | None, str | None]:
    """(status, reject reason, message) once the report's fill (if any) is counted."""
    ord_status = report.ord_status or ""
    if ord_status not in FINAL_ORD_STATUSES and ord_status not in WORKING_ORD_STATUSES:
        ord_status = exec_type if exec_type in FINAL_ORD_STATUSES else ""
    filled = attempt.filled_lp_qty
    if ord_status == "2" or (filled >= attempt.lp_qty and filled > 0):
        if filled >= attempt.lp_qty:
            return AttemptStatus.FILLED, None, None
        if filled > 0:
            return AttemptStatus.PARTIALLY_FILLED, None, report.text
        return attempt.status, attempt.reject_reason, attempt.reject_message  # no quantity: unsure
    if ord_status not in FINAL_ORD_STATUSES:
        return attempt.status, attempt.reject_reason, attempt.reject_message
    if filled > 0:
        return AttemptStatus.PARTIALLY_FILLED, None, report.text
    if ord_status == "8" and (exec_type == "8" or not attempt.timed_out):
        return AttemptStatus.REJECTED, Reason.LP_REJECTED, report.text
    if attempt.cancel_reason is not None:
        # Cancelled at our request: the reason we asked with (LP_TIMEOUT or LP_CANCELLED).
        return AttemptStatus.REJECTED, attempt.cancel_reason, report.text
    if attempt.timed_out:
        return AttemptStatus.REJECTED, Reason.LP_TIMEOUT, report.text
    return AttemptStatus.REJECTED, Reason.LP_EXPIRED, report.text


def apply_report(
    attempt: Attempt, report: ExecutionReport, received_at: datetime
) -> Applied | None:
    """Apply one ExecutionReport to ``attempt``; None when it changes nothing (a duplicate).

    A report whose ExecID this attempt has seen is ignored, except a status answer (ExecType I,
    whose ExecID LPs often leave "0"), which changes only what its CumQty and OrdStatus add.
    A final attempt stays final; only a fill reported after it (an LP's late trade) still counts.
    """
    exec_type = normalize_exec_type(report.exec_type)
    exec_id = report.exec_id.strip()
    status_answer = exec_type == ORDER_STATUS
    if exec_id and not status_answer and exec_id in attempt.exec_ids:
        return None
    lp_order_id = attempt.lp_order_id
    if report.order_id and report.order_id.strip().upper() not in ("", "NONE"):
        lp_order_id = report.order_id
    updated = replace(attempt, lp_order_id=lp_order_id)
    fill: Fill | None = None
    delta = _fill_delta(attempt, report, exec_type)
    if delta is not None:
        qty, price = delta
        if price is None:
            # A fill without any price cannot be booked: leave the attempt as it is (a status
            # query asks again) rather than guess.
            return None
        cum = attempt.filled_lp_qty + qty
        fill = Fill(
            lp=attempt.lp,
            lp_order_id=lp_order_id or "",
            exec_id=exec_id
            if exec_type == TRADE and exec_id
            else f"{attempt.cl_ord_id}@{plain(cum)}",
            cl_ord_id=attempt.cl_ord_id,
            price=price,
            volume=to_lots(qty, attempt.qty_factor),
            transact_time=report.transact_time,
            received_at=received_at,
        )
        fills = (*attempt.fills, fill)
        updated = replace(
            updated,
            filled_lp_qty=cum,
            avg_price=average_price(fills),
            fills=fills,
        )
    if attempt.status.final:
        status, reason, message = attempt.status, attempt.reject_reason, attempt.reject_message
        if fill is not None:
            full = updated.filled_lp_qty >= attempt.lp_qty
            status = AttemptStatus.FILLED if full else AttemptStatus.PARTIALLY_FILLED
            reason, message = None, None
    else:
        status, reason, message = _settle(updated, report, exec_type)
    became_final = status.final and not attempt.status.final
    updated = replace(
        updated,
        status=status,
        reject_reason=reason,
        reject_message=message,
        final_at=received_at if became_final else attempt.final_at,
    )
    row_id = fill.exec_id if fill is not None else ("" if status_answer else exec_id)
    execution: ExecutionRow | None = None
    if row_id:
        execution = ExecutionRow(
            lp=attempt.lp,
            exec_id=row_id,
            cl_ord_id=attempt.cl_ord_id,
            exec_type=exec_type,
            ord_status=report.ord_status or None,
            lp_order_id=lp_order_id,
            last_qty=fill.volume if fill is not None else None,
            last_px=fill.price if fill is not None else None,
            transact_time=report.transact_time,
            received_at=received_at,
            poss_dup=report.poss_dup or report.poss_resend,
        )
        updated = replace(updated, exec_ids=attempt.exec_ids | {row_id})
    if execution is None and updated == attempt:
        return None
    return Applied(updated, execution, fill, became_final)


def reject(attempt: Attempt, reason: str, message: str | None, when: datetime) -> Attempt | None:
    """The attempt REJECTED (35=j / 35=3 on the order, or never sent); None if already final."""
    if attempt.status.final:
        return None
    if attempt.filled_lp_qty > 0:
        return replace(
            attempt, status=AttemptStatus.PARTIALLY_FILLED, reject_message=message, final_at=when
        )
    return replace(
        attempt,
        status=AttemptStatus.REJECTED,
        reject_reason=reason,
        reject_message=message,
        final_at=when,
    )


def is_working(report: ExecutionReport) -> bool:
    """The LP says the order is live (a held attempt then also gets a cancel)."""
    return (report.ord_status or "") in WORKING_ORD_STATUSES


# -- orders ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExecuteCommand:
    """ExecuteOrder's request, validated."""

    order_id: str
    account_id: str
    symbol: str
    side: Side
    volume: Decimal  # lots
    contract_size: Decimal
    worst_price: Decimal | None = None
    lps: tuple[str, ...] = ()
    preferred_lps: tuple[str, ...] = ()
    """Tried first, in this order, among the LPs of ``lps`` (or the symbol's list)."""


@dataclass(frozen=True, slots=True)
class OrderRecord:
    """The durable order row (symbol etc. are None only for a fenced order id)."""

    order_id: str
    account_id: str | None
    symbol: str | None
    side: Side | None
    volume: Decimal | None
    contract_size: Decimal | None
    fenced: bool
    reject_reason: str | None = None
    reject_message: str | None = None

    def matches(self, cmd: ExecuteCommand) -> bool:
        """Whether ``cmd`` is this order again (same account, symbol, side and volume)."""
        return (
            self.account_id == cmd.account_id
            and self.symbol == cmd.symbol
            and self.side == cmd.side
            and self.volume == cmd.volume
        )


@dataclass(frozen=True, slots=True)
class OrderView:
    """Everything known about one order at the LPs (what the RPCs answer)."""

    order_id: str
    status: OrderStatus
    fills: tuple[Fill, ...] = ()
    filled_volume: Decimal = ZERO
    average_price: Decimal | None = None
    reject_reason: str | None = None
    reject_message: str | None = None
    attempts: tuple[Attempt, ...] = field(default_factory=tuple)


def average_price(fills: Iterable[Fill]) -> Decimal | None:
    """Volume-weighted price of ``fills``: exact for one price, else to 4 places beyond theirs."""
    items = list(fills)
    volume = sum((f.volume for f in items), ZERO)
    if volume <= 0:
        return None
    prices = {f.price for f in items}
    if len(prices) == 1:
        return prices.pop()
    value = sum((f.volume * f.price for f in items), ZERO) / volume
    quantum = Decimal(1).scaleb(-(max(_places(p) for p in prices) + 4))
    return value.quantize(quantum, rounding=ROUND_HALF_EVEN).normalize()


def order_view(record: OrderRecord, attempts: Sequence[Attempt], running: bool) -> OrderView:
    """The order's outcome from its attempts; ``running``: an execution run is still going."""
    if record.fenced:
        return OrderView(record.order_id, OrderStatus.NOT_FOUND, reject_reason=Reason.ORDER_FENCED)
    ordered = tuple(sorted(attempts, key=lambda a: a.attempt_no))
    fills = tuple(f for a in ordered for f in a.fills)
    filled = sum((f.volume for f in fills), ZERO)
    base = OrderView(
        order_id=record.order_id,
        status=OrderStatus.PENDING,
        fills=fills,
        filled_volume=filled,
        average_price=average_price(fills),
        attempts=ordered,
    )
    if any(a.status is AttemptStatus.UNKNOWN for a in ordered):
        held = next(a for a in ordered if a.status is AttemptStatus.UNKNOWN)
        return replace(
            base,
            status=OrderStatus.UNKNOWN,
            reject_reason=Reason.LP_TIMEOUT,
            reject_message=held.reject_message,
        )
    if running or any(a.status is AttemptStatus.PENDING for a in ordered):
        return base
    if filled > 0:
        full = record.volume is not None and filled >= record.volume
        status = OrderStatus.FILLED if full else OrderStatus.PARTIALLY_FILLED
        return replace(base, status=status)
    if record.reject_reason is not None or not ordered:
        return replace(
            base,
            status=OrderStatus.REJECTED,
            reject_reason=record.reject_reason or Reason.NO_LIQUIDITY,
            reject_message=record.reject_message,
        )
    last = ordered[-1]
    return replace(
        base,
        status=OrderStatus.REJECTED,
        reject_reason=last.reject_reason or Reason.LP_REJECTED,
        reject_message=last.reject_message,
    )
