"""Candles (OHLC bars) of a client bid: pure model, no I/O.

Buckets
-------
A candle's time is the start of its bucket, UTC. Every timeframe divides a week, and buckets are
counted from Sunday 1970-01-04 00:00 UTC, so 1m..1d buckets are the usual epoch-aligned ones
(4h candles start at 00, 04, 08 ... UTC) and weeks start on Sunday 00:00 UTC: the FX week opens on
Sunday evening, so its first ticks belong to the new week's candle, not to the last one. A bucket
without ticks has no candle (a weekend stays a gap). PostgreSQL computes the same buckets with
``date_bin(width, time, '1970-01-04 00:00+00')`` (``quotes.rebuild_candles``).

Values
------
open = the first client bid of the bucket, high / low = the highest / lowest, close = the last,
tick_volume = the number of client ticks, spread = the smallest spread (ask - bid) of the bucket in
points (10^-digits). "First" and "last" are in arrival order, which is time order for the ticks
one quotes process writes.

Incremental maintenance
-----------------------
``MinuteBook`` keeps, per symbol and price (the default one and each client group's with its own
markup, which has candles of its own), the 1m candles of the ticks not yet persisted (one update per
tick). Every other timeframe is a roll-up of 1m candles (``rollup``), and candles merge
associatively (``Candle.merged``: earlier first), so the store can add a batch's partial candles to
the stored ones and a rebuild from the ticks gives the same rows.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

WEEK_ORIGIN_MS = 3 * 86_400_000
"""1970-01-04 00:00 UTC, a Sunday: the origin buckets are counted from."""


class Timeframe(enum.StrEnum):
    """A candle width; the value is the client's name for it (and the stored code)."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1w"

    @property
    def seconds(self) -> int:
        return _SECONDS[self]

    @property
    def millis(self) -> int:
        return _SECONDS[self] * 1000


_SECONDS = {
    Timeframe.M1: 60,
    Timeframe.M5: 300,
    Timeframe.M15: 900,
    Timeframe.M30: 1800,
    Timeframe.H1: 3600,
    Timeframe.H4: 14_400,
    Timeframe.D1: 86_400,
    Timeframe.W1: 604_800,
}
TIMEFRAMES: tuple[Timeframe, ...] = tuple(Timeframe)
"""Every timeframe, shortest first."""


def bucket_start_ms(ts_ms: int, timeframe: Timeframe) -> int:
    """Start (epoch ms, UTC) of the ``timeframe`` bucket holding ``ts_ms``."""
    size = _SECONDS[timeframe] * 1000
    return (ts_ms - WEEK_ORIGIN_MS) // size * size + WEEK_ORIGIN_MS


def spread_points(bid: Decimal, ask: Decimal, digits: int) -> int:
    """``ask - bid`` in points of a symbol with ``digits`` (client prices are whole points)."""
    return int((ask - bid).scaleb(digits).to_integral_value(ROUND_HALF_UP))


@dataclass(slots=True)
class Candle:
    """One bar. Mutable on purpose: ``add`` is on the per-tick path."""

    start_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    tick_volume: int
    spread: int

    @classmethod
    def first(cls, start_ms: int, bid: Decimal, spread: int) -> Candle:
        """A candle holding one tick."""
        return cls(start_ms, bid, bid, bid, bid, 1, spread)

    def add(self, bid: Decimal, spread: int) -> None:
        """Add the next tick of the bucket."""
        if bid > self.high:
            self.high = bid
        elif bid < self.low:
            self.low = bid
        self.close = bid
        self.tick_volume += 1
        if spread < self.spread:
            self.spread = spread

    def merged(self, later: Candle, start_ms: int | None = None) -> Candle:
        """This candle followed by ``later`` (same bucket, or ``start_ms`` for a roll-up)."""
        return Candle(
            self.start_ms if start_ms is None else start_ms,
            self.open,
            max(self.high, later.high),
            min(self.low, later.low),
            later.close,
            self.tick_volume + later.tick_volume,
            min(self.spread, later.spread),
        )


def build_candles(
    ticks: Iterable[tuple[int, Decimal, Decimal]], timeframe: Timeframe, digits: int
) -> list[Candle]:
    """Candles of ``(ts_ms, bid, ask)`` ticks in arrival order, oldest bucket first."""
    candles: dict[int, Candle] = {}
    for ts_ms, bid, ask in ticks:
        start = bucket_start_ms(ts_ms, timeframe)
        spread = spread_points(bid, ask, digits)
        candle = candles.get(start)
        if candle is None:
            candles[start] = Candle.first(start, bid, spread)
        else:
            candle.add(bid, spread)
    return [candles[start] for start in sorted(candles)]


def rollup(minutes: Iterable[Candle], timeframe: Timeframe) -> list[Candle]:
    """Candles of ``timeframe`` from 1m candles (any order), oldest first."""
    out: dict[int, Candle] = {}
    for minute in sorted(minutes, key=lambda c: c.start_ms):
        start = bucket_start_ms(minute.start_ms, timeframe)
        current = out.get(start)
        out[start] = (
            Candle(
                start,
                minute.open,
                minute.high,
                minute.low,
                minute.close,
                minute.tick_volume,
                minute.spread,
            )
            if current is None
            else current.merged(minute, start)
        )
    return [out[start] for start in sorted(out)]


Series = tuple[str, str]
"""(client group, symbol): one price's candles; "" the default price."""


class MinuteBook:
    """1m candles per price (the default one and each group's) of the ticks not yet persisted."""

    def __init__(self) -> None:
        self._series: dict[Series, dict[int, Candle]] = {}

    def __bool__(self) -> bool:
        return bool(self._series)

    def add(self, symbol: str, ts_ms: int, bid: Decimal, spread: int, group: str = "") -> None:
        """Count one client tick of ``group``'s price of ``symbol``."""
        key = (group, symbol)
        minutes = self._series.get(key)
        if minutes is None:
            minutes = self._series[key] = {}
        start = (ts_ms - WEEK_ORIGIN_MS) // 60_000 * 60_000 + WEEK_ORIGIN_MS
        candle = minutes.get(start)
        if candle is None:
            minutes[start] = Candle.first(start, bid, spread)
        else:
            candle.add(bid, spread)

    def minutes(self, symbol: str, group: str = "") -> list[Candle]:
        """The pending 1m candles of ``group``'s price of ``symbol`` (a copy, oldest first)."""
        minutes = self._series.get((group, symbol), {})
        return [minutes[start] for start in sorted(minutes)]

    def take(self) -> dict[Series, list[Candle]]:
        """Every pending 1m candle by (group, symbol), emptying the book."""
        taken = {key: self.minutes(key[1], key[0]) for key in self._series}
        self._series = {}
        return taken

    def put_back(self, taken: dict[Series, list[Candle]]) -> None:
        """Return candles ``take`` gave (a failed write) ahead of what arrived since."""
        for key, earlier in taken.items():
            minutes = self._series.setdefault(key, {})
            for candle in earlier:
                later = minutes.get(candle.start_ms)
                minutes[candle.start_ms] = candle if later is None else candle.merged(later)


def merge_live(
    stored: list[Candle],
    pending: list[Candle],
    *,
    limit: int,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[Candle]:
    """Stored candles (oldest first) with the pending ones of the same timeframe added: the newest
    ``limit``, oldest first. Pending candles starting outside ``[start_ms, end_ms)`` are left out.
    """
    if not pending:
        return stored[-limit:]
    by_start = {c.start_ms: c for c in stored}
    for candle in pending:
        if (start_ms is not None and candle.start_ms < start_ms) or (
            end_ms is not None and candle.start_ms >= end_ms
        ):
            continue
        current = by_start.get(candle.start_ms)
        by_start[candle.start_ms] = candle if current is None else current.merged(candle)
    return [by_start[start] for start in sorted(by_start)][-limit:]
