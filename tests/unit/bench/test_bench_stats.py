"""Latency summaries: HDR percentiles in milliseconds."""

from __future__ import annotations

from bench.stats import Latencies, summarize


def test_summary_when_thousand_evenly_spread_samples_then_percentiles_land_on_them() -> None:
    lat = Latencies()
    for ms in range(1, 1001):
        lat.record(ms / 1000)

    summary = lat.summary()

    assert summary["count"] == 1000
    assert abs(summary["p50"] - 500) <= 1
    assert abs(summary["p90"] - 900) <= 1
    assert abs(summary["p99"] - 990) <= 1
    assert abs(summary["p99.9"] - 999) <= 1
    assert abs(summary["max"] - 1000) <= 1


def test_summary_when_nothing_recorded_then_only_the_count() -> None:
    assert Latencies().summary() == {"count": 0}


def test_merge_when_two_distributions_then_one_holds_both() -> None:
    fast, slow = Latencies(), Latencies()
    fast.record(0.001)
    slow.record(2.0)

    fast.merge(slow)

    assert fast.count == 2
    assert abs(fast.summary()["max"] - 2000) <= 2


def test_summarize_when_sub_microsecond_sample_then_counted_as_one_microsecond() -> None:
    assert summarize([0.0, 1e-9])["max"] == 0.001
