"""Forward raw LP ticks to quotes over the client-streaming ``QuotesService.PublishTicks``.

Ticks wait in a conflating buffer keyed by (LP, symbol): when the stream is slow or quotes is down,
only the latest price per symbol is kept, so the gateway never backs up and never blocks QuickFIX.
A broken stream is reopened with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import structlog
from prometheus_client import Counter, Histogram

from fixgw.convert import tick_to_proto
from fixgw.domain import RawTick
from fxmesh.background import BackgroundLoop
from fxmesh.metrics import LATENCY_BUCKETS
from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc

log = structlog.stdlib.get_logger(__name__)

TICKS_FORWARDED = Counter(
    "fxmesh_fixgw_ticks_forwarded_total", "Raw LP ticks written to the quotes stream."
)
TICKS_CONFLATED = Counter(
    "fxmesh_fixgw_ticks_conflated_total",
    "Ticks replaced by a newer tick of the same LP and symbol before they could be sent.",
)
FORWARD_LAG = Histogram(
    "fxmesh_fixgw_tick_forward_lag_seconds",
    "From a tick's arrival over FIX to its write on the quotes stream.",
    buckets=LATENCY_BUCKETS,
)
STREAM_RESTARTS = Counter(
    "fxmesh_fixgw_quotes_stream_restarts_total", "Times the PublishTicks stream was reopened."
)

TickKey = tuple[str, str]


class TickForwarder:
    """Owns the PublishTicks stream; ``submit`` is cheap and never waits."""

    def __init__(
        self,
        stub_factory: Callable[[], quotes_pb2_grpc.QuotesServiceStub],
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
    ) -> None:
        self._stub_factory = stub_factory
        self._pending: dict[TickKey, RawTick] = {}
        self._wake = asyncio.Event()
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._loop = BackgroundLoop("fixgw-forwarder", self._run)
        self._stopping = False
        self.connected = False
        self._inflight: list[RawTick] = []

    def submit(self, tick: RawTick) -> None:
        """Queue a tick (on the event loop); an older unsent tick of the same key is dropped."""
        key = (tick.source, tick.symbol)
        if key in self._pending:
            TICKS_CONFLATED.inc()
            del self._pending[key]  # re-insert at the end: oldest first stays meaningful
        self._pending[key] = tick
        self._wake.set()

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        self._stopping = True
        await self._loop.stop()

    def _take(self) -> list[RawTick]:
        batch = list(self._pending.values())
        self._pending.clear()
        self._wake.clear()
        return batch

    def _requeue(self, batch: list[RawTick]) -> None:
        for tick in batch:
            self._pending.setdefault((tick.source, tick.symbol), tick)
        if self._pending:
            self._wake.set()

    async def _requests(self) -> AsyncIterator[quotes_pb2.PublishTicksRequest]:
        """The request stream: each batch is what accumulated while the previous one was sent."""
        while True:
            await self._wake.wait()
            batch = self._take()
            if not batch:
                continue
            self._inflight = batch
            yield quotes_pb2.PublishTicksRequest(ticks=[tick_to_proto(t) for t in batch])
            # Resumed: gRPC has written the batch and asks for the next one.
            self._inflight = []
            now = time.monotonic()
            for tick in batch:
                FORWARD_LAG.observe(max(0.0, now - tick.received_monotonic))
            TICKS_FORWARDED.inc(len(batch))
            if not self.connected:
                log.info("quotes_stream_open")
                self.connected = True

    async def _run(self) -> None:
        # The request-iterator form (not call.write): the call is made like any other, with the
        # trace context in its metadata (fxmesh.grpcclient).
        backoff = self._backoff_initial
        while not self._stopping:
            started = time.monotonic()
            try:
                STREAM_RESTARTS.inc()
                stub: Any = self._stub_factory()  # grpc stubs are typed for the sync API
                response = await stub.PublishTicks(self._requests())
                log.info("quotes_stream_closed", accepted=response.accepted)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: reopen the stream after a pause
                if self.connected:
                    log.warning("quotes_stream_lost", error=_describe(exc))
                else:
                    log.debug("quotes_stream_unavailable", error=_describe(exc))
            finally:
                self._requeue(self._inflight)
                self._inflight = []
            self.connected = False
            if time.monotonic() - started > 10 * self._backoff_max:
                backoff = self._backoff_initial  # the stream had been healthy for a while
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return type(exc).__name__
