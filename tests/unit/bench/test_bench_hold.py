"""bench.hold: where a py-spy raw profile's samples went."""

from __future__ import annotations

import cProfile

from bench.hold import cprofile_top, fold_shares

RAW = """\
<module> (svc/__main__.py:3);Runner.run (asyncio/runners.py:118);handle (svc/api.py:10);query (svc/db.py:40) 6
<module> (svc/__main__.py:3);Runner.run (asyncio/runners.py:118);handle (svc/api.py:12);render (svc/api.py:30) 3
<module> (svc/__main__.py:3);Runner.run (asyncio/runners.py:118);walk (svc/tree.py:5);walk (svc/tree.py:9) 1
"""


def test_fold_shares_when_stacks_given_then_inclusive_and_self_shares_by_function():
    shares = fold_shares(RAW.splitlines(keepends=True), top=10)

    assert shares["samples"] == 10
    inclusive = dict(shares["inclusive_pct"])
    # One function over several lines is one entry; a recursive one counts once per stack.
    assert inclusive["handle (api.py)"] == 90.0
    assert inclusive["walk (tree.py)"] == 10.0
    assert inclusive["Runner.run (runners.py)"] == 100.0
    assert "<module> (__main__.py)" not in inclusive  # a root of every sample
    assert dict(shares["self_pct"]) == {
        "query (db.py)": 60.0,
        "render (api.py)": 30.0,
        "walk (tree.py)": 10.0,
    }


def test_fold_shares_when_profile_empty_or_garbled_then_no_samples():
    assert fold_shares(["", "no count here\n", "a;b notanumber\n"]) == {"samples": 0}


def test_cprofile_top_when_a_dump_given_then_heaviest_functions_with_call_counts(tmp_path):
    def leaf(n: int) -> int:
        return sum(range(n))

    def caller() -> int:
        return sum(leaf(20_000) for _ in range(50))

    profiler = cProfile.Profile()
    profiler.runcall(caller)
    dump = tmp_path / "cprofile.1"
    profiler.dump_stats(dump)

    top = cprofile_top(dump, top=50)

    cumulative = {row["function"].split(" (")[0]: row for row in top["by_cumulative"]}
    assert cumulative["leaf"]["calls"] == 50
    assert cumulative["caller"]["pct"] >= cumulative["leaf"]["pct"] > 0
    assert top["cpu_s"] >= 0
