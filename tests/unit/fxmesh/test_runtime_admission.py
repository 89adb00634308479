"""Admission control: bounded in flight, a queue ranked by standing with a deadline, reads shed
first, closes never refused. No timing asserts: waits are either never reached (long timeouts) or reached by
design (zero / tiny timeouts with a holder that never lets go)."""

from __future__ import annotations

import asyncio
import collections
import heapq
import itertools

import grpc
import pytest
from prometheus_client import REGISTRY

from fxmesh.admission import (
    OVERLOADED,
    RETRY_AFTER_KEY,
    Admission,
    AdmissionPolicy,
    Cause,
    Lane,
    Overloaded,
    RetryLine,
    RetrySpreader,
)

LONG = 60.0


def admission(limit: int = 2, queue: int = 2, timeout: float = LONG) -> Admission:
    return Admission("admtest", AdmissionPolicy(limit, queue, timeout, retry_after_seconds=3))


async def test_enter_when_under_limit_then_admitted_and_counted() -> None:
    adm = admission()

    async with adm.enter(Lane.ORDER):
        assert adm.in_flight == 1

    assert adm.in_flight == 0


async def test_order_when_limit_and_queue_full_then_refused_overloaded_with_retry_hint() -> None:
    adm = admission(limit=1, queue=1)
    await adm.acquire(Lane.ORDER)
    queued = asyncio.create_task(adm.acquire(Lane.ORDER))
    await asyncio.sleep(0)

    with pytest.raises(Overloaded) as refused:
        await adm.acquire(Lane.ORDER)

    err = refused.value
    assert err.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert err.reason == OVERLOADED
    assert err.metadata == {RETRY_AFTER_KEY: "3", "cause": Cause.QUEUE_FULL.value}
    adm.release(Lane.ORDER)
    await queued  # the queued one inherits the slot
    assert (adm.in_flight, adm.queued) == (1, 0)


async def test_order_when_queued_past_its_timeout_then_refused_and_slot_not_leaked() -> None:
    adm = admission(limit=1, queue=4, timeout=0.01)
    await adm.acquire(Lane.ORDER)

    with pytest.raises(Overloaded) as refused:
        await adm.acquire(Lane.ORDER)

    assert refused.value.metadata["cause"] == Cause.QUEUE_TIMEOUT.value
    assert adm.queued == 0
    adm.release(Lane.ORDER)
    assert adm.in_flight == 0


async def test_queue_when_slots_free_up_then_waiters_enter_in_arrival_order() -> None:
    adm = admission(limit=1, queue=3)
    await adm.acquire(Lane.ORDER)
    entered: list[int] = []

    async def wait(i: int) -> None:
        await adm.acquire(Lane.ORDER)
        entered.append(i)

    waiters = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0)
    for _ in range(3):
        adm.release(Lane.ORDER)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    await asyncio.gather(*waiters)

    assert entered == [0, 1, 2]
    assert adm.in_flight == 1


async def test_read_when_orders_are_waiting_then_shed_at_once() -> None:
    adm = admission(limit=4, queue=4)
    for _ in range(3):  # three quarters of the limit: reads stop here, orders do not
        await adm.acquire(Lane.ORDER)

    with pytest.raises(Overloaded) as refused:
        await adm.acquire(Lane.READ)
    await adm.acquire(Lane.ORDER)

    assert refused.value.metadata["cause"] == Cause.READS_SHED.value
    assert adm.in_flight == 4


async def test_close_when_overloaded_then_never_refused() -> None:
    adm = admission(limit=1, queue=0)
    await adm.acquire(Lane.ORDER)
    with pytest.raises(Overloaded):
        await adm.acquire(Lane.ORDER)

    async with adm.enter(Lane.CLOSE), adm.enter(Lane.CLOSE):
        assert adm.in_flight == 3

    assert adm.in_flight == 1


async def test_waiter_when_cancelled_then_leaves_the_queue_and_later_waiters_get_the_slot() -> None:
    adm = admission(limit=1, queue=2)
    await adm.acquire(Lane.ORDER)
    gone = asyncio.create_task(adm.acquire(Lane.ORDER))
    stays = asyncio.create_task(adm.acquire(Lane.ORDER))
    await asyncio.sleep(0)

    gone.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gone
    adm.release(Lane.ORDER)
    await stays

    assert (adm.in_flight, adm.queued) == (1, 0)


async def test_waiter_when_cancelled_as_it_is_handed_a_slot_then_no_slot_is_lost() -> None:
    adm = admission(limit=1, queue=2)
    await adm.acquire(Lane.ORDER)
    first = asyncio.create_task(adm.acquire(Lane.ORDER))
    second = asyncio.create_task(adm.acquire(Lane.ORDER))
    await asyncio.sleep(0)

    adm.release(Lane.ORDER)  # hands the slot to ``first`` ...
    first.cancel()  # ... which is cancelled before it runs
    (outcome,) = await asyncio.gather(first, return_exceptions=True)
    if not isinstance(outcome, asyncio.CancelledError):
        adm.release(Lane.ORDER)  # the cancel came too late: it holds the slot, and gives it back
    await second

    assert (adm.in_flight, adm.queued) == (1, 0)
    adm.release(Lane.ORDER)
    assert adm.in_flight == 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_retry_hint_when_no_rate_known_yet_then_the_minimum() -> None:
    spreader = RetrySpreader(1, 30, Clock())

    assert [spreader.hint() for _ in range(5)] == [1, 1, 1, 1, 1]


def test_retry_hint_when_refusals_outnumber_capacity_then_spread_over_seconds_up_to_the_maximum() -> (
    None
):
    clock = Clock()
    spreader = RetrySpreader(1, 5, clock)
    for _ in range(64):  # 64 requests finished in one second: capacity 64/s
        clock.now += 1 / 64
        spreader.completed()
    assert spreader.rate == 64.0

    hints = [spreader.hint() for _ in range(2000)]  # a burst refused in the same second

    # 64 a second come back in each of the next seconds, never all at once; past the maximum
    # the rest are told the maximum.
    assert hints[:64] == [1] * 64
    assert hints[64:128] == [2] * 64
    assert hints[256:] == [5] * (2000 - 256)


def test_retry_hint_when_a_new_second_starts_then_its_first_refused_get_the_minimum_again() -> None:
    # The refused of a second ago come back now, and so does whoever arrives: the service is fed
    # at least its capacity every second, never left idle while clients wait.
    clock = Clock()
    spreader = RetrySpreader(1, 5, clock)
    for _ in range(10):
        clock.now += 0.1
        spreader.completed()
    assert [spreader.hint() for _ in range(30)][-1] == 3

    for _ in range(10):  # the service goes on finishing 10 a second
        clock.now += 0.1
        spreader.completed()

    assert spreader.rate == pytest.approx(10.0)
    assert [spreader.hint() for _ in range(11)] == [1] * 10 + [2]


def test_retry_hint_when_idle_for_long_then_that_window_is_not_taken_for_capacity() -> None:
    clock = Clock()
    spreader = RetrySpreader(1, 5, clock)
    for _ in range(10):
        clock.now += 0.1
        spreader.completed()

    clock.now += 10.0
    spreader.completed()  # one request after ten idle seconds

    assert spreader.rate == pytest.approx(10.0)


async def test_order_when_refused_by_a_busy_service_then_hint_grows_with_the_refused() -> None:
    clock = Clock()
    adm = Admission("admtest", AdmissionPolicy(1, 0, LONG, 1, 5), clock=clock)
    for _ in range(4):  # 4 requests finish in a second
        await adm.acquire(Lane.ORDER)
        clock.now += 0.25
        adm.release(Lane.ORDER)
    await adm.acquire(Lane.ORDER)

    hints = []
    for _ in range(9):
        with pytest.raises(Overloaded) as refused:
            await adm.acquire(Lane.ORDER)
        hints.append(refused.value.metadata[RETRY_AFTER_KEY])

    assert hints == ["1", "1", "1", "1", "2", "2", "2", "2", "3"]


async def test_queue_when_a_refused_client_retries_then_it_enters_ahead_of_later_first_attempts() -> (
    None
):
    clock = Clock()
    adm = Admission("admtest", AdmissionPolicy(1, 3, LONG), clock=clock)
    await adm.acquire(Lane.ORDER, "holder")
    entered: list[str] = []

    async def order(client: str) -> None:
        await adm.acquire(Lane.ORDER, client)
        entered.append(client)

    async def arrive(client: str) -> asyncio.Task[None]:
        clock.now += 1
        task = asyncio.create_task(order(client))
        await asyncio.sleep(0)
        return task

    first = [await arrive(f"first{i}") for i in range(3)]
    refused = await arrive("retrier")  # the queue is full: refused, and remembered
    with pytest.raises(Overloaded):
        await refused
    for _ in range(3):
        adm.release(Lane.ORDER)
    await asyncio.gather(*first)
    later = [await arrive("later0"), await arrive("later1")]
    retry = await arrive("retrier")  # arrives last, stands from its refusal
    for _ in range(3):
        adm.release(Lane.ORDER)
    await asyncio.gather(*later, retry)

    assert entered == ["first0", "first1", "first2", "retrier", "later0", "later1"]
    assert len(adm.line) == 0  # let in: its standing is forgotten


async def test_queue_when_full_and_a_client_refused_earlier_retries_then_the_youngest_waiter_is_refused() -> (
    None
):
    clock = Clock()
    adm = Admission("admtest", AdmissionPolicy(1, 1, LONG), clock=clock)
    await adm.acquire(Lane.ORDER, "holder")
    waiting = asyncio.create_task(adm.acquire(Lane.ORDER, "early"))
    await asyncio.sleep(0)
    clock.now += 1
    with pytest.raises(Overloaded):
        await adm.acquire(Lane.ORDER, "retrier")
    adm.release(Lane.ORDER)
    await waiting  # "early" holds the slot now
    clock.now += 1
    young = asyncio.create_task(adm.acquire(Lane.ORDER, "young"))
    await asyncio.sleep(0)
    clock.now += 1

    retry = asyncio.create_task(adm.acquire(Lane.ORDER, "retrier"))
    with pytest.raises(Overloaded) as bumped:
        await young
    adm.release(Lane.ORDER)
    await retry

    assert bumped.value.metadata["cause"] == Cause.QUEUE_FULL.value
    assert (adm.in_flight, adm.queued) == (1, 0)


async def test_queue_when_completions_are_too_slow_for_its_deadline_then_the_excess_is_refused_without_waiting() -> (
    None
):
    clock = Clock()
    adm = Admission("admtest", AdmissionPolicy(1, 8, 1000.0), clock=clock)
    await adm.acquire(Lane.ORDER)
    for _ in range(3):  # saturated: each completion hands its slot on, 400 s apart
        waiter = asyncio.create_task(adm.acquire(Lane.ORDER))
        await asyncio.sleep(0)
        clock.now += 400
        adm.release(Lane.ORDER)
        await waiter
    assert adm.completion_interval == pytest.approx(400.0)
    assert adm.queue_room(1000.0) == 2  # two enter within the deadline, a third would not
    waiters = [asyncio.create_task(adm.acquire(Lane.ORDER)) for _ in range(2)]
    await asyncio.sleep(0)

    async with asyncio.timeout(30):  # a bound for a stuck test: waiting it out takes 1000 s
        with pytest.raises(Overloaded) as refused:
            await adm.acquire(Lane.ORDER)

    assert refused.value.metadata["cause"] == Cause.QUEUE_TIMEOUT.value
    assert adm.queued == 2
    for _ in range(3):
        adm.release(Lane.ORDER)
    await asyncio.gather(*waiters)
    assert (adm.in_flight, adm.queued) == (0, 0)


def test_retry_line_when_a_client_stops_retrying_then_it_is_forgotten() -> None:
    line = RetryLine(forget_after=10.0, max_clients=2)
    line.refused("a", 100.0)
    line.refused("a", 105.0)  # refused again: keeps its first standing

    assert line.standing("a", 110.0) == 100.0
    assert line.standing("a", 116.0) == 116.0  # not seen for more than 10 s: gave up
    assert line.standing(None, 110.0) == 110.0

    line.refused("b", 106.0)
    line.refused("c", 107.0)  # a third client: the least recently refused ("a") goes
    assert len(line) == 2
    assert line.standing("a", 108.0) == 108.0
    line.admitted("b")
    assert line.standing("b", 108.0) == 108.0


def test_retry_line_when_clients_ahead_get_in_or_give_up_then_a_client_has_fewer_ahead() -> None:
    line = RetryLine(forget_after=10.0)
    ahead = [line.refused(f"c{i}", 100.0 + i / 100) for i in range(5)]
    for i in range(5):
        line.expect_back(f"c{i}", 102.0)  # each told to come back at 102

    assert ahead == [0, 1, 2, 3, 4]
    assert line.refused("c4", 102.0) == 4  # back and refused again: its place is kept
    line.admitted("c0")
    line.admitted("c2")
    assert line.refused("c4", 102.5) == 2
    line.expect_back("c4", 130.0)  # told to come back much later: remembered till then + 10
    assert line.refused("c9", 113.0) == 1  # c1 and c3 were not back by 112: gave up
    assert line.standing("c4", 139.0) == 100.04


async def busy_at_20_per_second(clock: Clock) -> Admission:
    """A service that finished 20 requests a second, one at a time, and holds its one slot."""
    adm = Admission("admtest", AdmissionPolicy(1, 0, LONG, 1, 5), clock=clock)
    for _ in range(30):
        await adm.acquire(Lane.ORDER)
        clock.now += 0.05
        adm.release(Lane.ORDER)
    assert adm.retry.rate == pytest.approx(20.0)
    await adm.acquire(Lane.ORDER)
    return adm


def refused_hint(adm: Admission, client: str) -> int:
    """Refuse ``client`` as ``acquire`` does with no room (at once); its Retry-After."""
    refused = adm._refuse(Lane.ORDER, Cause.QUEUE_FULL, client)
    return int(refused.metadata[RETRY_AFTER_KEY])


async def test_order_when_refused_with_a_place_in_line_then_the_hint_is_when_its_turn_comes() -> (
    None
):
    adm = await busy_at_20_per_second(Clock())

    hints = [refused_hint(adm, f"order{i}") for i in range(200)]

    # 0.8 x ahead / 20 per s: the 200th is told 7 s, past the 5 s cap of refusals without a key
    assert hints[:50] == [1] * 50
    assert (hints[99], hints[199]) == (3, 7)
    assert hints == sorted(hints)
    for i in range(150):  # the first 150 get in
        adm.line.admitted(f"order{i}")
    assert refused_hint(adm, "order199") == 1  # 49 ahead: its turn is within a few seconds now


async def test_order_when_the_clients_ahead_never_came_back_then_its_hint_does_not_wait_for_them() -> (
    None
):
    clock = Clock()
    adm = await busy_at_20_per_second(clock)
    for i in range(1000):  # a flood of orders that are refused and never retried
        clock.now += 0.001
        refused_hint(adm, f"flood{i}")
    clock.now += 5.5  # the first of them are past their hint and the grace: gave up

    hint = refused_hint(adm, "late")

    assert adm.line.returning < 0.5
    assert hint < 0.8 * 1000 / 20 / 2


async def test_burst_when_refused_clients_retry_at_their_hints_then_each_gets_in_after_a_few_refusals() -> (
    None
):
    """500 orders in a second against a service finishing 40 a second (2 in flight, room in the
    queue for 32: edge's with a 1 s retry wait), every refused client retrying exactly at its
    Retry-After: a discrete-event simulation on admission's clock (the queue's own timeouts are
    never reached). With the spread hints instead of turns, some orders were refused 10 times."""
    clock = Clock()
    adm = Admission("admtest", AdmissionPolicy(2, 32, LONG, 1, 5), clock=clock)
    service_seconds = 0.05
    events: list[tuple[float, int, str, str]] = []  # (time, seq, what, client): a heap
    seq = itertools.count()
    for i in range(500):
        heapq.heappush(events, (i / 500, next(seq), "try", f"order{i}"))
    refusals: collections.Counter[str] = collections.Counter()
    admitted_at: dict[str, float] = {}
    waiting: dict[str, asyncio.Task[None]] = {}

    def settle(client: str, attempt: asyncio.Task[None]) -> None:
        exc = attempt.exception()
        if isinstance(exc, Overloaded):
            refusals[client] += 1
            retry_after = int(exc.metadata[RETRY_AFTER_KEY])
            heapq.heappush(events, (clock.now + retry_after, next(seq), "try", client))
            return
        assert exc is None
        admitted_at[client] = clock.now
        heapq.heappush(events, (clock.now + service_seconds, next(seq), "done", client))

    while events:
        clock.now, _, what, client = heapq.heappop(events)
        if what == "done":
            adm.release(Lane.ORDER)
        else:
            waiting[client] = asyncio.create_task(adm.acquire(Lane.ORDER, client))
        for _ in range(3):  # let the attempt, and waiters handed a slot or bumped, run
            await asyncio.sleep(0)
        for waiter, attempt in list(waiting.items()):
            if attempt.done():
                del waiting[waiter]
                settle(waiter, attempt)

    assert len(admitted_at) == 500
    assert max(refusals.values()) <= 5
    assert sum(refusals.values()) < 1_200
    assert max(admitted_at.values()) < 500 / 40 * 1.05  # the line kept the service busy
    assert len(adm.line) == 0


async def saturate(adm: Admission, clock: Clock, completions: int, interval: float) -> None:
    """Completions ``interval`` apart while an order waits, ending with one slot held."""
    if adm.in_flight == 0:
        await adm.acquire(Lane.ORDER)
    for _ in range(completions):
        while adm.in_flight < adm.limit:  # fill the slots so that the next one queues
            await adm.acquire(Lane.ORDER)
        waiter = asyncio.create_task(adm.acquire(Lane.ORDER))
        await asyncio.sleep(0)
        while adm.queued:  # a shrinking limit hands nothing on until it is met
            clock.now += interval
            adm.release(Lane.ORDER)
        await waiter


async def test_limit_when_a_target_latency_is_set_then_it_follows_the_measured_pace() -> None:
    clock = Clock()
    adm = Admission(
        "admtest", AdmissionPolicy(16, 8, LONG, target_latency_seconds=0.05), clock=clock
    )
    assert adm.limit == 16  # nothing measured yet: the ceiling

    await saturate(adm, clock, 40, interval=0.01)  # 100 completions a second
    assert adm.limit == 5  # 5 in flight x 10 ms = the 50 ms target
    assert REGISTRY.get_sample_value("fxmesh_admtest_admission_limit") == 5  # what SREs see

    await saturate(adm, clock, 60, interval=0.001)  # a faster service: capped at the policy's
    assert adm.limit == 16

    await saturate(adm, clock, 80, interval=1.0)  # a stalled one: the floor, never zero
    assert adm.limit == Admission.MIN_ADAPTIVE_LIMIT


async def test_limit_when_the_policy_allows_fewer_than_the_adaptive_floor_then_never_above_it() -> (
    None
):
    clock = Clock()
    adm = Admission(
        "admtest", AdmissionPolicy(1, 8, LONG, target_latency_seconds=0.05), clock=clock
    )

    await saturate(adm, clock, 10, interval=1.0)  # a stalled service: the floor would be 2

    assert adm.limit == 1  # the policy's limit is a ceiling, the floor does not lift it


async def test_limit_when_it_shrinks_below_those_in_flight_then_waiters_wait_until_it_is_met() -> (
    None
):
    clock = Clock()
    adm = Admission(
        "admtest", AdmissionPolicy(8, 8, LONG, target_latency_seconds=0.05), clock=clock
    )
    for _ in range(8):
        await adm.acquire(Lane.ORDER)

    async def complete_while_one_waits() -> asyncio.Task[None]:
        waiter = asyncio.create_task(adm.acquire(Lane.ORDER))
        await asyncio.sleep(0)
        clock.now += 0.025
        adm.release(Lane.ORDER)
        await asyncio.sleep(0)
        return waiter

    await (await complete_while_one_waits())  # the first measured completion
    waiter = await complete_while_one_waits()  # 40 a second: 2 in flight make the 50 ms
    assert adm.limit == 2
    for _ in range(5):  # 7 in flight down to 2
        adm.release(Lane.ORDER)
    await asyncio.sleep(0)
    assert not waiter.done()  # not below the limit yet: nothing handed on
    adm.release(Lane.ORDER)
    await waiter

    assert adm.in_flight == 2


async def test_queue_when_no_slot_frees_within_its_deadline_then_only_a_retrying_client_waits() -> (
    None
):
    clock = Clock()
    policy = AdmissionPolicy(1, 8, LONG, retry_queue_timeout_seconds=1000.0)
    adm = Admission("admtest", policy, clock=clock)
    await saturate(adm, clock, 2, interval=100.0)  # one completion every 100 s
    assert (adm.queue_room(LONG), adm.queue_room(1000.0)) == (0, 8)
    with pytest.raises(Overloaded) as first:  # at once: it could not have entered in time
        await adm.acquire(Lane.ORDER, "client")
    clock.now += 1

    retry = asyncio.create_task(adm.acquire(Lane.ORDER, "client"))  # may wait 1000 s
    await asyncio.sleep(0)
    with pytest.raises(Overloaded):  # a first attempt after it is refused at once
        await adm.acquire(Lane.ORDER, "other")
    adm.release(Lane.ORDER)
    await retry

    assert first.value.metadata["cause"] == Cause.QUEUE_TIMEOUT.value
    assert (adm.in_flight, adm.queued) == (1, 0)


async def test_pace_when_overload_is_refused_at_once_and_nobody_waits_then_still_measured() -> None:
    # Once the queue's room is 0 overload is refused at once, so nobody waits; the completions at
    # the limit must still measure the pace, or the limit would stay where a stall once left it.
    clock = Clock()
    adm = Admission(
        "admtest", AdmissionPolicy(16, 8, 0.01, target_latency_seconds=0.05), clock=clock
    )

    async def at_the_limit(completions: int, interval: float) -> None:
        for _ in range(completions):
            while adm.in_flight < adm.limit:  # every freed slot is taken again at once
                await adm.acquire(Lane.ORDER)
            clock.now += interval
            adm.release(Lane.ORDER)

    await at_the_limit(60, 0.05)  # a stall: 1 in flight would make 50 ms, the floor is 2
    assert (adm.limit, adm.queue_room(0.01)) == (Admission.MIN_ADAPTIVE_LIMIT, 0)

    await at_the_limit(60, 0.005)  # the pace comes back, nobody ever waits

    assert adm.queued == 0
    assert adm.completion_interval == pytest.approx(0.005, rel=0.05)
    assert adm.limit == 10
