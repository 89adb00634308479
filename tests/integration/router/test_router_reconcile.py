"""Execute is idempotent per order id; ReconcileExecution answers the execution or fences the order.

Real gRPC, PostgreSQL and Redis; races run between two router instances over one database, where
only PostgreSQL (the order claim) can keep them apart.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import grpc
import pytest
from router_harness import (
    ACCOUNT,
    Stub,
    exposure,
    quote,
    reconcile,
    request,
    symbol,
)

from fxmesh.errors import from_rpc_error
from fxmesh.v1 import router_pb2, types_pb2
from router.server import RouterApp
from tests.pg_locks import wait_for_lock_waiters

FILLED = router_pb2.EXECUTION_STATUS_FILLED
REJECTED = router_pb2.EXECUTION_STATUS_REJECTED
Starter = Callable[[], Awaitable[RouterApp]]


def stub_of(app: RouterApp, channels: list[grpc.aio.Channel]) -> Stub:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.server.port}")
    channels.append(channel)
    return Stub(channel)


@pytest.fixture
async def channels() -> AsyncIterator[list[grpc.aio.Channel]]:
    opened: list[grpc.aio.Channel] = []
    yield opened
    for channel in opened:
        await channel.close()


def same_execution(
    reconciled: router_pb2.ReconcileExecutionResponse, executed: router_pb2.ExecuteResponse
) -> bool:
    """ReconcileExecutionResponse mirrors ExecuteResponse field for field."""
    return (
        reconciled.book == executed.book
        and reconciled.routing_reason == executed.routing_reason
        and reconciled.status == executed.status
        and list(reconciled.fills) == list(executed.fills)
        and reconciled.reject_reason == executed.reject_reason
        and reconciled.reject_message == executed.reject_message
    )


async def fills_of(db: asyncpg.Connection, order_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", order_id
    )
    return count


async def test_execute_when_two_first_calls_race_then_one_fill_and_equal_answers(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())

    first, second = await asyncio.gather(
        stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10),
        stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10),
    )

    assert first.status == FILLED
    assert first == second
    assert await fills_of(db, order_id) == 1
    house = await exposure(stub, sym)
    assert house is not None
    assert house.net_volume == "-1.00"


async def test_execute_when_two_router_instances_race_on_one_order_then_one_fill_and_equal_answers(
    start: Starter, redis_client: object, db: asyncpg.Connection, channels: list[grpc.aio.Channel]
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    one, two = stub_of(await start(), channels), stub_of(await start(), channels)

    for _ in range(8):
        order_id = str(uuid.uuid4())
        first, second = await asyncio.gather(
            one.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10),
            two.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10),
        )

        assert first.status == FILLED
        assert first == second
        assert await fills_of(db, order_id) == 1
    decisions = await db.fetchval(
        "SELECT count(*) FROM router.routing_decisions WHERE symbol = $1 AND status = 'FILLED'", sym
    )
    assert decisions == 8


async def test_execute_when_retried_after_fill_then_same_answer_at_the_old_price(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())
    first = await stub.Execute(request(sym, types_pb2.SIDE_SELL, order_id=order_id), timeout=10)
    await quote(redis_client, sym, "1.30000", "1.30020")

    again = await stub.Execute(request(sym, types_pb2.SIDE_SELL, order_id=order_id), timeout=10)

    assert first.status == FILLED
    assert again == first
    assert again.fills[0].price == "1.10000"
    assert await fills_of(db, order_id) == 1


async def test_execute_when_retry_names_another_order_under_the_same_id_then_failed_precondition(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())
    await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(request(sym, types_pb2.SIDE_SELL, order_id=order_id), timeout=10)

    error = from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "ORDER_MISMATCH"


async def test_reconcile_when_order_was_filled_then_answers_the_same_fill(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())
    executed = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

    reconciled = await stub.ReconcileExecution(reconcile(order_id), timeout=10)
    again = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

    assert reconciled.status == FILLED
    assert same_execution(reconciled, executed)
    assert again == executed  # reconciling a filled order fences nothing
    assert await fills_of(db, order_id) == 1


async def test_reconcile_when_never_executed_then_not_executed_and_late_execute_is_abandoned(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())

    reconciled = await stub.ReconcileExecution(reconcile(order_id), timeout=10)
    late = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)
    again = await stub.ReconcileExecution(reconcile(order_id), timeout=10)

    assert reconciled.status == REJECTED
    assert reconciled.reject_reason == "NOT_EXECUTED"
    assert reconciled.book == types_pb2.BOOK_UNSPECIFIED
    assert not reconciled.fills
    assert late.status == REJECTED
    assert late.reject_reason == "ORDER_ABANDONED"
    assert not late.fills
    assert again.reject_reason == "NOT_EXECUTED"
    assert await fills_of(db, order_id) == 0
    assert await exposure(stub, sym) is None
    claim = await db.fetchrow(
        "SELECT claim, account_id FROM router.order_claims WHERE order_id = $1", order_id
    )
    assert claim is not None
    assert tuple(claim) == ("FENCED", ACCOUNT)
    assert (
        await db.fetchval(
            "SELECT reject_reason FROM router.routing_decisions WHERE order_id = $1", order_id
        )
        == "ORDER_ABANDONED"
    )


async def test_reconcile_when_last_execute_was_rejected_then_not_executed_and_order_fenced(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020", age_ms=30_000)
    order_id = str(uuid.uuid4())
    stale = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

    reconciled = await stub.ReconcileExecution(reconcile(order_id), timeout=10)
    await quote(redis_client, sym, "1.10000", "1.10020")
    late = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

    assert stale.reject_reason == "QUOTE_STALE"
    assert reconciled.status == REJECTED
    assert reconciled.reject_reason == "NOT_EXECUTED"
    assert (reconciled.book, reconciled.routing_reason) == (types_pb2.BOOK_B, "DEFAULT_B_BOOK")
    assert "QUOTE_STALE" in reconciled.reject_message
    assert late.reject_reason == "ORDER_ABANDONED"
    assert await fills_of(db, order_id) == 0


async def test_fence_when_router_restarts_then_late_execute_is_still_abandoned(
    start: Starter, redis_client: object, db: asyncpg.Connection, channels: list[grpc.aio.Channel]
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())
    first = await start()
    reconciled = await stub_of(first, channels).ReconcileExecution(reconcile(order_id), timeout=10)
    await first.stop()

    second = stub_of(await start(), channels)
    late = await second.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)
    again = await second.ReconcileExecution(reconcile(order_id), timeout=10)

    assert reconciled.reject_reason == "NOT_EXECUTED"
    assert late.status == REJECTED
    assert late.reject_reason == "ORDER_ABANDONED"
    assert again.reject_reason == "NOT_EXECUTED"
    assert await fills_of(db, order_id) == 0


async def test_execute_when_fence_commits_while_execute_waits_on_it_then_abandoned_without_fill(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection, pg_dsn: str
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())
    fencer = await asyncpg.connect(pg_dsn)
    try:
        # A reconciliation's fence, inserted but not committed yet: Execute cannot see it, prices
        # the order and then has to wait on the fence's transaction to claim the order id.
        fence = fencer.transaction()
        await fence.start()
        await fencer.execute(
            "INSERT INTO router.order_claims (order_id, account_id, claim) "
            "VALUES ($1, $2, 'FENCED')",
            order_id,
            ACCOUNT,
        )
        execute = asyncio.ensure_future(
            stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=60)
        )
        await wait_for_lock_waiters(db, 1, execute)
        await fence.commit()
        late = await execute
    finally:
        await fencer.close()

    assert late.status == REJECTED
    assert late.reject_reason == "ORDER_ABANDONED"
    assert await fills_of(db, order_id) == 0
    assert await exposure(stub, sym) is None


async def test_execute_and_reconcile_racing_then_order_is_either_filled_or_fenced_never_both(
    start: Starter, redis_client: object, db: asyncpg.Connection, channels: list[grpc.aio.Channel]
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    one, two = stub_of(await start(), channels), stub_of(await start(), channels)

    for _ in range(10):
        order_id = str(uuid.uuid4())
        executed, reconciled = await asyncio.gather(
            one.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10),
            two.ReconcileExecution(reconcile(order_id), timeout=10),
        )
        again = await two.ReconcileExecution(reconcile(order_id), timeout=10)

        fills = await fills_of(db, order_id)
        if executed.status == FILLED:
            assert same_execution(reconciled, executed)
            assert same_execution(again, executed)
            assert fills == 1
        else:
            assert executed.reject_reason == "ORDER_ABANDONED"
            assert (reconciled.reject_reason, again.reject_reason) == ("NOT_EXECUTED",) * 2
            assert fills == 0


async def test_reconcile_when_account_differs_then_failed_precondition_and_no_fence(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    order_id = str(uuid.uuid4())
    rejected = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ReconcileExecution(reconcile(order_id, account_id="2002"), timeout=10)

    assert rejected.reject_reason == "NO_QUOTE"
    error = from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.FAILED_PRECONDITION
    assert error.reason == "ORDER_ACCOUNT_MISMATCH"
    assert (
        await db.fetchval("SELECT count(*) FROM router.order_claims WHERE order_id = $1", order_id)
        == 0
    )


async def test_reconcile_when_order_id_missing_then_invalid_argument(stub: Stub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ReconcileExecution(reconcile(""), timeout=10)

    error = from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.metadata.get("field") == "order_id"
