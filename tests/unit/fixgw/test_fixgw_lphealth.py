"""LP health: the rolling window's rules, with an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fixgw.lphealth import HealthSettings, LpHealth


class Clock:
    def __init__(self) -> None:
        self.mono = 1000.0
        self.now = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.now += timedelta(seconds=seconds)


def health(clock: Clock, min_outcomes: int = 4) -> LpHealth:
    settings = HealthSettings(
        window_seconds=60, min_outcomes=min_outcomes, reject_ratio=Decimal("0.8"), latency_seconds=2
    )
    return LpHealth(settings, monotonic=lambda: clock.mono, clock=lambda: clock.now)


def test_rejects_when_below_min_outcomes_then_not_degraded() -> None:
    clock = Clock()
    h = health(clock)
    for _ in range(3):
        h.record("LP1", "REJECTED", "LP_REJECTED", 0.01)

    figures = h.figures("LP1")

    assert not figures.degraded
    assert figures.reject_ratio == 1
    assert figures.rejects_today == 3


def test_rejects_and_timeouts_when_share_reaches_ratio_then_degraded_until_window_passes() -> None:
    clock = Clock()
    h = health(clock)
    h.record("LP1", "FILLED", None, 0.1)
    for _ in range(2):
        h.record("LP1", "REJECTED", "LP_REJECTED", 0.01)
    for _ in range(2):
        h.record("LP1", "REJECTED", "LP_TIMEOUT", None)

    degraded = h.figures("LP1")
    clock.advance(61)
    later = h.figures("LP1")

    assert degraded.degraded
    assert degraded.reason == "REJECT_RATIO"
    assert (degraded.outcomes, degraded.fills, degraded.rejects, degraded.timeouts) == (5, 1, 2, 2)
    assert degraded.reject_ratio == Decimal("0.8")
    assert not later.degraded
    assert later.outcomes == 0
    assert (later.fills_today, later.rejects_today) == (1, 4)


def test_slow_fills_when_median_above_limit_then_degraded_for_latency() -> None:
    clock = Clock()
    h = health(clock)
    for latency in (2.5, 3.0, 0.1, 2.1):
        h.record("LP1", "FILLED", None, latency)

    figures = h.figures("LP1")

    assert figures.degraded
    assert figures.reason == "FILL_LATENCY"
    assert figures.median_fill_latency == 2.3


def test_expired_cancelled_or_unsent_when_recorded_then_not_counted_as_outcomes() -> None:
    clock = Clock()
    h = health(clock, min_outcomes=1)
    for reason in ("LP_EXPIRED", "LP_CANCELLED", "LP_UNAVAILABLE"):
        h.record("LP1", "REJECTED", reason, 0.01)

    figures = h.figures("LP1")

    assert (figures.outcomes, figures.degraded, figures.rejects_today) == (0, False, 3)


def test_new_utc_day_when_read_then_today_counts_restart() -> None:
    clock = Clock()
    h = health(clock)
    h.seed_today("LP1", 5, 2)
    h.record("LP1", "FILLED", None, 0.1)
    before = h.figures("LP1")
    clock.advance(12 * 3600 + 1)

    after = h.figures("LP1")

    assert (before.fills_today, before.rejects_today) == (6, 2)
    assert (after.fills_today, after.rejects_today) == (0, 0)
