"""Pure model of the FIX gateway: LP market-data entries, raw ticks, and the per-LP top of book.

Nothing here touches QuickFIX, gRPC or the event loop. Prices arrive as the FIX field strings and
become ``Decimal`` here; a malformed entry is skipped with a counted, named reason, never guessed.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum

# FIX PRICE/QTY fields are plain decimals: optional sign, digits, optional fraction. No exponent,
# no NaN/Infinity, no thousands separators (all of which Decimal() itself would accept or mangle).
_DECIMAL_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_SENDING_TIME_FORMATS = ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S")
# The canonical UTCTimestamp shapes, read without strptime (~6 us a call, once per LP message);
# anything else still goes through strptime, so what is accepted does not change.
_SENDING_TIME_RE = re.compile(
    r"(\d{4})(\d{2})(\d{2})-(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?", re.ASCII
)

BID = "0"
OFFER = "1"


class SkipReason(StrEnum):
    """Why a market-data entry was not used (the label of the skipped-entries counter)."""

    MISSING_SYMBOL = "MISSING_SYMBOL"
    MISSING_ENTRY_TYPE = "MISSING_ENTRY_TYPE"
    UNSUPPORTED_ENTRY_TYPE = "UNSUPPORTED_ENTRY_TYPE"
    MISSING_PRICE = "MISSING_PRICE"
    MALFORMED_PRICE = "MALFORMED_PRICE"
    NON_POSITIVE_PRICE = "NON_POSITIVE_PRICE"
    MALFORMED_SIZE = "MALFORMED_SIZE"
    DELETE_ACTION = "DELETE_ACTION"


class MalformedDecimal(ValueError):
    """A FIX field that should hold a decimal number does not."""


def parse_fix_decimal(text: str) -> Decimal:
    """Parse a FIX PRICE/QTY/AMT string exactly; raise MalformedDecimal for anything else."""
    value = text.strip()
    if not _DECIMAL_RE.match(value):
        raise MalformedDecimal(f"not a FIX decimal: {text!r}")
    try:
        return Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid input
        raise MalformedDecimal(f"not a FIX decimal: {text!r}") from exc


def parse_sending_time(text: str | None) -> datetime | None:
    """Parse a FIX UTCTimestamp (``YYYYMMDD-HH:MM:SS[.sss[sss]]``) into an aware UTC datetime."""
    if not text:
        return None
    match = _SENDING_TIME_RE.fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second, fraction = match.groups()
        try:
            return datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                int(fraction.ljust(6, "0")) if fraction else 0,
                tzinfo=UTC,
            )
        except ValueError:
            pass  # out-of-range field: strptime below decides, as before
    for fmt in _SENDING_TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One market-data entry as read from a FIX group: every field still its wire string."""

    symbol: str | None
    entry_type: str | None
    price: str | None
    size: str | None = None
    update_action: str | None = None  # 279 on 35=X; None on a full refresh


@dataclass(frozen=True, slots=True)
class BookEntry:
    """A validated top-of-book entry."""

    symbol: str
    side: str  # BID or OFFER
    price: Decimal
    size: Decimal | None


@dataclass(frozen=True, slots=True)
class MarketDataUpdate:
    """A parsed 35=W or 35=X from one LP."""

    lp: str
    full_refresh: bool
    entries: tuple[BookEntry, ...]
    skipped: tuple[SkipReason, ...]
    lp_time: datetime | None
    received_monotonic: float


def validate_entry(raw: RawEntry, default_symbol: str | None) -> BookEntry | SkipReason:
    """Turn one raw entry into a BookEntry, or name why it is unusable."""
    symbol = raw.symbol or default_symbol
    if not symbol:
        return SkipReason.MISSING_SYMBOL
    if raw.entry_type is None:
        return SkipReason.MISSING_ENTRY_TYPE
    if raw.entry_type not in (BID, OFFER):
        return SkipReason.UNSUPPORTED_ENTRY_TYPE
    if raw.update_action == "2":
        # A delete leaves the last good price in place; the next new/change replaces it.
        return SkipReason.DELETE_ACTION
    if raw.price is None:
        return SkipReason.MISSING_PRICE
    try:
        price = parse_fix_decimal(raw.price)
    except MalformedDecimal:
        return SkipReason.MALFORMED_PRICE
    if price <= 0:
        return SkipReason.NON_POSITIVE_PRICE
    size: Decimal | None = None
    if raw.size is not None:
        try:
            size = parse_fix_decimal(raw.size)
        except MalformedDecimal:
            return SkipReason.MALFORMED_SIZE
    return BookEntry(symbol=symbol, side=raw.entry_type, price=price, size=size)


def build_update(
    lp: str,
    full_refresh: bool,
    raw_entries: list[RawEntry],
    default_symbol: str | None,
    lp_time: datetime | None,
    received_monotonic: float,
) -> MarketDataUpdate:
    """Validate every raw entry of one message into a MarketDataUpdate."""
    entries: list[BookEntry] = []
    skipped: list[SkipReason] = []
    for raw in raw_entries:
        result = validate_entry(raw, default_symbol)
        if isinstance(result, BookEntry):
            entries.append(result)
        else:
            skipped.append(result)
    return MarketDataUpdate(
        lp=lp,
        full_refresh=full_refresh,
        entries=tuple(entries),
        skipped=tuple(skipped),
        lp_time=lp_time,
        received_monotonic=received_monotonic,
    )


def map_update_symbols(
    update: MarketDataUpdate, broker_symbols: dict[str, str]
) -> MarketDataUpdate:
    """The update with each LP symbol renamed to the broker's (unmapped symbols stay)."""
    if not broker_symbols:
        return update
    entries = tuple(
        BookEntry(broker_symbols[e.symbol], e.side, e.price, e.size)
        if e.symbol in broker_symbols
        else e
        for e in update.entries
    )
    return MarketDataUpdate(
        lp=update.lp,
        full_refresh=update.full_refresh,
        entries=entries,
        skipped=update.skipped,
        lp_time=update.lp_time,
        received_monotonic=update.received_monotonic,
    )


Level = tuple[Decimal, Decimal]
"""(price, size in units of the base currency)."""


@dataclass(frozen=True, slots=True)
class RawTick:
    """A two-sided LP price, as forwarded to quotes (source = the LP's configured name)."""

    symbol: str
    bid: Decimal
    ask: Decimal
    lp_time: datetime
    source: str
    received_monotonic: float
    bid_levels: tuple[Level, ...] = ()
    """Depth, best first (the first at ``bid``); empty for top of book only."""
    ask_levels: tuple[Level, ...] = ()


def _levels(entries: list[BookEntry], side: str) -> tuple[Level, ...]:
    """One side of a snapshot as depth, best first; empty unless every entry has a size."""
    mine = [e for e in entries if e.side == side]
    if not mine or any(e.size is None or e.size <= 0 for e in mine):
        return ()
    ordered = sorted(mine, key=lambda e: e.price, reverse=side == BID)
    return tuple((e.price, e.size) for e in ordered if e.size is not None)


@dataclass(slots=True)
class TopOfBook:
    """Latest bid and offer per symbol for one LP, fed by full and incremental refreshes.

    A full refresh (35=W) replaces a symbol's book: with several entries per side (a depth
    subscription) the best is the top and all of them, best first, are its depth. An incremental
    refresh (35=X) moves the top of book only; it drops the symbol's depth, which the next full
    refresh brings back (depth subscriptions ask for full refreshes only).

    Ticks carry the depth only with ``forward_depth``: quotes and the B-book read a level's size
    in units of the base currency, which an LP counting lots (``QtyUnit.LOTS``) does not send, and
    fixgw does not know contract sizes. Such an LP's depth still orders the A-book's LP choice,
    which converts through the order's contract size.
    """

    lp: str
    forward_depth: bool = True
    bids: dict[str, Decimal] = field(default_factory=dict)
    asks: dict[str, Decimal] = field(default_factory=dict)
    bid_depth: dict[str, tuple[Level, ...]] = field(default_factory=dict)
    ask_depth: dict[str, tuple[Level, ...]] = field(default_factory=dict)

    def apply(self, update: MarketDataUpdate, now: datetime) -> list[RawTick]:
        """Apply an update; return one tick per touched symbol that now has both sides."""
        touched: dict[str, list[BookEntry]] = {}
        for entry in update.entries:
            touched.setdefault(entry.symbol, []).append(entry)
        for symbol, entries in touched.items():
            if update.full_refresh:
                self._replace(symbol, entries)
                continue
            for entry in entries:
                book = self.bids if entry.side == BID else self.asks
                book[symbol] = entry.price
            self.bid_depth.pop(symbol, None)
            self.ask_depth.pop(symbol, None)
        ticks: list[RawTick] = []
        for symbol in touched:
            bid = self.bids.get(symbol)
            ask = self.asks.get(symbol)
            if bid is None or ask is None:
                continue
            ticks.append(
                RawTick(
                    symbol=symbol,
                    bid=bid,
                    ask=ask,
                    lp_time=update.lp_time or now,
                    source=self.lp,
                    received_monotonic=update.received_monotonic,
                    bid_levels=self.bid_depth.get(symbol, ()) if self.forward_depth else (),
                    ask_levels=self.ask_depth.get(symbol, ()) if self.forward_depth else (),
                )
            )
        return ticks

    def _replace(self, symbol: str, entries: list[BookEntry]) -> None:
        for side, top, depth, best in (
            (BID, self.bids, self.bid_depth, max),
            (OFFER, self.asks, self.ask_depth, min),
        ):
            prices = [e.price for e in entries if e.side == side]
            if not prices:
                continue
            top[symbol] = best(prices)
            levels = _levels(entries, side)
            if levels:
                depth[symbol] = levels
            else:
                depth.pop(symbol, None)

    def clear(self) -> None:
        """Forget every price (on logout: a new session starts from a fresh snapshot)."""
        self.bids.clear()
        self.asks.clear()
        self.bid_depth.clear()
        self.ask_depth.clear()


TRADE = "F"
# FIX 4.2 ExecType values dropped in 4.4 (partial fill / fill): both are trades (ExecType F).
LEGACY_TRADE_EXEC_TYPES = frozenset(("1", "2"))


def normalize_exec_type(exec_type: str) -> str:
    """ExecType as FIX 4.4 means it: the FIX 4.2 partial fill / fill ('1' / '2') read as 'F'."""
    return TRADE if exec_type in LEGACY_TRADE_EXEC_TYPES else exec_type


@dataclass(frozen=True, slots=True)
class ExecutionReport:
    """A parsed 35=8. ``symbol`` is the broker's name (the LP's mapped back).

    ``exec_type`` is normalized (legacy '1'/'2' become 'F'); ``exec_type_raw`` is what the LP sent.
    Every field the LP may leave out is None (or empty for identifiers); missing fields never fail
    the parse.
    """

    lp: str
    cl_ord_id: str
    order_id: str
    exec_id: str
    exec_type: str
    ord_status: str
    symbol: str
    side: str
    last_qty: Decimal | None
    last_px: Decimal | None
    cum_qty: Decimal | None
    leaves_qty: Decimal | None
    avg_px: Decimal | None
    text: str | None
    orig_cl_ord_id: str | None = None
    ord_rej_reason: str | None = None
    transact_time: datetime | None = None
    poss_dup: bool = False
    poss_resend: bool = False
    received_at: datetime | None = None
    exec_type_raw: str = ""
    lp_symbol: str = ""
    seq_num: int | None = None


@dataclass(frozen=True, slots=True)
class CancelReject:
    """A parsed 35=9 OrderCancelReject: the cancel (or status) request was not carried out."""

    lp: str
    cl_ord_id: str
    orig_cl_ord_id: str | None
    order_id: str | None
    ord_status: str | None
    response_to: str | None  # CxlRejResponseTo (434): '1' cancel, '2' cancel/replace
    reason: str | None  # CxlRejReason (102)
    text: str | None
    poss_dup: bool = False
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class BusinessReject:
    """A parsed 35=j BusinessMessageReject: an application message the LP could not process."""

    lp: str
    ref_msg_type: str | None  # RefMsgType (372), e.g. 'D'
    ref_id: str | None  # BusinessRejectRefID (379): the ClOrdID for an order
    ref_seq_num: int | None  # RefSeqNum (45)
    reason: str | None  # BusinessRejectReason (380)
    text: str | None
    poss_dup: bool = False
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class SessionReject:
    """A parsed 35=3 Reject: a message refused at session level (RefSeqNum names it)."""

    lp: str
    ref_seq_num: int | None  # RefSeqNum (45)
    ref_msg_type: str | None  # RefMsgType (372)
    ref_tag: int | None  # RefTagID (371)
    reason: str | None  # SessionRejectReason (373)
    text: str | None
    poss_dup: bool = False
    received_at: datetime | None = None


def parse_int(text: str | None) -> int | None:
    """A FIX INT/SEQNUM field, or None when absent or malformed."""
    if text is None:
        return None
    value = text.strip()
    return int(value) if value.isdigit() else None


def count_reasons(reasons: tuple[SkipReason, ...]) -> Counter[SkipReason]:
    """Tally skip reasons (for metrics)."""
    return Counter(reasons)
