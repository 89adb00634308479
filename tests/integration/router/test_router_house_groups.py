"""B-book fills of one symbol that queue behind its lock commit as a group: one transaction, the
house book in the order written, and a fill that cannot be written fails alone.

Real gRPC, PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import grpc
import pytest
from router_harness import (
    ACCOUNT,
    D,
    Stub,
    assert_live_book_is_the_replayed_one,
    eventually,
    exposure,
    quote,
    request,
    symbol,
)

from bbook import store
from fxmesh.v1 import router_pb2, types_pb2
from router.convert import execute_command
from router.server import RouterApp

FILLED = router_pb2.EXECUTION_STATUS_FILLED
REJECTED = router_pb2.EXECUTION_STATUS_REJECTED


async def queued_behind_the_lock(
    router: RouterApp,
    stub: Stub,
    sym: str,
    requests: list[router_pb2.ExecuteRequest],
    while_held: Callable[[], Awaitable[object]] | None = None,
) -> list[asyncio.Future[router_pb2.ExecuteResponse]]:
    """Send ``requests`` while the symbol's lock is held, run ``while_held`` once all are queued,
    then release the lock."""
    house = router.service.house
    lock = house.lock(sym)
    await lock.acquire()
    try:
        calls = [asyncio.ensure_future(stub.Execute(r, timeout=10)) for r in requests]
        await eventually(lambda: house.queued(sym) == len(requests))
        if while_held is not None:
            await while_held()
    finally:
        lock.release()
    return calls


async def test_execute_when_fills_queue_behind_the_symbols_lock_then_one_transaction_in_order(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    sides = [types_pb2.SIDE_BUY, types_pb2.SIDE_SELL, types_pb2.SIDE_BUY] * 4
    volumes = ["0.10", "0.30", "1.00", "0.20"] * 3

    requests = [request(sym, s, v) for s, v in zip(sides, volumes, strict=True)]
    calls = await queued_behind_the_lock(router, stub, sym, requests)
    answers = await asyncio.gather(*calls)

    assert [a.status for a in answers] == [FILLED] * 12
    rows = await db.fetch(
        f"SELECT xmin::text AS tx, {store.columns()} FROM router.bbook_fills "
        "WHERE symbol = $1 ORDER BY seq",
        sym,
    )
    assert len(rows) == 12
    assert len({r["tx"] for r in rows}) == 1  # one transaction, one WAL flush
    assert {r["order_id"] for r in rows} == {r.order.order_id for r in requests}
    # Booked in the order written.
    assert_live_book_is_the_replayed_one(router, sym, rows)


async def test_execute_when_one_of_a_group_is_fenced_then_it_is_abandoned_and_the_rest_fill(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    fenced = str(uuid.uuid4())
    requests = [request(sym, types_pb2.SIDE_BUY) for _ in range(3)]
    requests.insert(1, request(sym, types_pb2.SIDE_BUY, order_id=fenced))
    # oms's reconciliation fences the order while its fill waits in the queue.
    fence = db.execute(
        "INSERT INTO router.order_claims (order_id, account_id, claim) VALUES ($1, $2, 'FENCED')",
        fenced,
        ACCOUNT,
    )
    calls = await queued_behind_the_lock(router, stub, sym, requests, lambda: fence)
    answers = await asyncio.gather(*calls)

    assert [a.status for a in answers] == [FILLED, REJECTED, FILLED, FILLED]
    assert answers[1].reject_reason == "ORDER_ABANDONED"
    filled = await db.fetch(
        "SELECT order_id, xmin::text AS tx FROM router.bbook_fills WHERE symbol = $1", sym
    )
    assert {r["order_id"] for r in filled} == {requests[i].order.order_id for i in (0, 2, 3)}
    assert len({r["tx"] for r in filled}) == 1
    house_now = await exposure(stub, sym)
    assert house_now is not None
    assert D(house_now.net_volume) == -3


async def test_execute_when_one_fill_of_a_group_breaks_an_invariant_then_only_it_fails(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    broken = str(uuid.uuid4())
    # A fill with no claim (a broken invariant): the group's statement for this order fails, so
    # the group cannot commit as one; the others must not pay for it.
    await db.execute(
        "INSERT INTO router.routing_decisions "
        "(order_id, account_id, symbol, side, volume, book, reason, status) "
        "VALUES ($1, $2, $3, 'BUY', 1.00, 'B', 'DEFAULT_B_BOOK', 'FILLED')",
        broken,
        ACCOUNT,
        sym,
    )
    await db.execute(
        f"INSERT INTO router.bbook_fills ({store.columns()}) "
        "VALUES ($1, $2, $3, $4, 'BUY', 1.00, 1.09990, 100000, 1, $5)",
        str(uuid.uuid4()),
        broken,
        ACCOUNT,
        sym,
        datetime.now(UTC),
    )
    requests = [request(sym, types_pb2.SIDE_BUY) for _ in range(3)]
    requests.insert(2, request(sym, types_pb2.SIDE_BUY, order_id=broken))

    calls = await queued_behind_the_lock(router, stub, sym, requests)
    outcomes = await asyncio.gather(*calls, return_exceptions=True)

    assert [o.status for i, o in enumerate(outcomes) if i != 2] == [FILLED] * 3  # type: ignore[union-attr]
    failed = outcomes[2]
    assert isinstance(failed, grpc.aio.AioRpcError)
    assert failed.code() is grpc.StatusCode.INTERNAL
    claims = await db.fetchval(
        "SELECT count(*) FROM router.order_claims WHERE order_id = $1", broken
    )
    assert claims == 0  # nothing of the failed order was written
    house_now = await exposure(stub, sym)
    assert house_now is not None
    assert D(house_now.net_volume) == -3


async def test_execute_when_a_queued_caller_is_cancelled_then_its_fill_is_not_written(
    router: RouterApp, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    service = router.service
    lock = service.house.lock(sym)
    await lock.acquire()
    try:
        order_id = str(uuid.uuid4())
        cmd = execute_command(request(sym, types_pb2.SIDE_BUY, order_id=order_id), None)
        waiting = asyncio.ensure_future(service.execute(cmd))
        await eventually(lambda: service.house.queued(sym) == 1)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    finally:
        lock.release()
    other = await service.execute(
        execute_command(request(sym, types_pb2.SIDE_SELL, order_id=str(uuid.uuid4())), None)
    )

    assert other.status.value == "FILLED"
    assert (
        await db.fetchval("SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", order_id)
        == 0
    )
