"""Admission control: a bounded number of requests in flight, a short queue with a deadline, and
a fast refusal when either is full, so that overload becomes quick 503s instead of a queue every
client waits in.

Three lanes, by what shedding a request would cost the client:

- ``CLOSE`` (closing orders, cancels, and whatever else reduces risk) is never refused: it enters
  at once and counts as in flight, so it takes capacity from new orders rather than waiting for
  them. The trigger watcher's actions (SL / TP / stop-out) run inside oms and never pass through
  admission at all.
- ``ORDER`` (new orders and other writes) enters while fewer than ``limit`` requests are in flight
  and nobody is waiting; else it waits in a FIFO queue of ``queue_size`` for at most
  ``queue_timeout`` seconds. A full queue or an expired wait refuses it.
- ``READ`` is shed first: it never queues, and enters only while in flight stays under
  ``read_limit`` (three quarters of ``limit``) with nobody waiting, so reads cannot crowd orders
  out of the last quarter.

A refusal is ``Overloaded``: gRPC RESOURCE_EXHAUSTED, reason ``OVERLOADED``, ErrorInfo metadata
``retry_after_seconds`` (the hint edge turns into ``Retry-After``) and ``cause``. Nothing was
done for a refused request, so it is always safe to retry.

The hint spreads the refused over the next seconds (``RetrySpreader``): with the service
finishing C requests a second, the first C refused in a second are told ``retry_after_seconds``,
the next C one second more, up to ``retry_after_max_seconds``. A fixed hint sends every refused
client of a burst back in the same second, to be refused again (2 000 orders against ~70/s of
capacity: ~2 000 refusals a second, each costing the server a request it could have spent on an
order).

Metrics (per service, bounded labels): ``fxmesh_<service>_admission_in_flight{lane}``,
``fxmesh_<service>_admission_queued``, ``fxmesh_<service>_admission_refused_total{lane,cause}``,
``fxmesh_<service>_admission_wait_seconds`` (time queued before entering).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import grpc
from prometheus_client import Counter, Gauge, Histogram

from fxmesh.errors import FxError
from fxmesh.metrics import LATENCY_BUCKETS

OVERLOADED = "OVERLOADED"
RETRY_AFTER_KEY = "retry_after_seconds"


class Lane(enum.Enum):
    """How a request is treated under overload (see the module docstring)."""

    READ = "read"
    ORDER = "order"
    CLOSE = "close"


class Cause(enum.Enum):
    """Why a request was refused (the ``cause`` label and ErrorInfo metadata)."""

    QUEUE_FULL = "QUEUE_FULL"
    QUEUE_TIMEOUT = "QUEUE_TIMEOUT"
    READS_SHED = "READS_SHED"


class Overloaded(FxError):
    """The service refused a request because it is at capacity; nothing was done."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = OVERLOADED

    @classmethod
    def because(cls, service: str, cause: Cause, retry_after_seconds: int) -> Overloaded:
        return cls(
            f"{service} is overloaded ({cause.value}): retry after {retry_after_seconds} s",
            metadata={RETRY_AFTER_KEY: str(retry_after_seconds), "cause": cause.value},
        )


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """The limits of one service's admission control."""

    limit: int
    """Requests in flight (all lanes) before orders queue and reads are refused."""
    queue_size: int
    """Orders that may wait for a slot; 0 refuses at once when ``limit`` is reached."""
    queue_timeout_seconds: float
    """How long an order may wait in the queue before it is refused."""
    retry_after_seconds: int = 1
    """The shortest retry hint sent with a refusal (whole seconds, as HTTP ``Retry-After``)."""
    retry_after_max_seconds: int = 5
    """The longest (``RetrySpreader``)."""

    @property
    def read_limit(self) -> int:
        """Reads enter only below this many in flight: the last quarter is kept for orders."""
        return max(1, self.limit * 3 // 4)


class RetrySpreader:
    """Retry hints that send the refused back over the next seconds instead of all in the next
    one: within each second, the first C refused (C the rate at which the service finishes
    requests) are told the minimum, the next C one second more, and so on up to the maximum.

    So at least C come back every second and the service never idles while clients wait, yet a
    burst of refused clients is not refused again all at once every second. (Promising each
    refusal its own future slot does worse: a client refused again is promised a second slot,
    the promises outrun the line, and the service idles while the clients wait out hints that
    grew to the maximum.) The completion rate is measured over one-second windows (the old
    estimate halved into each new one); a window longer than two seconds was mostly idle and
    says nothing about capacity, so it is dropped. Until a rate is known the hint is the
    minimum."""

    def __init__(
        self, minimum: int, maximum: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._min, self._max = minimum, max(minimum, maximum)
        self._clock = clock
        self.rate = 0.0
        self._window_start = clock()
        self._window_done = 0
        self._second = -1
        self._refused_this_second = 0

    def completed(self) -> None:
        """One request finished (a slot given back)."""
        self._window_done += 1
        self._roll(self._clock())

    def hint(self) -> int:
        """The Retry-After of one refusal now, in whole seconds."""
        now = self._clock()
        self._roll(now)
        second = int(now)
        if second != self._second:
            self._second, self._refused_this_second = second, 0
        self._refused_this_second += 1
        if self.rate <= 0:
            return self._min
        turn = math.ceil(self._refused_this_second / self.rate - 1e-9)
        return max(self._min, min(self._max, self._min - 1 + turn))

    def _roll(self, now: float) -> None:
        elapsed = now - self._window_start
        if elapsed < 1.0:
            return
        if elapsed <= 2.0:
            measured = self._window_done / elapsed
            self.rate = measured if self.rate <= 0 else (self.rate + measured) / 2
        self._window_start, self._window_done = now, 0


@functools.cache
def _metrics(service: str) -> tuple[Gauge, Gauge, Counter, Histogram]:
    # Registered once per service name per process, so a process (a test) may build several.
    return (
        Gauge(
            f"fxmesh_{service}_admission_in_flight",
            "Requests admitted and not finished, by lane.",
            ["lane"],
        ),
        Gauge(f"fxmesh_{service}_admission_queued", "Orders waiting for a slot."),
        Counter(
            f"fxmesh_{service}_admission_refused_total",
            "Requests refused by admission control, by lane and cause.",
            ["lane", "cause"],
        ),
        Histogram(
            f"fxmesh_{service}_admission_wait_seconds",
            "Time an admitted order waited in the queue.",
            buckets=LATENCY_BUCKETS,
        ),
    )


class Admission:
    """Admission control of one service (one event loop); ``enter(lane)`` holds a slot."""

    def __init__(
        self,
        service: str,
        policy: AdmissionPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if policy.limit < 1 or policy.queue_size < 0 or policy.queue_timeout_seconds < 0:
            raise ValueError(f"bad admission policy {policy}")
        self.service = service
        self.policy = policy
        self.retry = RetrySpreader(
            policy.retry_after_seconds, policy.retry_after_max_seconds, clock
        )
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        in_flight, self._queued, refused, self._wait = _metrics(service)
        self._in_flight_by_lane = {lane: in_flight.labels(lane.value) for lane in Lane}
        self._refused = {
            (lane, cause): refused.labels(lane.value, cause.value)
            for lane in Lane
            for cause in Cause
        }

    @property
    def queued(self) -> int:
        """Orders waiting for a slot now."""
        return len(self._waiters)

    @contextlib.asynccontextmanager
    async def enter(self, lane: Lane) -> AsyncIterator[None]:
        """Hold a slot of ``lane`` for the block; raise ``Overloaded`` when refused."""
        await self.acquire(lane)
        try:
            yield
        finally:
            self.release(lane)

    async def acquire(self, lane: Lane) -> None:
        """Take a slot (pair with ``release``), waiting in the queue if ``lane`` may."""
        if lane is Lane.CLOSE or (self.in_flight < self._limit_of(lane) and not self._waiters):
            self._take(lane)
            return
        if lane is Lane.READ:
            raise self._refuse(lane, Cause.READS_SHED)
        if len(self._waiters) >= self.policy.queue_size:
            raise self._refuse(lane, Cause.QUEUE_FULL)
        await self._wait_in_queue(lane)

    def release(self, lane: Lane) -> None:
        """Give a slot back: the first waiter inherits it, else in flight goes down."""
        self._in_flight_by_lane[lane].dec()
        self.retry.completed()
        while self._waiters:
            waiter = self._waiters.popleft()
            self._queued.dec()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes on: in_flight is unchanged
                return
        self.in_flight -= 1

    def _limit_of(self, lane: Lane) -> int:
        return self.policy.read_limit if lane is Lane.READ else self.policy.limit

    def _take(self, lane: Lane) -> None:
        self.in_flight += 1
        self._in_flight_by_lane[lane].inc()

    def _refuse(self, lane: Lane, cause: Cause) -> Overloaded:
        self._refused[(lane, cause)].inc()
        return Overloaded.because(self.service, cause, self.retry.hint())

    async def _wait_in_queue(self, lane: Lane) -> None:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._queued.inc()
        started = time.perf_counter()
        try:
            # shield: a timeout must not cancel a waiter that was handed a slot meanwhile.
            await asyncio.wait_for(asyncio.shield(waiter), self.policy.queue_timeout_seconds)
        except TimeoutError:
            if not waiter.done():
                self._forget(waiter)
                raise self._refuse(lane, Cause.QUEUE_TIMEOUT) from None
        except asyncio.CancelledError:  # the caller gave up (its deadline, a disconnect)
            if waiter.done():  # it had been handed a slot (in_flight counts it): pass it on
                self._in_flight_by_lane[lane].inc()
                self.release(lane)
            else:
                self._forget(waiter)
            raise
        # Handed a slot by ``release``: in_flight already counts it.
        self._in_flight_by_lane[lane].inc()
        self._wait.observe(time.perf_counter() - started)

    def _forget(self, waiter: asyncio.Future[None]) -> None:
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
            self._queued.dec()
