"""The bench's readings of the services' histograms between two scrapes."""

from __future__ import annotations

from bench.hops import Reading, mean_ms, mean_size, over


def test_mean_size_when_groups_committed_between_scrapes_then_their_mean_size() -> None:
    before = {"oms group commit size": Reading(total=10.0, count=10.0)}
    after = {"oms group commit size": Reading(total=40.0, count=20.0), "idle": Reading()}

    sizes = mean_size(before, after)

    assert sizes["oms group commit size"] == {"observations": 10, "mean": 3.0}
    assert sizes["idle"] == {"observations": 0, "mean": None}


def test_mean_ms_and_over_when_waits_observed_between_scrapes_then_in_ms_and_counted() -> None:
    before = {"edge admission queue": Reading(0.5, 5.0, {0.025: 5.0, 0.05: 5.0})}
    after = {"edge admission queue": Reading(0.9, 9.0, {0.025: 7.0, 0.05: 8.0})}

    assert mean_ms(before, after)["edge admission queue"] == {"observations": 4, "mean_ms": 100.0}
    assert over(before, after, [0.025, 0.05])["edge admission queue"] == {
        "observations": 4,
        "over_25_ms": 2,
        "over_50_ms": 1,
    }
