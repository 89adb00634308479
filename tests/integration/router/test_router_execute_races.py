"""Execute reads outside the symbol's lock: races inside one router must still fill once, book
fills in commit order, and never answer a rejection for an order that is filled.

Real gRPC, PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from datetime import UTC, datetime

import asyncpg
from router_harness import (
    ACCOUNT,
    D,
    Stub,
    assert_live_book_is_the_replayed_one,
    exposure,
    quote,
    reconcile,
    request,
    symbol,
)

from bbook import store
from fxmesh.v1 import router_pb2, types_pb2
from router.server import RouterApp
from tests.pg_locks import wait_for_lock_waiters

FILLED = router_pb2.EXECUTION_STATUS_FILLED
REJECTED = router_pb2.EXECUTION_STATUS_REJECTED


async def fills_of(db: asyncpg.Connection, order_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", order_id
    )
    return count


async def test_execute_when_many_first_calls_race_in_one_router_then_one_fill_booked_once(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())

    answers = await asyncio.gather(
        *(
            stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)
            for _ in range(8)
        )
    )

    assert answers[0].status == FILLED
    assert all(answer == answers[0] for answer in answers)
    assert await fills_of(db, order_id) == 1
    house = await exposure(stub, sym)
    assert house is not None
    assert house.net_volume == "-1.00"


async def test_execute_when_many_orders_fill_concurrently_then_house_book_matches_commit_order(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    rng = random.Random(7)

    async def move_the_market() -> None:
        for step in range(1, 1000):
            bid = D("1.10000") + D(step % 37) / 100_000
            await quote(redis_client, sym, str(bid), str(bid + D("0.00020")))
            await asyncio.sleep(0.001)

    mover = asyncio.ensure_future(move_the_market())
    try:
        answers = await asyncio.gather(
            *(
                stub.Execute(
                    request(
                        sym,
                        rng.choice((types_pb2.SIDE_BUY, types_pb2.SIDE_SELL)),
                        rng.choice(("0.10", "0.30", "1.00")),
                    ),
                    timeout=10,
                )
                for _ in range(40)
            )
        )
    finally:
        mover.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mover

    assert all(answer.status == FILLED for answer in answers)
    # A restart rebuilds the book from the fills in commit order; the live book must agree
    # exactly (average price and realized P&L depend on the order fills are applied in).
    rows = await db.fetch(
        f"SELECT {store.columns()} FROM router.bbook_fills WHERE symbol = $1 ORDER BY seq", sym
    )
    assert len(rows) == 40
    assert_live_book_is_the_replayed_one(router, sym, rows)


async def test_execute_when_rejected_while_another_router_fills_the_order_then_answers_that_fill(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection, pg_dsn: str
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020", age_ms=30_000)
    order_id, fill_id = str(uuid.uuid4()), str(uuid.uuid4())
    other_router = await asyncpg.connect(pg_dsn)
    try:
        # Another router instance's fill of the same order, written but not committed yet: this
        # router cannot see it, rejects the stale quote and has to wait on it to record that.
        fill = other_router.transaction()
        await fill.start()
        await other_router.execute(
            "INSERT INTO router.order_claims (order_id, account_id, claim) "
            "VALUES ($1, $2, 'EXECUTED')",
            order_id,
            ACCOUNT,
        )
        await other_router.execute(
            "INSERT INTO router.routing_decisions "
            "(order_id, account_id, symbol, side, volume, book, reason, status) "
            "VALUES ($1, $2, $3, 'BUY', 1.00, 'B', 'DEFAULT_B_BOOK', 'FILLED')",
            order_id,
            ACCOUNT,
            sym,
        )
        await other_router.execute(
            f"INSERT INTO router.bbook_fills ({store.columns()}) "
            "VALUES ($1, $2, $3, $4, 'BUY', 1.00, 1.09990, 100000, 1, $5)",
            fill_id,
            order_id,
            ACCOUNT,
            sym,
            datetime.now(UTC),
        )
        execute = asyncio.ensure_future(
            stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=60)
        )
        await wait_for_lock_waiters(db, 1, execute)
        await fill.commit()
        answer = await execute
    finally:
        await other_router.close()

    assert answer.status == FILLED
    [answered] = answer.fills
    assert (answered.fill_id, answered.price) == (fill_id, "1.09990")
    assert await fills_of(db, order_id) == 1
    assert (
        await db.fetchval(
            "SELECT status FROM router.routing_decisions WHERE order_id = $1", order_id
        )
        == "FILLED"
    )
    house = await exposure(stub, sym)  # booked late, once, by the router that answered it
    assert house is not None
    assert house.net_volume == "-1.00"


async def test_execute_and_reconcile_racing_in_one_router_then_filled_and_replayed_or_abandoned(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    filled = 0

    for _ in range(20):
        order_id = str(uuid.uuid4())
        executed, reconciled = await asyncio.gather(
            stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10),
            stub.ReconcileExecution(reconcile(order_id), timeout=10),
        )
        late = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

        fills = await fills_of(db, order_id)
        if executed.status == FILLED:
            filled += 1
            assert reconciled.status == FILLED
            assert list(reconciled.fills) == list(executed.fills)
            assert late == executed
            assert fills == 1
        else:
            assert executed.reject_reason == "ORDER_ABANDONED"
            assert reconciled.status == REJECTED
            assert reconciled.reject_reason == "NOT_EXECUTED"
            assert (late.status, late.reject_reason) == (REJECTED, "ORDER_ABANDONED")
            assert fills == 0

    house = await exposure(stub, sym)
    net = house.net_volume if house is not None else "0"
    assert D(net) == -filled
