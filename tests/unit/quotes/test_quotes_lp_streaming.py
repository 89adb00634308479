"""An LP's feed uptime: the length of its current run of ticks, in the statistics and as a metric."""

from __future__ import annotations

import uuid

from prometheus_client import REGISTRY

from quotes import metrics
from quotes.lpstats import LpStatistics

T0 = 1_736_164_800_000


def scraped(lp: str) -> float | None:
    return REGISTRY.get_sample_value("fxmesh_quotes_lp_streaming_seconds", {"lp": lp})


def test_streaming_when_ticks_flow_without_a_gap_then_run_counts_from_the_first() -> None:
    stats = LpStatistics(gap_ms=5_000)
    for step in range(10):
        stats.accepted("LP1", "EURUSD", T0 + step * 1_000)

    assert stats.streaming_runs(T0 + 9_500) == {"LP1": 9_500}


def test_streaming_when_lp_falls_silent_then_zero_and_next_tick_starts_a_new_run() -> None:
    stats = LpStatistics(gap_ms=5_000)
    stats.accepted("LP1", "EURUSD", T0)
    stats.dropped("LP1", "EURUSD", "spike", T0 + 4_000)  # a dropped tick still shows it sends

    assert stats.streaming_runs(T0 + 9_000) == {"LP1": 9_000}
    assert stats.streaming_runs(T0 + 9_001) == {"LP1": 0}
    stats.accepted("LP1", "EURUSD", T0 + 20_000)
    assert stats.streaming_runs(T0 + 21_000) == {"LP1": 1_000}


def test_streaming_metric_when_scraped_then_reads_the_run_at_the_services_clock() -> None:
    lp = "LP" + uuid.uuid4().hex[:6]
    stats = LpStatistics(gap_ms=5_000)
    now = [T0]
    metrics.LP_STREAMING.watch(stats, lambda: now[0])
    stats.accepted(lp, "EURUSD", T0)
    stats.accepted(lp, "EURUSD", T0 + 3_000)
    now[0] = T0 + 4_500

    assert scraped(lp) == 4.5
    now[0] = T0 + 60_000  # silent for 57 s
    assert scraped(lp) == 0.0
