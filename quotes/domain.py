"""Pure pricing model: validate raw LP ticks, aggregate the best price across LPs, apply markup.

No I/O and no protobuf here; every function takes ``now_ms`` (epoch milliseconds, UTC) so tests
control time.

Rules
-----
Validation (a tick failing any check is dropped with a ``DropReason``, checked in this order):
unknown symbol, disabled symbol, unparsable or non-positive price, crossed (bid > ask), raw
spread wider than ``max_spread_points``, stale (tick time older than ``stale_after_ms``), spike
(mid moved more than ``spike_threshold_pct`` percent from the last accepted mid of the same
symbol and LP, unless that previous tick was received more than ``spike_window_ms`` ago, so an
LP that really re-prices is followed after the window).

Aggregation: the book keeps the latest accepted tick per (symbol, LP). An LP takes part while its
latest tick is fresh (``now - tick time <= stale_after_ms``). Best bid is the highest fresh bid,
best ask the lowest fresh ask. If they cross each other (best bid > best ask, which happens when
LPs disagree), the price falls back to the *primary* LP's own two-sided quote: the fresh LP
ranked first by the configured LP priority list, LPs missing from the list ranking after it in
the order they were first seen. Failover is therefore implicit: when the primary goes stale it
drops out and the next LP's prices are used.

Markup: ``markup_bid_points`` is subtracted from the bid and ``markup_ask_points`` added to the
ask (one point = 10^-digits), then the bid is quantized with ROUND_FLOOR and the ask with
ROUND_CEILING, so rounding never narrows the marked-up spread.

Group markup (``quotes.group_markups``): a client group may have its own markup on a symbol,
replacing the symbol default for that group's clients. It is in points (as above, fractions
allowed) or in percent of the price (bid x (1 - bid% / 100), ask x (1 + ask% / 100)); unequal bid
and ask parts skew the widening. After rounding, a spread narrower than ``min_spread_points`` is
widened to it, the missing points split in the proportion of the bid and ask parts (halves when
both are zero; the odd point goes to the ask). Depth levels move exactly as the top does.

Depth (LPs subscribed with a MarketDepth, ``fixgw`` ``market_depth``): an LP tick may carry levels
(price, size in base units), best first. The client price's depth per side merges the levels of
the fresh LPs that sent them, sizes summed at equal prices, best first, at most
``MAX_DEPTH_LEVELS``; it is kept only when its best level is the side's best price (else the size
at the top is unknown and the side has none). When the best prices cross, the primary's own
levels are used, as its prices are. Each level gets the side's markup and rounding, so the first
level is the client bid / ask. A level that is not a positive price and size, or levels out of
order, make the tick's depth unusable: the tick is kept, its depth dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

from fxmesh.money import quantize

DEFAULT_GROUP = ""
"""Client group whose markup is the symbol default (the only one until group markups exist)."""

_HUNDRED = Decimal(100)
MAX_DEPTH_LEVELS = 10

Level = tuple[Decimal, Decimal]
"""A depth level: (price, size in units of the base currency)."""


class DropReason(enum.StrEnum):
    """Why a raw LP tick was not accepted (the metric label value)."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    DISABLED_SYMBOL = "disabled_symbol"
    INVALID_PRICE = "invalid_price"
    CROSSED = "crossed"
    SPREAD_TOO_WIDE = "spread_too_wide"
    STALE = "stale"
    SPIKE = "spike"


@dataclass(frozen=True, slots=True)
class Markup:
    """Points taken from the bid and added to the ask."""

    bid_points: int = 0
    ask_points: int = 0


class MarkupUnit(enum.StrEnum):
    """What a group markup's bid / ask numbers are."""

    POINTS = "POINTS"
    PERCENT = "PERCENT"


@dataclass(frozen=True, slots=True)
class GroupMarkup:
    """A markup as the pricing applies it: a group's own, or a symbol default (``of``)."""

    bid: Decimal = Decimal(0)
    ask: Decimal = Decimal(0)
    unit: MarkupUnit = MarkupUnit.POINTS
    min_spread_points: int = 0

    @classmethod
    def of(cls, markup: Markup) -> GroupMarkup:
        """The symbol default markup in this form."""
        return cls(Decimal(markup.bid_points), Decimal(markup.ask_points))

    def side(self, price: Decimal, digits: int, *, bid: bool) -> Decimal:
        """One side's price with its markup, quantized outward (bid floor, ask ceiling)."""
        part = self.bid if bid else self.ask
        if self.unit is MarkupUnit.PERCENT:
            factor = part / _HUNDRED
            moved = price * (1 - factor) if bid else price * (1 + factor)
        else:
            step = part * Decimal(1).scaleb(-digits)
            moved = price - step if bid else price + step
        return quantize(moved, digits, ROUND_FLOOR if bid else ROUND_CEILING)

    def point_offsets(self, digits: int) -> tuple[Decimal, Decimal] | None:
        """(bid, ask) markup as Decimals of exponent ``-digits`` when it is whole points, else None.

        Then ``side(p, digits, bid=True) == quantize(p, digits, ROUND_FLOOR) - bid_offset`` and
        ``side(p, digits, bid=False) == quantize(p, digits, ROUND_CEILING) + ask_offset``, equal in
        value and exponent (so in ``str``): rounding commutes with moving by whole points. The
        pricing quantizes a best price once and shares it across a symbol's groups.
        """
        if self.unit is not MarkupUnit.POINTS:
            return None
        if not (self.bid.is_finite() and self.ask.is_finite()):
            return None
        if self.bid != self.bid.to_integral_value() or self.ask != self.ask.to_integral_value():
            return None
        return Decimal(int(self.bid)).scaleb(-digits), Decimal(int(self.ask)).scaleb(-digits)

    def widening(self, bid: Decimal, ask: Decimal, digits: int) -> tuple[int, int]:
        """Points to move a marked-up (bid, ask) apart so the spread is ``min_spread_points``."""
        if self.min_spread_points <= 0:
            return 0, 0
        spread = int((ask - bid).scaleb(digits))
        missing = self.min_spread_points - spread
        if missing <= 0:
            return 0, 0
        total = self.bid + self.ask
        share = self.bid / total if total > 0 else Decimal("0.5")
        to_bid = int((missing * share).to_integral_value(ROUND_FLOOR))
        return to_bid, missing - to_bid


@dataclass(frozen=True, slots=True)
class SymbolSettings:
    """Pricing configuration of one symbol (a row of ``quotes.symbol_settings``)."""

    symbol: str
    digits: int
    markup: Markup
    max_spread_points: int
    spike_threshold_pct: Decimal = Decimal("2.0")
    stale_after_ms: int = 5000
    enabled: bool = True

    @property
    def point(self) -> Decimal:
        return Decimal(1).scaleb(-self.digits)


@dataclass(frozen=True, slots=True)
class PricingConfig:
    """Every symbol's settings and the groups' own markups; swapped atomically on reload."""

    symbols: Mapping[str, SymbolSettings] = field(default_factory=dict)
    group_markups: Mapping[tuple[str, str], GroupMarkup] = field(default_factory=dict)
    """(client group, symbol) -> the group's own markup on the symbol."""
    _groups_by_symbol: dict[str, tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _defaults: dict[str, GroupMarkup] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _offsets: dict[tuple[str, str], tuple[GroupMarkup, tuple[Decimal, Decimal] | None]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        by_symbol: dict[str, list[str]] = {}
        for group, symbol in sorted(self.group_markups):
            by_symbol.setdefault(symbol, []).append(group)
        self._groups_by_symbol.update({s: tuple(g) for s, g in by_symbol.items()})
        self._defaults.update({s: GroupMarkup.of(v.markup) for s, v in self.symbols.items()})

    @classmethod
    def of(
        cls,
        settings: Iterable[SymbolSettings],
        group_markups: Mapping[tuple[str, str], GroupMarkup] | None = None,
    ) -> PricingConfig:
        return cls({s.symbol: s for s in settings}, dict(group_markups or {}))

    def get(self, symbol: str) -> SymbolSettings | None:
        return self.symbols.get(symbol)

    def groups_of(self, symbol: str) -> tuple[str, ...]:
        """The client groups with their own markup on ``symbol`` (sorted)."""
        return self._groups_by_symbol.get(symbol, ())

    def pricing_of(
        self, symbol: str, group: str, digits: int
    ) -> tuple[GroupMarkup, tuple[Decimal, Decimal] | None]:
        """``markup_for(symbol, group)`` and its ``point_offsets(digits)`` (kept per pair: a
        reload makes a new config)."""
        key = (group, symbol)
        found = self._offsets.get(key)
        if found is None:
            markup = self.markup_for(symbol, group)
            found = self._offsets[key] = (markup, markup.point_offsets(digits))
        return found

    def markup_for(self, symbol: str, group: str = DEFAULT_GROUP) -> GroupMarkup:
        """The markup ``group``'s clients get on ``symbol``: the group's own, else the default."""
        own = self.group_markups.get((group, symbol)) if group else None
        if own is not None:
            return own
        found = self._defaults.get(symbol)
        return found if found is not None else GroupMarkup.of(self.symbols[symbol].markup)


@dataclass(frozen=True, slots=True)
class RawTick:
    """An LP tick as received: prices still text, time in epoch ms (None when the LP sent none)."""

    symbol: str
    bid: str
    ask: str
    ts_ms: int | None
    source: str
    bid_levels: tuple[tuple[str, str], ...] = ()
    """Depth as the LP sent it: (price, size) texts, best first; empty for top of book."""
    ask_levels: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Depth:
    """An LP tick's levels as sent, parsed on first use: a client quote reads only the newest
    tick of each LP, so under load most ticks' levels are replaced before anyone parses them."""

    raw_bids: tuple[tuple[str, str], ...]
    raw_asks: tuple[tuple[str, str], ...]
    top_bid: Decimal
    top_ask: Decimal
    parsed: tuple[tuple[Level, ...], tuple[Level, ...]] | None = None

    def levels(self) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        if self.parsed is None:
            bids = parse_levels(self.raw_bids, bids=True)
            asks = parse_levels(self.raw_asks, bids=False)
            # Depth that does not start at the tick's own top is not the book of that price.
            self.parsed = (
                bids if bids and bids[0][0] == self.top_bid else (),
                asks if asks and asks[0][0] == self.top_ask else (),
            )
        return self.parsed


@dataclass(frozen=True, slots=True)
class LpQuote:
    """The latest accepted tick of one LP for one symbol."""

    source: str
    bid: Decimal
    ask: Decimal
    ts_ms: int
    received_ms: int
    depth: _Depth | None = field(default=None, compare=False)  # parsed lazily: not a value

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2

    @property
    def bids(self) -> tuple[Level, ...]:
        """Depth below the bid, best first; () without usable depth (module doc)."""
        return self.depth.levels()[0] if self.depth is not None else ()

    @property
    def asks(self) -> tuple[Level, ...]:
        return self.depth.levels()[1] if self.depth is not None else ()


@dataclass(frozen=True, slots=True)
class BestPrice:
    """The aggregated raw price of a symbol and the LPs it came from."""

    symbol: str
    bid: Decimal
    ask: Decimal
    ts_ms: int
    bid_source: str
    ask_source: str

    @property
    def sources(self) -> str:
        if self.bid_source == self.ask_source:
            return self.bid_source
        return f"{self.bid_source}/{self.ask_source}"


@dataclass(frozen=True, slots=True)
class PricedQuote:
    """A client price: best LP price with markup applied, quantized to the symbol's digits."""

    symbol: str
    bid: Decimal
    ask: Decimal
    ts_ms: int
    sources: str
    markup_bid: Decimal = Decimal(0)
    """Best LP bid minus ``bid``: the markup taken off the bid, rounding included."""
    markup_ask: Decimal = Decimal(0)
    """``ask`` minus the best LP ask: the markup added to the ask, rounding included."""
    bids: tuple[Level, ...] = ()
    """Client depth below the bid, best first (the first at ``bid``); empty without depth."""
    asks: tuple[Level, ...] = ()
    group: str = DEFAULT_GROUP
    """The client group this price is for ("" the default price)."""


def parse_price(text: str) -> Decimal | None:
    """A positive finite decimal, or None when the LP sent anything else."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError):
        return None
    if not value.is_finite() or value <= 0:
        return None
    return value


def parse_levels(raw: Sequence[tuple[str, str]], bids: bool) -> tuple[Level, ...]:
    """An LP's depth of one side, or () when any level is unusable or out of order."""
    levels: list[Level] = []
    for price_text, size_text in raw:
        price, size = parse_price(price_text), parse_price(size_text)
        if price is None or size is None:
            return ()
        if levels and (price >= levels[-1][0] if bids else price <= levels[-1][0]):
            return ()
        levels.append((price, size))
    return tuple(levels)


def merge_levels(books: Sequence[tuple[Level, ...]], bids: bool) -> tuple[Level, ...]:
    """Levels of several LPs as one side of a book: sizes summed per price, best first."""
    sizes: dict[Decimal, Decimal] = {}
    for book in books:
        for price, size in book:
            sizes[price] = sizes.get(price, Decimal(0)) + size
    ordered = sorted(sizes.items(), reverse=bids)
    return tuple(ordered[:MAX_DEPTH_LEVELS])


def apply_markup(
    bid: Decimal, ask: Decimal, markup: Markup, digits: int
) -> tuple[Decimal, Decimal]:
    """Widen a raw price by the markup and quantize outward (bid floor, ask ceiling)."""
    point = Decimal(1).scaleb(-digits)
    client_bid = quantize(bid - markup.bid_points * point, digits, ROUND_FLOOR)
    client_ask = quantize(ask + markup.ask_points * point, digits, ROUND_CEILING)
    return client_bid, client_ask


class PricingEngine:
    """The book of latest LP ticks per symbol, fed by ``accept`` and read by ``client_quote``."""

    def __init__(
        self,
        config: PricingConfig | None = None,
        *,
        lp_priority: Sequence[str] = (),
        spike_window_ms: int = 5000,
    ) -> None:
        self.config = config or PricingConfig()
        self._priority = {name: rank for rank, name in enumerate(lp_priority)}
        self._spike_window_ms = spike_window_ms
        self._books: dict[str, dict[str, LpQuote]] = {}
        self._first_seen: dict[str, int] = {}

    def accept(self, tick: RawTick, now_ms: int) -> DropReason | None:
        """Validate ``tick``; store it in the book and return None, or return why it was dropped."""
        settings = self.config.get(tick.symbol)
        if settings is None:
            return DropReason.UNKNOWN_SYMBOL
        if not settings.enabled:
            return DropReason.DISABLED_SYMBOL
        bid, ask = parse_price(tick.bid), parse_price(tick.ask)
        if bid is None or ask is None:
            return DropReason.INVALID_PRICE
        if bid > ask:
            return DropReason.CROSSED
        if (ask - bid) > settings.max_spread_points * settings.point:
            return DropReason.SPREAD_TOO_WIDE
        ts_ms = tick.ts_ms if tick.ts_ms is not None else now_ms
        if now_ms - ts_ms > settings.stale_after_ms:
            return DropReason.STALE
        book = self._books.setdefault(tick.symbol, {})
        depth = (
            _Depth(tick.bid_levels, tick.ask_levels, bid, ask)
            if tick.bid_levels or tick.ask_levels
            else None
        )
        quote = LpQuote(tick.source, bid, ask, ts_ms, now_ms, depth)
        previous = book.get(tick.source)
        if previous is not None and now_ms - previous.received_ms <= self._spike_window_ms:
            move_pct = abs(quote.mid - previous.mid) / previous.mid * _HUNDRED
            if move_pct > settings.spike_threshold_pct:
                return DropReason.SPIKE
        book[tick.source] = quote
        self._first_seen.setdefault(tick.source, len(self._first_seen))
        return None

    def _rank(self, source: str) -> tuple[int, int]:
        listed = self._priority.get(source, len(self._priority))
        return listed, self._first_seen.get(source, len(self._first_seen))

    def fresh_quotes(self, symbol: str, now_ms: int) -> list[LpQuote]:
        """The LPs taking part in the price now, primary first."""
        settings = self.config.get(symbol)
        if settings is None or not settings.enabled:
            return []
        quotes = [
            q
            for q in self._books.get(symbol, {}).values()
            if now_ms - q.ts_ms <= settings.stale_after_ms
        ]
        quotes.sort(key=lambda q: self._rank(q.source))
        return quotes

    def best_price(self, symbol: str, now_ms: int) -> BestPrice | None:
        """Best bid / best ask across fresh LPs (primary's own quote if those cross)."""
        quotes = self.fresh_quotes(symbol, now_ms)
        if not quotes:
            return None
        # max/min keep the first of equals, and quotes are in rank order: ties go to the primary.
        best_bid = max(quotes, key=lambda q: q.bid)
        best_ask = min(quotes, key=lambda q: q.ask)
        if best_bid.bid > best_ask.ask:
            best_bid = best_ask = quotes[0]
        return BestPrice(
            symbol,
            best_bid.bid,
            best_ask.ask,
            max(best_bid.ts_ms, best_ask.ts_ms),
            best_bid.source,
            best_ask.source,
        )

    def client_quote(
        self, symbol: str, now_ms: int, group: str = DEFAULT_GROUP
    ) -> PricedQuote | None:
        """The client price of ``symbol`` for ``group`` now, or None when no LP is fresh."""
        quotes = self.client_quotes(symbol, now_ms, (group,))
        return quotes[0] if quotes else None

    def client_quotes(self, symbol: str, now_ms: int, groups: Sequence[str]) -> list[PricedQuote]:
        """The client prices of ``symbol`` for each of ``groups`` now (in that order; a group
        whose price would not be positive is left out), the best price and depth found once."""
        best = self.best_price(symbol, now_ms)
        if best is None:
            return []
        settings = self.config.symbols[symbol]
        raw_bids, raw_asks = self._depth(symbol, best, now_ms)
        digits = settings.digits
        # Shared by every group whose markup is whole points (``GroupMarkup.point_offsets``).
        floor_bid = quantize(best.bid, digits, ROUND_FLOOR)
        ceiling_ask = quantize(best.ask, digits, ROUND_CEILING)
        priced: list[PricedQuote] = []
        for group in groups:
            markup, offsets = self.config.pricing_of(symbol, group, digits)
            if offsets is not None:
                bid, ask = floor_bid - offsets[0], ceiling_ask + offsets[1]
            else:
                bid = markup.side(best.bid, digits, bid=True)
                ask = markup.side(best.ask, digits, bid=False)
            quote = self._priced(settings, best, raw_bids, raw_asks, group, markup, bid, ask)
            if quote is not None:
                priced.append(quote)
        return priced

    def _priced(
        self,
        settings: SymbolSettings,
        best: BestPrice,
        raw_bids: tuple[Level, ...],
        raw_asks: tuple[Level, ...],
        group: str,
        markup: GroupMarkup,
        bid: Decimal,
        ask: Decimal,
    ) -> PricedQuote | None:
        """``group``'s price from its marked-up (``bid``, ``ask``): the minimum spread, depth."""
        digits = settings.digits
        to_bid, to_ask = (
            markup.widening(bid, ask, digits) if markup.min_spread_points > 0 else (0, 0)
        )
        point = settings.point if to_bid or to_ask or raw_bids or raw_asks else Decimal(0)
        if to_bid or to_ask:
            bid -= to_bid * point
            ask += to_ask * point
        if bid <= 0:
            return None
        bids: tuple[Level, ...] = ()
        asks: tuple[Level, ...] = ()
        if raw_bids:
            bids = tuple(
                level
                for level in (
                    (markup.side(p, digits, bid=True) - to_bid * point, n) for p, n in raw_bids
                )
                if level[0] > 0
            )
        if raw_asks:
            asks = tuple(
                (markup.side(p, digits, bid=False) + to_ask * point, n) for p, n in raw_asks
            )
        return PricedQuote(
            settings.symbol,
            bid,
            ask,
            best.ts_ms,
            best.sources,
            best.bid - bid,
            ask - best.ask,
            bids,
            asks,
            group,
        )

    def _depth(
        self, symbol: str, best: BestPrice, now_ms: int
    ) -> tuple[tuple[Level, ...], tuple[Level, ...]]:
        """The raw depth of each side behind ``best`` (module doc), () where there is none."""
        quotes = self.fresh_quotes(symbol, now_ms)
        if quotes and max(q.bid for q in quotes) > min(q.ask for q in quotes):
            quotes = quotes[:1]  # crossed: the primary's own price, so its own depth
        bids = merge_levels([q.bids for q in quotes if q.bids], bids=True)
        asks = merge_levels([q.asks for q in quotes if q.asks], bids=False)
        return (
            bids if bids and bids[0][0] == best.bid else (),
            asks if asks and asks[0][0] == best.ask else (),
        )

    def forget(self, symbols: Iterable[str]) -> None:
        """Drop the book of symbols that were removed or disabled."""
        for symbol in symbols:
            self._books.pop(symbol, None)
