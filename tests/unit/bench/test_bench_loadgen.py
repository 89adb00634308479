"""Open-loop load: latency from the scheduled send time, and the capacity climb."""

from __future__ import annotations

import asyncio
import time

from bench.loadgen import StepResult, run_open_loop, search_capacity
from bench.machine import CpuMeter, CpuSnapshot

SERVICE_S = 0.02


async def test_open_loop_when_server_serialises_requests_then_latency_includes_queueing() -> None:
    # Arrange: a server that handles one request at a time, 20 ms each; 20 requests offered at
    # 200/s arrive faster than it serves, so they queue.
    one_at_a_time = asyncio.Lock()

    async def send(_i: int, _scheduled: float) -> str | None:
        async with one_at_a_time:
            await asyncio.sleep(SERVICE_S)
        return None

    # Act
    step = await run_open_loop(send, rate=200, duration=0.1, warmup=0.0, request_timeout=10)

    # Assert: every request measured, none faster than its service time, and the last one waited
    # for the 19 before it minus the 95 ms by which it was scheduled later than the first.
    assert step.sent == step.measured == step.ok == 20
    summary = step.latency.summary()
    assert summary["p50"] >= SERVICE_S * 1000
    assert summary["max"] >= (20 * SERVICE_S - 0.095) * 1000
    assert step.achieved_per_s < 200


async def test_open_loop_when_requests_fail_or_hang_then_counted_by_kind_not_timed() -> None:
    async def send(i: int, _scheduled: float) -> str | None:
        if i % 4 == 0:
            await asyncio.sleep(5)
        return "http_503" if i % 4 == 1 else None

    step = await run_open_loop(send, rate=400, duration=0.05, warmup=0.0, request_timeout=0.05)

    assert step.sent == 20
    assert step.failures == {"timeout": 5, "http_503": 5}
    assert step.ok == step.latency.count == 10


async def test_open_loop_when_warmup_then_early_requests_are_sent_but_not_measured() -> None:
    seen: list[int] = []

    async def send(i: int, _scheduled: float) -> str | None:
        seen.append(i)
        return None

    step = await run_open_loop(send, rate=100, duration=0.1, warmup=0.1, request_timeout=1)

    assert len(seen) == step.sent == 20
    assert step.measured == step.latency.count == 10


def _step(rate: float, p99_ms: float) -> StepResult:
    step = StepResult(rate=rate, duration_s=1, warmup_s=0, sent=int(rate), measured=int(rate))
    step.ok = int(rate)
    step.achieved_per_s = rate
    for _ in range(int(rate)):
        step.latency.record(p99_ms / 1000)
    return step


async def test_capacity_when_p99_crosses_bound_between_rungs_then_bisects_to_the_edge() -> None:
    # The system keeps p99 under 50 ms up to 700/s.
    tried: list[float] = []

    async def run_rate(rate: float) -> StepResult:
        tried.append(rate)
        return _step(rate, 10.0 if rate <= 700 else 500.0)

    best, first_fail = await search_capacity(run_rate, [100, 400, 1000, 2000], 50.0)

    # Each failing rate is run twice before it counts as failed.
    assert tried == [100, 400, 1000, 1000, 700, 850, 850]
    assert (best, first_fail) == (700, 850)


async def test_capacity_when_one_run_of_a_rate_stalls_then_the_rerun_decides() -> None:
    # The first run at 400/s hits a stall (p99 500 ms); run again it is within the bound.
    tried: list[float] = []

    async def run_rate(rate: float) -> StepResult:
        tried.append(rate)
        stalled = rate == 400 and tried.count(400) == 1
        return _step(rate, 500.0 if stalled or rate > 700 else 10.0)

    best, first_fail = await search_capacity(run_rate, [100, 400, 1000], 50.0, refine=0)

    assert tried == [100, 400, 400, 1000, 1000]
    assert (best, first_fail) == (400, 1000)


async def test_capacity_when_the_lowest_rung_fails_then_none_found() -> None:
    async def run_rate(rate: float) -> StepResult:
        return _step(rate, 500.0)

    assert await search_capacity(run_rate, [100, 200], 50.0, retries=0) == (None, 100)


async def test_open_loop_when_measuring_starts_then_hook_called_once_before_first_measured() -> (
    None
):
    events: list[str] = []

    async def send(i: int, _scheduled: float) -> str | None:
        events.append(f"send {i}")
        return None

    await run_open_loop(
        send,
        rate=100,
        duration=0.03,
        warmup=0.02,
        request_timeout=1,
        on_measure_start=lambda: events.append("measure"),
    )

    assert events.count("measure") == 1
    assert events.index("measure") < events.index("send 2")  # the first measured request


class _SlowMeter(CpuMeter):
    """A CPU meter whose every snapshot takes ``pause`` seconds, as walking /proc does."""

    def __init__(self, pause: float) -> None:
        super().__init__()
        self.pause = pause

    def snapshot(self) -> CpuSnapshot:
        time.sleep(self.pause)
        return super().snapshot()


async def test_open_loop_when_the_cpu_snapshot_is_slow_then_orders_are_not_timed_with_it() -> None:
    # Arrange: a snapshot taking 300 ms at the window's start, requests answered at once. Taken
    # on the generator's loop, it held back the first measured requests' sending and the replies
    # of those in flight, and they counted the pause as the stack's latency.
    async def send(_i: int, _scheduled: float) -> str | None:
        await asyncio.sleep(0.001)
        return None

    # Act
    step = await run_open_loop(
        send, rate=100, duration=0.2, warmup=0.05, request_timeout=5, meter=_SlowMeter(0.3)
    )

    # Assert: no order waited for the snapshot; the CPU window still covers the step.
    assert step.ok == 20
    assert step.latency.summary()["max"] < 150
    assert step.cpu is not None
    assert step.cpu["window_s"] >= 0.2
