"""Process lifecycle shared by every service: set-up, run until SIGTERM/SIGINT, stop in order.

Every ``python -m <service>`` is the same few lines: load its settings, open a ``ServiceRuntime``
(logs, tracing, metrics) and ``serve`` the service's ``<Service>App`` from its ``server.py``
(``start`` returns the bound port, ``stop`` undoes it in reverse order), all under
``run_service`` (uvloop). Loops a service keeps running beside its requests are
``fxmesh.background.BackgroundLoop``s.
"""

from __future__ import annotations

import asyncio
import cProfile
import functools
import gc
import os
import signal
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol

import structlog
import uvloop
from prometheus_client import Histogram

from fxmesh.background import BackgroundLoop
from fxmesh.config import Settings
from fxmesh.logs import configure_logging
from fxmesh.metrics import LATENCY_BUCKETS, serve_metrics
from fxmesh.tracing import configure_tracing

log = structlog.stdlib.get_logger("fxmesh.lifecycle")

StopHook = Callable[[], Awaitable[object]]


class ServiceApp(Protocol):
    """What ``ServiceRuntime.serve`` runs: a service's ``<Service>App``."""

    async def start(self) -> int:
        """Open what the service needs and serve; the bound port."""
        ...

    async def stop(self) -> None:
        """Undo ``start`` in reverse order."""
        ...


def run_service(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a service's ``main`` to completion on uvloop.

    Every order crosses several processes, and each hop is a few event-loop callbacks per socket
    read and write; libuv's loop spends less CPU on them than asyncio's default one (oms measured
    ~10-20 % less CPU per order, README "Benchmarks"), and asyncpg and uvicorn are built for it.
    """
    profile_to = os.environ.get("FXMESH_CPROFILE")
    if not profile_to:
        uvloop.run(main())
        return
    # FXMESH_CPROFILE=/tmp/prof/run: a CPU-time profile of the whole process, written at exit to
    # /tmp/prof/run.<pid> (``python -m pstats``). Call counts show work repeated per request that
    # a sampling profiler cannot tell from work that is merely slow.
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    try:
        uvloop.run(main())
    finally:
        profiler.disable()
        profiler.dump_stats(f"{profile_to}.{os.getpid()}")


class ServiceRuntime:
    """Logging, tracing and metrics for one service process, and its orderly shutdown.

    Register cleanups with ``on_stop`` as resources are opened; they run in reverse order (servers
    stop before the pools they use are closed).
    """

    def __init__(self, service: str, settings: Settings, metrics_port: int = 0) -> None:
        self.service = service
        self.settings = settings
        configure_logging(service, settings.log_level, settings.log_format)
        self.tracer_provider = configure_tracing(service, settings.otlp_endpoint)
        serve_metrics(metrics_port, settings.metrics_addr)
        self._stop_hooks: list[StopHook] = []
        self._stopping = asyncio.Event()

    def on_stop(self, hook: StopHook) -> None:
        """Run ``hook`` at shutdown (last registered runs first)."""
        self._stop_hooks.append(hook)

    def request_stop(self) -> None:
        """Begin a graceful stop, as SIGTERM does."""
        self._stopping.set()

    async def serve(self, app: ServiceApp) -> None:
        """Start ``app``, run until SIGTERM or SIGINT (or request_stop), then stop it."""
        self.on_stop(app.stop)
        await app.start()
        await self.run_until_stopped()

    async def run_until_stopped(self) -> None:
        """Block until SIGTERM or SIGINT (or request_stop), then run the stop hooks."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        freeze_startup_heap()
        lag = BackgroundLoop(
            "event-loop-lag", functools.partial(watch_event_loop, self.service), log_failures=True
        )
        lag.start()
        log.info("service_started", service=self.service)
        await self._stopping.wait()
        log.info("service_stopping", service=self.service)
        await lag.stop()
        for hook in reversed(self._stop_hooks):
            try:
                await hook()
            except Exception:
                log.exception("stop_hook_failed")
        self.tracer_provider.shutdown()
        log.info("service_stopped", service=self.service)


def freeze_startup_heap() -> None:
    """Move every object alive now (modules, protobuf and pydantic schemas, settings, caches
    filled at start) out of the garbage collector's reach, once a service is serving.

    CPython's full (generation 2) collection walks every tracked object; a started service holds
    hundreds of thousands that live as long as the process, so each full collection stopped the
    event loop for 70-110 ms (oms, edge: measured with gc.callbacks during the bench), every
    order in flight waiting it out: the step's p99. A frozen object is still freed when its last
    reference goes (reference counting); only a cycle among frozen objects would stay. Cycles
    made later are found as before.
    """
    gc.collect()
    gc.freeze()
    log.info("startup_heap_frozen", objects=gc.get_freeze_count())


LOOP_LAG_INTERVAL_SECONDS = 0.1
LOOP_STALL_SECONDS = 0.1


@functools.cache
def _loop_lag(service: str) -> Histogram:
    # Registered once per service name per process (a test process runs several).
    return Histogram(
        f"fxmesh_{service}_event_loop_lag_seconds",
        "How late the event loop ran a timer due every 100 ms: what every request in flight "
        "waited then for something else (a long callback, a garbage collection, the CPU taken "
        "by another process).",
        buckets=LATENCY_BUCKETS,
    )


async def watch_event_loop(service: str, interval: float = LOOP_LAG_INTERVAL_SECONDS) -> None:
    """Measure how late the loop runs a timer, for good: ``fxmesh_<service>_event_loop_lag_seconds``,
    and a warning (``event_loop_stalled``) for a lag of ``LOOP_STALL_SECONDS`` or more.

    A service's latency outliers are mostly its loop stopped by one thing for a while, and the
    request histograms cannot tell that from slow work: a stall shows here, with its time in the
    logs to set beside a collection, a checkpoint or a burst of work."""
    lag_seconds = _loop_lag(service)
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + interval
        await asyncio.sleep(interval)
        lag = max(loop.time() - due, 0.0)
        lag_seconds.observe(lag)
        if lag >= LOOP_STALL_SECONDS:
            log.warning("event_loop_stalled", service=service, lag_ms=round(lag * 1000, 1))
