"""oms's router replica in its own process (``oms.api.inprocess_router``): while it leads, oms's
calls reach the router's service directly and get the answers the gRPC client would get."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import asyncpg
import grpc
import pytest
from prometheus_client import REGISTRY
from router_harness import quote, symbol

from oms.api.inprocess_router import InProcessRouter
from oms.api.router_client import RouterClient
from oms.domain.model import AccountId, Order, OrderId, OrderType, TimeInForce
from oms.domain.model import Side as OmsSide
from oms.trading.unit_of_work import ExecutionUnavailable
from router.server import RouterApp

EXECUTE = "/fxmesh.v1.RouterService/Execute"


def market_order(sym: str, volume: str = "1.00") -> Order:
    order_id = uuid.uuid4().int % 10**12
    return Order(
        account_id=AccountId(1001),
        client_order_id=f"c-{order_id}",
        symbol=sym,
        side=OmsSide.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        volume=Decimal(volume),
        order_id=OrderId(order_id),
    )


def grpc_executes() -> float:
    value = REGISTRY.get_sample_value(
        "fxmesh_router_grpc_server_requests_total", {"method": EXECUTE, "code": "OK"}
    )
    return value or 0.0


@pytest.fixture
async def remote(router: RouterApp) -> AsyncIterator[RouterClient]:
    """The gRPC client to the same router (what oms uses without a router of its own)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{router.server.port}") as channel:
        yield RouterClient(channel, deadline_seconds=10)


async def test_execute_when_the_router_in_oms_leads_then_filled_in_process_as_grpc_would_answer(
    router: RouterApp, remote: RouterClient, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    in_process = InProcessRouter(router.service, remote, deadline_seconds=10)
    order = market_order(sym)
    over_grpc_before = grpc_executes()

    execution = await in_process.execute(order, "standard", None, Decimal(100_000), Decimal(1))
    # The same order asked again over gRPC: the router's recorded answer.
    again = await remote.execute(order, "standard", None, Decimal(100_000), Decimal(1))

    assert (execution.status, execution.book) == ("FILLED", "B")
    [fill] = execution.fills
    assert (fill.price, fill.volume, fill.book, fill.venue) == (
        Decimal("1.10020"),
        Decimal("1.00"),
        "B",
        "BBOOK",
    )
    assert router.service.engine.is_booked(fill.fill_id)
    assert again.fills == execution.fills
    assert (again.status, again.book, again.routing_reason) == (
        execution.status,
        execution.book,
        execution.routing_reason,
    )
    # Only the second call crossed gRPC.
    assert grpc_executes() == over_grpc_before + 1
    count = await db.fetchval(
        "SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", str(order.order_id)
    )
    assert count == 1


async def test_execute_when_the_router_answers_after_the_deadline_then_unavailable_and_reconcile_finds_the_fill(
    router: RouterApp, remote: RouterClient, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order = market_order(sym)
    hurried = InProcessRouter(router.service, remote, deadline_seconds=1e-6)

    with pytest.raises(ExecutionUnavailable):
        await hurried.execute(order, "standard", None, Decimal(100_000), Decimal(1))

    # The call was not cancelled: the router finishes it, and reconcile reads its outcome.
    for _ in range(600):
        decided = await db.fetchval(
            "SELECT status FROM router.routing_decisions WHERE order_id = $1", str(order.order_id)
        )
        if decided is not None:
            break
        await asyncio.sleep(0.05)
    assert decided == "FILLED"
    settled = await InProcessRouter(router.service, remote, deadline_seconds=10).reconcile(order)
    assert settled.status == "FILLED"
    [fill] = settled.fills
    assert router.service.engine.is_booked(fill.fill_id)


async def test_execute_when_the_router_fails_then_unavailable_not_an_exception(
    router: RouterApp, remote: RouterClient, redis_client: object
) -> None:
    """An order id already decided for another account: the router refuses (FAILED_PRECONDITION
    over gRPC); oms gets ExecutionUnavailable from either path."""
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order = market_order(sym)
    in_process = InProcessRouter(router.service, remote, deadline_seconds=10)
    await in_process.execute(order, "standard", None, Decimal(100_000), Decimal(1))
    other = replace(order, account_id=AccountId(1002), unsaved=[])

    with pytest.raises(ExecutionUnavailable):
        await in_process.execute(other, "standard", None, Decimal(100_000), Decimal(1))
    with pytest.raises(ExecutionUnavailable):
        await remote.execute(other, "standard", None, Decimal(100_000), Decimal(1))
