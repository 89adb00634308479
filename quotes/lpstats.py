"""LP statistics (``LpStatistics``): how each liquidity provider's price feed is doing, per symbol.

For admin's LP board and the alert rules: ticks per minute, ticks dropped by validation (by
reason), quote latency and how long the LP has streamed without a gap. Fed by the quotes pipeline
on every tick (``QuotesService.publish``), so each update is a few dict and deque operations;
percentiles are computed only when someone asks.

- **Ticks per minute**: accepted ticks received in the last 60 s (per-second buckets).
- **Quote latency**: from the LP's own tick time (FIX SendingTime, else the time fixgw received
  it) to the client quote it contributed to being written to Redis, for ticks whose symbol was
  written in that batch; p50 / p99 over the last minute (at most ``MAX_LATENCY_SAMPLES`` kept).
- **Streaming since**: when the LP's current unbroken run of ticks began: a silence longer than
  ``gap_ms`` (the stale threshold, by default) starts a new run. An LP that sends nothing shows
  its last tick time, so the board tells "up for 3 h" from "silent for 2 min".
- **Drops**: totals since quotes started, by ``DropReason`` (unknown symbol, crossed, spike, ...).

Metrics (``quotes.metrics``) carry the same figures per LP for the alert rules: ticks by LP and
symbol, drops by LP and reason (never by symbol: an LP's unknown symbols would make the label
unbounded), quote latency by LP, and the current streaming run's length (read at scrape time from
``streaming_runs``, so the tick path pays nothing for it).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

WINDOW_MS = 60_000
MAX_LATENCY_SAMPLES = 6_000  # 100 ticks/s for a minute per LP and symbol


@dataclass(slots=True)
class _Feed:
    """One LP's feed of one symbol."""

    ticks_total: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: deque[tuple[int, int]] = field(default_factory=deque)  # (epoch second, ticks)
    latencies: deque[tuple[int, int]] = field(default_factory=deque)  # (at ms, latency ms)
    last_tick_ms: int | None = None


@dataclass(frozen=True, slots=True)
class FeedStatistics:
    """What the board shows of one LP and symbol (times in epoch ms; latency in ms)."""

    lp: str
    symbol: str
    ticks_last_minute: int
    ticks_total: int
    dropped: dict[str, int]
    latency_p50_ms: int | None
    latency_p99_ms: int | None
    last_tick_ms: int | None
    streaming_since_ms: int | None


def _percentile(ordered: list[int], share: float) -> int:
    """Nearest-rank percentile of a sorted, non-empty list."""
    return ordered[max(1, math.ceil(len(ordered) * share)) - 1]


class LpStatistics:
    """Per (LP, symbol) counters and windows; per LP the start of its current streaming run."""

    def __init__(self, *, gap_ms: int = 5_000) -> None:
        self.gap_ms = gap_ms
        self._feeds: dict[tuple[str, str], _Feed] = {}
        self._run_start: dict[str, int] = {}
        self._last_seen: dict[str, int] = {}

    def _feed(self, lp: str, symbol: str) -> _Feed:
        feed = self._feeds.get((lp, symbol))
        if feed is None:
            feed = self._feeds[(lp, symbol)] = _Feed()
        return feed

    def _seen(self, lp: str, now_ms: int) -> None:
        last = self._last_seen.get(lp)
        if last is None or now_ms - last > self.gap_ms:
            self._run_start[lp] = now_ms
        self._last_seen[lp] = now_ms

    def accepted(self, lp: str, symbol: str, now_ms: int) -> None:
        """An LP tick passed validation."""
        self._seen(lp, now_ms)
        feed = self._feed(lp, symbol)
        feed.ticks_total += 1
        feed.last_tick_ms = now_ms
        second = now_ms // 1000
        seconds = feed.seconds
        if seconds and seconds[-1][0] == second:
            seconds[-1] = (second, seconds[-1][1] + 1)
        else:
            seconds.append((second, 1))
            while seconds and seconds[0][0] <= second - WINDOW_MS // 1000:
                seconds.popleft()

    def dropped(self, lp: str, symbol: str, reason: str, now_ms: int) -> None:
        """An LP tick failed validation (it still shows the LP is sending)."""
        self._seen(lp, now_ms)
        drops = self._feed(lp, symbol).dropped
        drops[reason] = drops.get(reason, 0) + 1

    def published(self, lp: str, symbol: str, tick_ms: int, now_ms: int) -> None:
        """A client quote this LP's tick (sent at ``tick_ms``) fed was written at ``now_ms``."""
        latencies = self._feed(lp, symbol).latencies
        latencies.append((now_ms, max(0, now_ms - tick_ms)))
        while len(latencies) > MAX_LATENCY_SAMPLES:
            latencies.popleft()

    def streaming_runs(self, now_ms: int) -> dict[str, int]:
        """Per LP ever seen, how long its current run of ticks has lasted (ms); 0 while silent."""
        runs = {}
        for lp, last in self._last_seen.items():
            live = now_ms - last <= self.gap_ms
            runs[lp] = max(0, now_ms - self._run_start[lp]) if live else 0
        return runs

    def snapshot(self, now_ms: int, lp: str = "", symbol: str = "") -> list[FeedStatistics]:
        """Every feed (or those of ``lp`` / ``symbol``), by LP then symbol."""
        out = []
        for (feed_lp, feed_symbol), feed in sorted(self._feeds.items()):
            if (lp and feed_lp != lp) or (symbol and feed_symbol != symbol):
                continue
            oldest_second = (now_ms - WINDOW_MS) // 1000
            recent = [n for s, n in feed.seconds if s > oldest_second]
            window = sorted(ms for at, ms in feed.latencies if at > now_ms - WINDOW_MS)
            last_seen = self._last_seen.get(feed_lp)
            live = last_seen is not None and now_ms - last_seen <= self.gap_ms
            out.append(
                FeedStatistics(
                    lp=feed_lp,
                    symbol=feed_symbol,
                    ticks_last_minute=sum(recent),
                    ticks_total=feed.ticks_total,
                    dropped=dict(feed.dropped),
                    latency_p50_ms=_percentile(window, 0.5) if window else None,
                    latency_p99_ms=_percentile(window, 0.99) if window else None,
                    last_tick_ms=feed.last_tick_ms,
                    streaming_since_ms=self._run_start.get(feed_lp) if live else None,
                )
            )
        return out
