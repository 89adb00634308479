"""A scenario document becomes a table a person reads and a latency-vs-rate PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import report
from bench.hops import Reading, nested_breakdown, over


def _doc() -> dict[str, Any]:
    step = {
        "offered_per_s": 100,
        "achieved_per_s": 99.5,
        "ok": 800,
        "failures": {"http_504": 2},
        "latency_ms": {"p50": 5.0, "p90": 8.0, "p99": 12.0, "p99.9": 20.0, "max": 25.0},
        "ratio_to_floor_sum": {"p50": 1.5, "p99": 2.5},
        "cpu": {"percent_of_one_core": {"bench (load generator)": 7.0}},
    }
    return {
        "scenario": "demo",
        "title": "Demo scenario",
        "quick": False,
        "started_at": "2026-01-02T03:04:05+00:00",
        "git": {"commit": "abc123", "dirty": False},
        "bound_p99_ms": 50.0,
        "path_floor": {
            "components": [{"floor": "grpc_unary", "times": 2}],
            "p50_ms": 3.3,
            "p99_ms": 4.8,
        },
        "series": {"orders": [step, {**step, "offered_per_s": 300}]},
        "targets": [{"target": "p99 <= 3x", "limit": "3.0", "measured": 2.5, "pass": True}],
        "errors": ["something went wrong"],
    }


def test_table_when_full_document_then_rates_targets_and_errors_listed() -> None:
    text = report.table(_doc())

    assert text.startswith("== demo: Demo scenario")
    assert "grpc_unary x2" in text
    assert "PASS p99 <= 3x" in text
    assert "ERROR something went wrong" in text
    assert len([line for line in text.splitlines() if "99.5" in line]) == 2


def test_table_when_skipped_then_says_why() -> None:
    doc = {"scenario": "later", "title": "Later", "skipped": "not built yet"}

    assert "SKIPPED: not built yet" in report.table(doc)


def test_write_when_rate_series_then_json_and_png_named_by_scenario_time_and_commit(
    tmp_path: Path,
) -> None:
    written = report.write(_doc(), tmp_path)

    assert [p.name for p in written] == [
        "demo-20260102T030405Z-abc123.json",
        "demo-20260102T030405Z-abc123.png",
    ]
    assert written[1].read_bytes().startswith(b"\x89PNG")


def test_breakdown_when_nested_hops_then_each_share_is_outer_minus_inner() -> None:
    means = {"edge": {"mean_ms": 8.0}, "oms": {"mean_ms": 6.0}, "router": {"mean_ms": 1.0}}

    rows = nested_breakdown(10.0, means, [("edge", "e"), ("oms", "o"), ("router", "r")])

    assert [r["mean_ms"] for r in rows] == [2.0, 2.0, 5.0, 1.0]
    assert [r["percent"] for r in rows] == [20.0, 20.0, 50.0, 10.0]


def test_over_when_a_step_had_late_timers_then_counts_those_past_each_bound_in_it_only() -> None:
    before = {"oms": Reading(1.0, 100, {0.025: 98, 0.05: 99, 0.1: 100, float("inf"): 100})}
    # During the step: 50 wake-ups, 3 of them more than 25 ms late, one of those more than 100.
    after = {"oms": Reading(2.0, 150, {0.025: 145, 0.05: 147, 0.1: 149, float("inf"): 150})}

    counts = over(before, after, (0.025, 0.05, 0.1))

    assert counts == {
        "oms": {"observations": 50, "over_25_ms": 3, "over_50_ms": 2, "over_100_ms": 1}
    }
