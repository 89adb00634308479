"""The bench's command line: which topology it measures unless told otherwise."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import build_parser


def test_bench_when_no_topology_given_then_router_in_oms_and_router_separate_turns_it_off() -> None:
    assert build_parser().parse_args([]).router_in_oms is True
    assert build_parser().parse_args(["--router-separate"]).router_in_oms is False


@pytest.mark.parametrize(
    ("signum", "status"),
    [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
    ids=["SIGTERM", "SIGINT"],
)
def test_bench_when_terminated_then_what_it_started_is_stopped_and_it_exits_128_plus_signal(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    ready, stopped = tmp_path / "ready", tmp_path / "stopped"
    # A run that "starts a stack" and stops it in its finally block, as bench.cli._run does.
    script = f"""
import asyncio, pathlib, uvloop
from bench.cli import until_terminated

async def run() -> int:
    try:
        import fixgw  # mid-run, as the floors do: QuickFIX's import resets SIGINT to SIG_DFL
        pathlib.Path({str(ready)!r}).touch()
        await asyncio.sleep(60)
        return 0
    finally:
        await asyncio.sleep(0.01)  # stopping takes awaits too
        pathlib.Path({str(stopped)!r}).touch()

raise SystemExit(uvloop.run(until_terminated(run())))
"""
    proc = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, "the run ended before it was terminated"
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.05)
        proc.send_signal(signum)
        assert proc.wait(timeout=60) == status
    finally:
        proc.kill()
    assert stopped.exists()
