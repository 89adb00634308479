"""LP health from recent order outcomes: a rolling window per LP, and today's fills and rejects.

An LP is DEGRADED while, within the last ``window_seconds``,

- at least ``min_outcomes`` attempts ended and the share of them rejected or timed out is at
  least ``reject_ratio``, or
- at least ``min_outcomes`` attempts filled and their median latency (NewOrderSingle sent -> final
  ExecutionReport) is above ``latency_seconds``.

A degraded LP still takes orders, but is tried after every other LP (``fixgw.orders.manager``);
router reads the flag through ListSessions as its LP-health input. Outcomes counted: a fill
(FILLED or PARTIALLY_FILLED, with its latency), a reject (LP_REJECTED: 35=8 Rejected, 35=j, 35=3)
and a timeout (LP_TIMEOUT). An IOC the LP expired, a cancel fxmesh asked for and an order the
session did not take say nothing about the LP's health and are not counted.

Today's fills and rejects (rejects: every attempt ended without a fill) count from 00:00 UTC; the
gateway seeds them from ``fixgw.attempts`` at start so a restart does not zero them.

Everything here runs on the event loop (no lock); the clock is injected for tests.
"""

from __future__ import annotations

import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum

from fxmesh.reasons import Reason


class Outcome(StrEnum):
    FILL = "FILL"
    REJECT = "REJECT"
    TIMEOUT = "TIMEOUT"


def outcome_of(final_status: str, reject_reason: str | None) -> Outcome | None:
    """The health outcome of a final attempt (None: not counted)."""
    if final_status in ("FILLED", "PARTIALLY_FILLED"):
        return Outcome.FILL
    if reject_reason == Reason.LP_REJECTED:
        return Outcome.REJECT
    if reject_reason == Reason.LP_TIMEOUT:
        return Outcome.TIMEOUT
    return None


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """The degradation rule (FXMESH_FIXGW_HEALTH_*)."""

    window_seconds: float = 60.0
    """Outcomes older than this are forgotten."""
    min_outcomes: int = 10
    """Fewer outcomes (or fills, for the latency rule) than this never degrade an LP."""
    reject_ratio: Decimal = Decimal("0.8")
    """Share of rejects + timeouts among the window's outcomes that degrades an LP."""
    latency_seconds: float = 2.0
    """Median fill latency above this degrades an LP."""


@dataclass(frozen=True, slots=True)
class HealthFigures:
    """One LP's window and today's counts, as ListSessions reports them."""

    outcomes: int
    fills: int
    rejects: int
    timeouts: int
    reject_ratio: Decimal | None  # (rejects + timeouts) / outcomes; None without outcomes
    median_fill_latency: float | None  # seconds; None without fills
    degraded: bool
    reason: str  # why degraded ("" when not): REJECT_RATIO or FILL_LATENCY
    fills_today: int
    rejects_today: int


@dataclass(slots=True)
class _Window:
    events: deque[tuple[float, Outcome, float | None]]
    day: date
    fills_today: int = 0
    rejects_today: int = 0


class LpHealth:
    """Rolling outcome windows of every LP (by name)."""

    def __init__(
        self,
        settings: HealthSettings | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings or HealthSettings()
        self._monotonic = monotonic
        self._clock = clock
        self._lps: dict[str, _Window] = {}

    def _window(self, lp: str) -> _Window:
        today = self._clock().date()
        window = self._lps.get(lp)
        if window is None:
            window = self._lps[lp] = _Window(deque(), today)
        elif window.day != today:
            window.day, window.fills_today, window.rejects_today = today, 0, 0
        cutoff = self._monotonic() - self.settings.window_seconds
        while window.events and window.events[0][0] < cutoff:
            window.events.popleft()
        return window

    def seed_today(self, lp: str, fills: int, rejects: int) -> None:
        """Today's counts as stored before this process started."""
        window = self._window(lp)
        window.fills_today += fills
        window.rejects_today += rejects

    def record(
        self, lp: str, final_status: str, reject_reason: str | None, latency: float | None
    ) -> None:
        """A final attempt of ``lp``; ``latency`` is sent -> final in seconds when known."""
        window = self._window(lp)
        if final_status in ("FILLED", "PARTIALLY_FILLED"):
            window.fills_today += 1
        elif final_status == "REJECTED":
            window.rejects_today += 1
        outcome = outcome_of(final_status, reject_reason)
        if outcome is not None:
            window.events.append((self._monotonic(), outcome, latency))

    def forget(self, lp: str) -> None:
        """A deleted or replaced LP starts afresh."""
        self._lps.pop(lp, None)

    def figures(self, lp: str) -> HealthFigures:
        window = self._window(lp)
        fills = [lat for _, kind, lat in window.events if kind is Outcome.FILL]
        rejects = sum(1 for _, kind, _ in window.events if kind is Outcome.REJECT)
        timeouts = sum(1 for _, kind, _ in window.events if kind is Outcome.TIMEOUT)
        outcomes = len(window.events)
        ratio = Decimal(rejects + timeouts) / Decimal(outcomes) if outcomes else None
        latencies = [lat for lat in fills if lat is not None]
        median = statistics.median(latencies) if latencies else None
        s = self.settings
        reason = ""
        if outcomes >= s.min_outcomes and ratio is not None and ratio >= s.reject_ratio:
            reason = "REJECT_RATIO"
        elif len(latencies) >= s.min_outcomes and median is not None and median > s.latency_seconds:
            reason = "FILL_LATENCY"
        return HealthFigures(
            outcomes=outcomes,
            fills=len(fills),
            rejects=rejects,
            timeouts=timeouts,
            reject_ratio=ratio,
            median_fill_latency=median,
            degraded=bool(reason),
            reason=reason,
            fills_today=window.fills_today,
            rejects_today=window.rejects_today,
        )

    def degraded(self, lp: str) -> bool:
        return self.figures(lp).degraded
