"""The bench's command line: which topology it measures unless told otherwise."""

from __future__ import annotations

from bench.cli import build_parser


def test_bench_when_no_topology_given_then_router_in_oms_and_router_separate_turns_it_off() -> None:
    assert build_parser().parse_args([]).router_in_oms is True
    assert build_parser().parse_args(["--router-separate"]).router_in_oms is False
