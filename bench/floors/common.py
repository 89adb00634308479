"""Helpers shared by the floors: a floor server in a child process, closed-loop timing loops."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from bench.machine import PROJECT_ROOT
from bench.stats import Latencies
from fixgw import free_port


@contextlib.asynccontextmanager
async def floor_server(kind: str, ready_within: float = 60.0) -> AsyncIterator[int]:
    """Run ``python -m bench.floors.servers KIND PORT``; yield the port once it accepts."""
    port = free_port()
    with tempfile.TemporaryFile() as err:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.floors.servers",
            kind,
            str(port),
            cwd=PROJECT_ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err,
        )
        try:
            deadline = time.monotonic() + ready_within
            while True:
                if proc.returncode is not None:
                    err.seek(0)
                    tail = err.read().decode(errors="replace")[-2000:]
                    raise RuntimeError(f"floor server {kind} exited ({proc.returncode}): {tail}")
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"floor server {kind} not listening on {port}") from None
                    await asyncio.sleep(0.1)
            yield port
        finally:
            if proc.returncode is None:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()


async def sequential(op: Callable[[], Awaitable[Any]], count: int, warmup: int) -> Latencies:
    """``warmup + count`` calls one after another; time the last ``count``."""
    lat = Latencies()
    clock = time.perf_counter
    for i in range(warmup + count):
        started = clock()
        await op()
        if i >= warmup:
            lat.record(clock() - started)
    return lat


async def in_flight(
    op: Callable[[], Awaitable[Any]], concurrency: int, duration: float
) -> tuple[Latencies, float]:
    """``concurrency`` closed-loop workers for ``duration`` s: latency and completed calls per s."""
    lat = Latencies()
    clock = time.perf_counter
    end = clock() + duration
    done = 0

    async def worker() -> None:
        nonlocal done
        while clock() < end:
            started = clock()
            await op()
            lat.record(clock() - started)
            done += 1

    started = clock()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lat, done / (clock() - started)
