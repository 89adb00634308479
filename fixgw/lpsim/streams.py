"""Price streams: the simulator sends one symbol's ticks itself, at a fixed rate (open loop).

A control call starts a stream (``PUT /streams/{symbol}``); tick ``seq`` is due at
``start_time + (seq - first_seq) / ticks_per_second`` (epoch seconds) whatever happened to the
ticks before it, and goes out as one MarketDataIncrementalRefresh. Driving prices this way costs
no control call per tick, so a benchmark can offer thousands of ticks per second. Patterns:

- ``ramp``: tick ``seq`` is priced ``bid + (seq mod cycle) * step`` (ask likewise). Whoever gets
  a price downstream knows which tick it is, modulo ``cycle`` (the quote's timestamp, the FIX
  SendingTime, settles which cycle), and so when it was due: end-to-end latency per tick.
- ``walk``: each tick is one random-walk step of the symbol (dt = the tick interval).

A tick due more than ``MAX_LAG_SECONDS`` ago is skipped, not sent late, and counted: a simulator
that cannot keep up shows as skipped ticks and lag instead of an ever-growing burst.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

Pattern = Literal["ramp", "walk"]
PATTERNS: tuple[Pattern, ...] = ("ramp", "walk")
MAX_LAG_SECONDS = 1.0
MAX_LAG_SAMPLES = 1_000_000


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """What a stream sends and when."""

    symbol: str
    ticks_per_second: float
    pattern: Pattern
    first_seq: int
    start_time: float  # epoch seconds at which tick ``first_seq`` is due
    bid: Decimal  # ramp: the price of every ``cycle``-th tick
    ask: Decimal
    step: Decimal  # ramp: price change per tick
    cycle: int

    def __post_init__(self) -> None:
        if not self.ticks_per_second > 0:
            raise ValueError("ticksPerSecond must be > 0")
        if self.pattern not in PATTERNS:
            raise ValueError(f"pattern must be one of {PATTERNS}")
        if self.cycle < 1 or self.first_seq < 0:
            raise ValueError("cycle >= 1 and firstSeq >= 0")
        if self.bid <= 0 or self.bid > self.ask or self.step < 0:
            raise ValueError("need 0 < bid <= ask and step >= 0")

    def due(self, seq: int) -> float:
        """When tick ``seq`` is due (epoch seconds)."""
        return self.start_time + (seq - self.first_seq) / self.ticks_per_second

    def near(self, at: float) -> float:
        """The (fractional) seq due at ``at``."""
        return self.first_seq + (at - self.start_time) * self.ticks_per_second

    def ramp_price(self, seq: int) -> tuple[Decimal, Decimal]:
        offset = (seq % self.cycle) * self.step
        return self.bid + offset, self.ask + offset

    def plan(self, next_seq: int, now: float) -> tuple[int, int, int]:
        """Ticks to send at ``now`` when ``next_seq`` is the first unsent one.

        Returns ``(first, last, skipped)``: send ``first..last`` inclusive (none when last <
        first), after skipping the ``skipped`` ticks before ``first`` that are too late.
        """
        elapsed = self.near(now) - self.first_seq
        last = self.first_seq + math.floor(elapsed + 1e-9)
        oldest = self.first_seq + math.ceil(elapsed - MAX_LAG_SECONDS * self.ticks_per_second)
        first = max(next_seq, oldest)  # oldest <= last + 1 always: skipping never overtakes
        return first, last, first - next_seq

    def as_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "ticksPerSecond": self.ticks_per_second,
            "pattern": self.pattern,
            "firstSeq": self.first_seq,
            "startTime": self.start_time,
            "bid": str(self.bid),
            "ask": str(self.ask),
            "step": str(self.step),
            "cycle": self.cycle,
        }


@dataclass(slots=True)
class StreamStats:
    """What a stream has sent so far, and how late."""

    sent: int = 0
    skipped: int = 0
    last_seq: int | None = None
    lags: list[float] = field(default_factory=list)  # seconds after due, per sent tick

    def record(self, seq: int, lag_seconds: float) -> None:
        self.sent += 1
        self.last_seq = seq
        if len(self.lags) < MAX_LAG_SAMPLES:
            self.lags.append(lag_seconds)

    def as_json(self) -> dict[str, Any]:
        lags = sorted(self.lags)

        def pct(p: float) -> float | None:
            if not lags:
                return None
            return round(1000 * lags[min(len(lags) - 1, int(p / 100 * len(lags)))], 3)

        return {
            "sent": self.sent,
            "skipped": self.skipped,
            "lastSeq": self.last_seq,
            "lagMs": {"p50": pct(50), "p99": pct(99), "max": pct(100)},
        }
