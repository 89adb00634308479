"""Open-loop load at a fixed rate, and the search for the highest rate that keeps p99 in bound.

Open loop: request ``i`` is *scheduled* at ``start + i / rate`` whatever happened to the requests
before it, and its latency is measured from that scheduled time, not from when it was actually
sent. A stalled server (or a stalled generator) therefore shows up as latency instead of silently
lowering the rate (coordinated omission). How late the generator itself sent is reported as
``send_lag_ms``, so a saturated generator is visible too.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from bench.machine import CpuMeter
from bench.stats import Latencies

# send(i, scheduled) -> None on success, else a short failure kind ("http_500", "rejected:...").
# A kind starting with REFUSED ("refused_503", "refused_429") is an overload refusal: counted apart
# from failures, with its own latency (time to refusal).
# ``scheduled`` is the request's time.perf_counter() slot, for senders that time the outcome
# elsewhere (a tick reaching WebSocket clients).
Send = Callable[[int, float], Awaitable[str | None]]

MAX_FAILURE_RATIO = 0.001
REFUSED = "refused_"
MIN_ACHIEVED_RATIO = 0.95


@dataclass(slots=True)
class StepResult:
    """One fixed-rate step: what was offered, what came back, and how fast."""

    rate: float
    duration_s: float
    warmup_s: float
    sent: int = 0
    measured: int = 0
    ok: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    latency: Latencies = field(default_factory=Latencies)
    refusal_latency: Latencies = field(default_factory=Latencies)
    send_lag: Latencies = field(default_factory=Latencies)
    achieved_per_s: float = 0.0
    cpu: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def failure_count(self) -> int:
        return sum(self.failures.values())

    @property
    def refused_count(self) -> int:
        return sum(self.refused.values())

    def passes(self, bound_p99_ms: float) -> bool:
        """Sustained: p99 within bound, (almost) no failures or refusals, throughput kept up with
        the offer."""
        if self.ok == 0:
            return False
        return (
            self.latency.percentile_ms(99.0) <= bound_p99_ms
            and self.failure_count + self.refused_count <= MAX_FAILURE_RATIO * max(self.measured, 1)
            and self.achieved_per_s >= MIN_ACHIEVED_RATIO * self.rate
        )

    def as_json(self, bound_p99_ms: float | None = None) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "offered_per_s": self.rate,
            "achieved_per_s": round(self.achieved_per_s, 1),
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "sent": self.sent,
            "measured": self.measured,
            "ok": self.ok,
            "failures": dict(self.failures),
            "refused": dict(self.refused),
            "latency_ms": self.latency.summary(),
            "time_to_refusal_ms": self.refusal_latency.summary(),
            "send_lag_ms": self.send_lag.summary(),
            "cpu": self.cpu,
        }
        if self.cpu and self.achieved_per_s > 0:
            # CPU per answered request by process: a regression shows where it came from.
            doc["cpu"] = {
                **self.cpu,
                "ms_per_ok_request": {
                    name: round(10 * pct / self.achieved_per_s, 2)
                    for name, pct in self.cpu["percent_of_one_core"].items()
                },
            }
        if bound_p99_ms is not None:
            doc["within_bound"] = self.passes(bound_p99_ms)
        doc.update(self.extra)
        return doc


async def run_open_loop(
    send: Send,
    *,
    rate: float,
    duration: float,
    warmup: float,
    request_timeout: float,
    meter: CpuMeter | None = None,
    on_measure_start: Callable[[], object] | None = None,
) -> StepResult:
    """Schedule ``rate * (warmup + duration)`` requests at fixed intervals; measure after warm-up.
    The generator's garbage collector is off for the step (its pauses are not the stack's).

    ``on_measure_start`` is called (synchronously: start a task for anything slow) when the first
    measured request is due, so other measurements can cover the same window.
    """
    # The generator's own full collections stopped its loop for 30-118 ms (gc.callbacks, one
    # market_bbook run): every request in flight then took that long as far as it could tell, and
    # a step's p99 (refusals' above all, a hundred samples) was the generator's pause. A step
    # lasts seconds; its garbage waits for the collection after it.
    gc.collect()
    gc.disable()
    try:
        return await _open_loop(
            send, rate, duration, warmup, request_timeout, meter, on_measure_start
        )
    finally:
        gc.enable()


async def _open_loop(
    send: Send,
    rate: float,
    duration: float,
    warmup: float,
    request_timeout: float,
    meter: CpuMeter | None,
    on_measure_start: Callable[[], object] | None,
) -> StepResult:
    result = StepResult(rate=rate, duration_s=duration, warmup_s=warmup)
    clock = time.perf_counter
    interval = 1.0 / rate
    total = max(1, round(rate * (warmup + duration)))
    start = clock() + 0.01
    measure_from = start + warmup
    last_done = measure_from
    tasks: set[asyncio.Task[None]] = set()
    cpu_from = None

    async def one(i: int, scheduled: float) -> None:
        nonlocal last_done
        try:
            async with asyncio.timeout(request_timeout):
                kind = await send(i, scheduled)
        except TimeoutError:
            kind = "timeout"
        except Exception as exc:
            kind = f"exception:{type(exc).__name__}"
        done = clock()
        if scheduled < measure_from:
            return
        if kind is None:
            result.ok += 1
            result.latency.record(done - scheduled)
            last_done = max(last_done, done)
        elif kind.startswith(REFUSED):
            result.refused[kind] += 1
            result.refusal_latency.record(done - scheduled)
        else:
            result.failures[kind] += 1

    for i in range(total):
        scheduled = start + i * interval
        delay = scheduled - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        if scheduled >= measure_from:
            if result.measured == 0:
                if meter is not None:
                    # Walking every process takes the generator 7-12 ms: in a thread, so the
                    # orders in flight are not read late by that much.
                    cpu_from = asyncio.ensure_future(asyncio.to_thread(meter.snapshot))
                if on_measure_start is not None:
                    on_measure_start()
            result.measured += 1
            result.send_lag.record(clock() - scheduled)
        task = asyncio.create_task(one(i, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        result.sent += 1
    if tasks:
        await asyncio.gather(*list(tasks))
    if meter is not None and cpu_from is not None:
        result.cpu = meter.usage(await cpu_from, meter.snapshot())
    result.achieved_per_s = result.ok / max(duration, last_done - measure_from)
    return result


async def search_capacity(
    run_rate: Callable[[float], Awaitable[StepResult]],
    ladder: list[float],
    bound_p99_ms: float,
    *,
    refine: int = 2,
    retries: int = 1,
) -> tuple[float | None, float | None]:
    """Climb ``ladder`` until a step fails, then bisect ``refine`` times between pass and fail.

    A failing step is run again up to ``retries`` times and fails only if every run does: on a
    shared two-core machine one stall (a checkpoint, another process) puts a few seconds' p99 over
    the bound, and the rate the search reports would be decided by it rather than by the stack.
    Returns (highest passing rate or None, lowest failing rate or None).
    """

    async def passes(rate: float) -> bool:
        for _ in range(1 + retries):
            if (await run_rate(rate)).passes(bound_p99_ms):
                return True
        return False

    best: float | None = None
    first_fail: float | None = None
    for rate in ladder:
        if await passes(rate):
            best = rate
        else:
            first_fail = rate
            break
    for _ in range(refine):
        if best is None or first_fail is None:
            break
        mid = float(round((best + first_fail) / 2))
        if mid in (best, first_fail):
            break
        if await passes(mid):
            best = mid
        else:
            first_fail = mid
    return best, first_fail
