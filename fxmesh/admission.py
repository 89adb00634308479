"""Admission control: a bounded number of requests in flight, a short queue with a deadline, and
a fast refusal when either is full, so that overload becomes quick 503s instead of a queue every
client waits in.

Three lanes, by what shedding a request would cost the client:

- ``CLOSE`` (closing orders, cancels, and whatever else reduces risk) is never refused: it enters
  at once and counts as in flight, so it takes capacity from new orders rather than waiting for
  them. The trigger watcher's actions (SL / TP / stop-out) run inside oms and never pass through
  admission at all.
- ``ORDER`` (new orders and other writes) enters while fewer than ``limit`` requests are in flight
  and nobody is waiting; else it waits in a queue of ``queue_size`` for at most ``queue_timeout``
  seconds. The queue is ranked by standing, not arrival: a client refused before (and not let in
  since) stands from its first refusal (``RetryLine``), so its retry goes ahead of first attempts
  and may wait longer (``retry_queue_timeout``). The queue holds no more waiters than can enter
  before their deadline at the measured completion rate: the lowest-ranked beyond that, or
  beyond ``queue_size``, are refused at once, and one still waiting at its deadline is refused
  then.
- ``READ`` is shed first: it never queues, and enters only while in flight stays under three
  quarters of the limit with nobody waiting, so reads cannot crowd orders out of the last quarter.

The limit is fixed, or (``target_latency_seconds``) adapted by Little's law: once the service is
saturated, one request completes every I seconds (measured), so with L in flight each waits about
L x I; the limit is kept at target / I rounded up, at least ``MIN_ADAPTIVE_LIMIT`` and never above
the policy's limit. A fixed limit sized for one machine is too many on a slower one (every accepted
order waits longer without more finishing) and too few on a faster one (capacity left unused).

A refusal is ``Overloaded``: gRPC RESOURCE_EXHAUSTED, reason ``OVERLOADED``, ErrorInfo metadata
``retry_after_seconds`` (the hint edge turns into ``Retry-After``) and ``cause``. Nothing was
done for a refused request, so it is always safe to retry.

The hint spreads the refused over the next seconds (``RetrySpreader``): with the service
finishing C requests a second, the first C refused in a second are told ``retry_after_seconds``,
the next C one second more, up to ``retry_after_max_seconds``. A fixed hint sends every refused
client of a burst back in the same second, to be refused again (2 000 orders against ~70/s of
capacity: ~2 000 refusals a second, each costing the server a request it could have spent on an
order). A client with a place in line (a key it sends on every retry) is told instead when its
turn comes: those ahead of it over the completion rate (``Admission.turn_hint``, up to
``retry_after_in_line_max_seconds``), so a long burst is served in the order it was refused and
each of its clients retries a handful of times.

Metrics (per service, bounded labels): ``fxmesh_<service>_admission_in_flight{lane}``,
``fxmesh_<service>_admission_queued``, ``fxmesh_<service>_admission_refused_total{lane,cause}``,
``fxmesh_<service>_admission_wait_seconds`` (time queued before entering),
``fxmesh_<service>_admission_limit`` (the limit now).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import enum
import functools
import heapq
import itertools
import math
import time
from collections.abc import AsyncIterator, Callable, Hashable
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
    """Requests in flight (all lanes) before orders queue and reads are refused; with a target
    latency, the most the adaptive limit may reach."""
    queue_size: int
    """Orders that may wait for a slot; 0 refuses at once when ``limit`` is reached."""
    queue_timeout_seconds: float
    """How long an order may wait in the queue before it is refused."""
    retry_after_seconds: int = 1
    """The shortest retry hint sent with a refusal (whole seconds, as HTTP ``Retry-After``)."""
    retry_after_max_seconds: int = 5
    """The longest for a refusal that names no client (``RetrySpreader``)."""
    retry_after_in_line_max_seconds: int = 60
    """The longest for a client with a place in line (``RetryLine``): its hint is when its turn
    comes (``Admission.turn_hint``), which in a long burst is further off than the spreader's."""
    target_latency_seconds: float | None = None
    """None: ``limit`` is fixed. Else the limit adapts, between ``MIN_ADAPTIVE_LIMIT`` and
    ``limit``, so that an admitted request spends about this long in flight once the service is
    saturated (``Admission.limit``)."""
    retry_queue_timeout_seconds: float | None = None
    """How long a client refused before (``RetryLine``) may wait, if longer than
    ``queue_timeout``. A retry has paid a round trip and a Retry-After already: a longer wait for
    a slot that is coming serves it better than another refusal, while first attempts keep a
    fast answer."""


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
def _metrics(service: str) -> tuple[Gauge, Gauge, Counter, Histogram, Gauge]:
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
        Gauge(
            f"fxmesh_{service}_admission_limit",
            "Requests admitted in flight before orders queue (adapts to a target latency).",
        ),
    )


@dataclass(slots=True)
class _Place:
    first: float  # first refused since it last got in: its standing
    seq: int  # orders clients first refused at the same instant
    forget_at: float  # not back by then: it gave up (or got in through another door)


class RetryLine:
    """Each refused client's place in line: the time it was first refused since it last got in.

    A refused client is told to come back later; without this, its retry competes with every first
    attempt arriving at that moment, so in a long burst some clients are refused again and again
    while newcomers get in (the 2 000-order burst with 5 in flight: four orders given up after 30
    refusals). Ranking the queue by standing instead of arrival serves clients as if they had
    waited in line the whole time, and ``ahead`` (how many in line stand before a client) lets its
    retry hint say when its turn comes. A client not back by ``forget_at`` (its hint plus
    ``forget_after`` seconds) gave up and is forgotten; at most ``max_clients`` are remembered
    (those due to be forgotten soonest go first).

    Clients that give up stay counted ahead until they are forgotten, and a line of them would
    send everyone behind away for longer (a flood of clients that never retry: each told to wait
    for the ones before, who will not come). ``returning`` is the share of clients in line seen
    again (a moving average over returns and clients forgotten), and a turn counts only that
    share of those ahead."""

    _RETURN_WEIGHT = 0.05  # ~20 outcomes to follow a change in how clients behave

    def __init__(self, forget_after: float, max_clients: int = 50_000) -> None:
        self._forget_after = forget_after
        self._max_clients = max_clients
        self._clients: dict[Hashable, _Place] = {}
        # (first, seq) of every client in line, ascending: standings only ever join at the end
        # (a first refusal is "now"), so the list stays sorted and a rank is a bisect.
        self._line: list[tuple[float, int]] = []
        self._expiry: list[tuple[float, int, Hashable]] = []  # a heap; stale entries skipped
        self._seq = itertools.count()
        self.returning = 1.0

    def __len__(self) -> int:
        return len(self._clients)

    def standing(self, client: Hashable | None, now: float) -> float:
        """When ``client`` joined the line: its first refusal, or ``now`` for a first attempt."""
        if client is None:
            return now
        place = self._clients.get(client)
        if place is None or now > place.forget_at:
            return now
        return place.first

    def refused(self, client: Hashable | None, now: float) -> int:
        """Keep (or give) ``client`` its place; the number of clients in line ahead of it."""
        if client is None:
            return 0
        self._forget_expired(now)
        place = self._clients.get(client)
        if place is None:
            place = self._clients[client] = _Place(now, next(self._seq), now)
            self._line.append((place.first, place.seq))
        else:
            self._returned(1.0)
        self.expect_back(client, now)
        ahead = bisect.bisect_left(self._line, (place.first, place.seq))
        while len(self._clients) > self._max_clients:
            self._forget_next()
        return ahead

    def expect_back(self, client: Hashable, at: float) -> None:
        """``client`` was told to retry at ``at``: remember it until ``forget_after`` past that."""
        place = self._clients.get(client)
        if place is not None:
            place.forget_at = at + self._forget_after
            heapq.heappush(self._expiry, (place.forget_at, place.seq, client))

    def admitted(self, client: Hashable | None) -> None:
        if client is not None and self._clients:
            place = self._clients.pop(client, None)
            if place is not None:
                self._returned(1.0)
                self._leave(place)

    def _returned(self, outcome: float) -> None:
        self.returning += self._RETURN_WEIGHT * (outcome - self.returning)

    def _leave(self, place: _Place) -> None:
        at = bisect.bisect_left(self._line, (place.first, place.seq))
        if at < len(self._line) and self._line[at] == (place.first, place.seq):
            del self._line[at]

    def _forget_expired(self, now: float) -> None:
        while self._expiry and self._expiry[0][0] < now:
            if self._forget(heapq.heappop(self._expiry)):
                self._returned(0.0)

    def _forget_next(self) -> None:
        """Forget the client due to be forgotten soonest."""
        while self._expiry and not self._forget(heapq.heappop(self._expiry)):
            pass

    def _forget(self, entry: tuple[float, int, Hashable]) -> bool:
        """Forget the client of a heap entry, unless the entry is stale (a later hint, or a
        new place since)."""
        forget_at, seq, client = entry
        place = self._clients.get(client)
        if place is None or (place.seq, place.forget_at) != (seq, forget_at):
            return False
        del self._clients[client]
        self._leave(place)
        return True


@dataclass(slots=True, eq=False)
class _Waiter:
    standing: float
    deadline: float  # seconds it may wait: a retry's is the policy's retry queue timeout
    seq: int
    # Set by whoever decides its fate: None hands it a slot, a Cause refuses it.
    outcome: asyncio.Future[Cause | None]

    def rank(self) -> tuple[float, int]:
        return (self.standing, self.seq)


class Admission:
    """Admission control of one service (one event loop); ``enter(lane)`` holds a slot.

    Waiters are ranked by standing (``RetryLine``; a first attempt stands from its arrival), so a
    client already refused goes ahead of later arrivals, and the queue holds no more than can
    enter before its deadline: from the measured interval between completions at the limit,
    a waiter whose expected wait exceeds ``queue_timeout`` is refused at once (cause
    ``QUEUE_TIMEOUT``, without waiting it out), and when the queue is over its room the
    lowest-ranked waiter (perhaps the newcomer) is the one refused. The same interval adapts the
    limit when the policy sets a target latency (module docstring)."""

    # Weight of each new interval between saturated completions in their running mean: ~10
    # completions to follow a change, so one stall does not swing the limit.
    _INTERVAL_WEIGHT = 0.1
    MIN_ADAPTIVE_LIMIT = 2
    _TURN_EARLY = 0.8  # a retry hint aims a fifth ahead of the client's turn (``turn_hint``)
    # A client in line not back this long after its hint gave up: it no longer counts ahead.
    _RETURN_GRACE_SECONDS = 5.0

    def __init__(
        self,
        service: str,
        policy: AdmissionPolicy,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (
            policy.limit < 1
            or policy.queue_size < 0
            or policy.queue_timeout_seconds < 0
            or (policy.retry_queue_timeout_seconds or 0) < 0
            or (policy.target_latency_seconds is not None and policy.target_latency_seconds <= 0)
        ):
            raise ValueError(f"bad admission policy {policy}")
        self.service = service
        self.policy = policy
        self._clock = clock
        self.retry = RetrySpreader(
            policy.retry_after_seconds, policy.retry_after_max_seconds, clock
        )
        self.line = RetryLine(forget_after=self._RETURN_GRACE_SECONDS)
        self.in_flight = 0
        self.limit = policy.limit
        """Requests in flight before orders queue: the policy's, or adapted to its target
        latency by Little's law (in flight = target / completion interval) whenever a completion
        interval is measured; reads stop at three quarters of it."""
        self.completion_interval: float | None = None
        """Mean seconds between completions at the limit (None until measured)."""
        self._last_saturated_release: float | None = None
        self._waiters: list[_Waiter] = []  # ascending rank: the first enters next
        self._seq = itertools.count()
        in_flight, self._queued, refused, self._wait, self._limit_gauge = _metrics(service)
        self._limit_gauge.set(self.limit)
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

    def queue_room(self, deadline: float) -> int:
        """How many may wait for ``deadline`` seconds at most: the queue's size, or fewer when
        the measured completion interval says the rest would not enter in time (perhaps none)."""
        size = self.policy.queue_size
        interval = self.completion_interval
        if interval is None or interval <= 0 or size == 0:
            return size
        return min(size, int(deadline / interval))

    @contextlib.asynccontextmanager
    async def enter(self, lane: Lane, client: Hashable | None = None) -> AsyncIterator[None]:
        """Hold a slot of ``lane`` for the block; raise ``Overloaded`` when refused."""
        await self.acquire(lane, client)
        try:
            yield
        finally:
            self.release(lane)

    async def acquire(self, lane: Lane, client: Hashable | None = None) -> None:
        """Take a slot (pair with ``release``), waiting in the queue if ``lane`` may.

        ``client`` (any hashable naming who retries, e.g. an order's idempotency key) keeps a
        refused client's standing for its retries; None ranks the request by its arrival alone."""
        if lane is Lane.CLOSE or (self.in_flight < self._limit_of(lane) and not self._waiters):
            self._take(lane)
            self.line.admitted(client)
            return
        if lane is Lane.READ:
            raise self._refuse(lane, Cause.READS_SHED, client)
        if self.policy.queue_size == 0:
            raise self._refuse(lane, Cause.QUEUE_FULL, client)
        await self._wait_in_queue(lane, client)

    def release(self, lane: Lane) -> None:
        """Give a slot back: the first waiters inherit free slots, else in flight goes down."""
        self._in_flight_by_lane[lane].dec()
        self.retry.completed()
        if self.in_flight >= self.limit or self._waiters:
            self._measure_saturated_completion(self._clock())
        else:
            self._last_saturated_release = None
        self.in_flight -= 1
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.pop(0)
            self._queued.dec()
            self.in_flight += 1  # the waiter's from now: ``_wait_in_queue`` labels its lane
            waiter.outcome.set_result(None)

    def _measure_saturated_completion(self, now: float) -> None:
        """A completion at the limit (or with orders waiting): the interval since the last such
        one is the service's pace with that many in flight. Below the limit intervals measure the
        arrivals instead. (Not "while orders wait" alone: once the queue's room is 0, overload
        refuses at once and nobody waits, so the pace would go unmeasured.)"""
        last, self._last_saturated_release = self._last_saturated_release, now
        if last is None:
            return
        interval, mean = now - last, self.completion_interval
        mean = interval if mean is None else mean + self._INTERVAL_WEIGHT * (interval - mean)
        self.completion_interval = mean
        target = self.policy.target_latency_seconds
        if target is not None and mean > 0:
            # Little's law: with L in flight and one completion every ``mean`` seconds, each
            # admitted request is in flight ~L x mean; the limit that gives ``target``, rounded
            # up. The pace depends on the limit (fewer in flight batch less in oms, so each
            # completes slower): rounded to nearest, the limit settled where the slower pace of
            # fewer in flight paid for no more, with CPU left idle (docs/performance.md).
            wanted = math.ceil(target / mean - 1e-9)
            limit = min(self.policy.limit, max(self.MIN_ADAPTIVE_LIMIT, wanted))
            if limit != self.limit:
                self.limit = limit
                self._limit_gauge.set(limit)

    def _limit_of(self, lane: Lane) -> int:
        # Reads enter only below three quarters of the limit: the last quarter is for orders.
        return max(1, self.limit * 3 // 4) if lane is Lane.READ else self.limit

    def _take(self, lane: Lane) -> None:
        self.in_flight += 1
        self._in_flight_by_lane[lane].inc()

    def _refuse(self, lane: Lane, cause: Cause, client: Hashable | None) -> Overloaded:
        self._refused[(lane, cause)].inc()
        if client is None:
            return Overloaded.because(self.service, cause, self.retry.hint())
        now = self._clock()
        hint = self.turn_hint(self.line.refused(client, now))
        self.line.expect_back(client, now + hint)
        return Overloaded.because(self.service, cause, hint)

    def turn_hint(self, ahead: int) -> int:
        """The Retry-After of a client with ``ahead`` in line before it: about when they will
        have been served at the measured completion rate, rounded down and a fifth early (a
        client back early is refused again cheaply with a shorter hint, or waits briefly in the
        queue; one back late leaves the service idle), between the policy's shortest hint and
        ``retry_after_in_line_max_seconds``. Each retry's hint shrinks with the line ahead, so a
        client of a long burst retries a handful of times, never to the 30th refusal. Only the
        share of the line that comes back counts (``RetryLine.returning``)."""
        policy, interval = self.policy, self.completion_interval
        # The pace at the limit, not completions per second: a line told to come back later
        # leaves the service idle for a moment, and a rate counting that idle time would tell
        # the next ones to wait longer still.
        rate = 1.0 / interval if interval else self.retry.rate
        if rate <= 0:
            return policy.retry_after_seconds
        turn = int(self._TURN_EARLY * ahead * self.line.returning / rate)
        return max(policy.retry_after_seconds, min(policy.retry_after_in_line_max_seconds, turn))

    def _trim(self) -> None:
        """Refuse the lowest-ranked waiters beyond the queue's size, or beyond the room of
        their own deadline (retries rank ahead and have the longer one)."""
        waiters = self._waiters
        while waiters:
            count, last = len(waiters), waiters[-1]
            if count > self.policy.queue_size:
                cause = Cause.QUEUE_FULL
            elif count > self.queue_room(last.deadline):
                cause = Cause.QUEUE_TIMEOUT
            else:
                return
            waiters.pop()
            self._queued.dec()
            last.outcome.set_result(cause)

    async def _wait_in_queue(self, lane: Lane, client: Hashable | None) -> None:
        outcome: asyncio.Future[Cause | None] = asyncio.get_running_loop().create_future()
        now = self._clock()
        standing = self.line.standing(client, now)
        deadline = self.policy.queue_timeout_seconds
        if standing < now and self.policy.retry_queue_timeout_seconds is not None:
            deadline = max(deadline, self.policy.retry_queue_timeout_seconds)
        waiter = _Waiter(standing, deadline, next(self._seq), outcome)
        bisect.insort(self._waiters, waiter, key=_Waiter.rank)
        self._queued.inc()
        self._trim()
        refused_at_once = outcome.result() if outcome.done() else None  # no room for it
        if refused_at_once is not None:
            raise self._refuse(lane, refused_at_once, client)
        started = time.perf_counter()
        try:
            # shield: a timeout must not cancel a waiter that was handed a slot meanwhile.
            given = await asyncio.wait_for(asyncio.shield(outcome), deadline)
        except TimeoutError:
            if not outcome.done():
                self._forget(waiter)
                raise self._refuse(lane, Cause.QUEUE_TIMEOUT, client) from None
            given = outcome.result()
        except asyncio.CancelledError:  # the caller gave up (its deadline, a disconnect)
            if not outcome.done():
                self._forget(waiter)
            elif outcome.result() is None:  # it had been handed a slot: give it back
                self._in_flight_by_lane[lane].inc()
                self.release(lane)
            raise
        if given is not None:
            raise self._refuse(lane, given, client)
        # Handed a slot by ``release``: in_flight already counts it.
        self._in_flight_by_lane[lane].inc()
        self.line.admitted(client)
        self._wait.observe(time.perf_counter() - started)

    def _forget(self, waiter: _Waiter) -> None:
        waiter.outcome.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)
            self._queued.dec()
