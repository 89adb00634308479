"""A stalled event loop shows in the service's loop-lag histogram and in its logs."""

from __future__ import annotations

import asyncio
import contextlib
import time

from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from fxmesh.lifecycle import watch_event_loop

_LAG = "fxmesh_lagtest_event_loop_lag_seconds"


def _hold_the_loop(seconds: float) -> None:
    """A callback that does not give the loop back (a long computation, a blocking call)."""
    time.sleep(seconds)


def _count(le: str) -> float:
    return REGISTRY.get_sample_value(f"{_LAG}_bucket", {"le": le}) or 0.0


async def test_loop_when_a_callback_blocks_it_then_the_lag_is_measured_and_logged() -> None:
    watcher = asyncio.create_task(watch_event_loop("lagtest", interval=0.01))
    try:
        await asyncio.sleep(0.05)  # a few timers on time
        on_time_before = _count("0.1")
        with capture_logs() as logs:
            asyncio.get_running_loop().call_soon(_hold_the_loop, 0.25)
            await asyncio.sleep(0.05)  # the timer due meanwhile runs 150+ ms late
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher

    total = REGISTRY.get_sample_value(f"{_LAG}_count") or 0.0
    assert total > _count("0.1")  # at least one lag of more than 100 ms was observed
    assert on_time_before > 0
    stalls = [e for e in logs if e["event"] == "event_loop_stalled"]
    assert stalls
    assert stalls[0]["lag_ms"] >= 100
