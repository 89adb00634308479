"""Two router replicas on one database: one leads and serves, the other stands by and takes over.

The replicas run for leader here (the harness turns election off for the other router tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from router_harness import Stub, quote, request, symbol
from structlog.testing import capture_logs

from fixgw.engine import free_port
from fxmesh.errors import from_rpc_error
from fxmesh.v1 import router_pb2, types_pb2
from oms.api.inprocess_router import InProcessRouter
from oms.api.router_client import RouterClient
from oms.domain.model import AccountId, Order, OrderId, OrderType, TimeInForce
from oms.domain.model import Side as OmsSide
from router.config import RouterSettings
from router.server import RouterApp, start_router

SERVICE = "fxmesh.v1.RouterService"
WAIT = 30.0
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


@pytest.fixture
async def replicas(
    pg_dsn: str, redis_url: str
) -> AsyncIterator[Callable[[], Awaitable[RouterApp]]]:
    """Start replicas that run for leader; every one is stopped (bounded) after the test."""
    apps: list[RouterApp] = []

    async def _start() -> RouterApp:
        app = await start_router(
            RouterSettings(
                postgres_dsn=pg_dsn,
                redis_url=redis_url,
                router_addr="127.0.0.1:0",
                fixgw_addr="127.0.0.1:9",
                metrics_port=0,
                router_config_reload_seconds=600,
                router_leader_election=True,
                router_leader_check_seconds=0.2,
                shutdown_grace_seconds=0,
            )
        )
        apps.append(app)
        return app

    yield _start
    for app in apps:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(app.stop(0), 15)


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_dsn)
    yield conn
    await conn.close()


async def until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - state owned by the replicas' background tasks
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


async def health(app: RouterApp) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
        answer = await health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=SERVICE), timeout=10
        )
    return int(answer.status)


async def execute(app: RouterApp, req: router_pb2.ExecuteRequest) -> router_pb2.ExecuteResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
        response: router_pb2.ExecuteResponse = await Stub(channel).Execute(req, timeout=10)
        return response


async def standby_reason(app: RouterApp, req: router_pb2.ExecuteRequest) -> tuple[object, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await execute(app, req)
    error = from_rpc_error(caught.value)
    return error.code, error.reason


async def test_two_replicas_when_started_then_only_the_leader_serves(
    replicas: Callable[[], Awaitable[RouterApp]], redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    one = await replicas()
    two = await replicas()

    assert one.service.epoch is not None
    assert two.service.epoch is None
    assert (await health(one), await health(two)) == (SERVING, NOT_SERVING)
    order = request(sym, types_pb2.SIDE_BUY, "1.00")
    assert await standby_reason(two, order) == (grpc.StatusCode.UNAVAILABLE, "ROUTER_STANDBY")
    filled = await execute(one, order)
    assert filled.status == router_pb2.EXECUTION_STATUS_FILLED


async def test_two_replicas_when_leader_stops_then_standby_takes_over_and_decides_orders_once(
    replicas: Callable[[], Awaitable[RouterApp]], redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    one = await replicas()
    two = await replicas()
    order_id = str(uuid.uuid4())
    first = await execute(one, request(sym, types_pb2.SIDE_BUY, "2.00", order_id=order_id))
    epoch = one.service.epoch
    assert epoch is not None

    await asyncio.wait_for(one.stop(0), 15)
    await until(lambda: two.service.epoch is not None)

    assert two.service.epoch is not None
    assert two.service.epoch > epoch
    assert await health(two) == SERVING
    # The new leader rebuilt the house book and replays the order the old one filled.
    assert two.service.engine.book.net_lots(sym) == -2
    retried = await execute(two, request(sym, types_pb2.SIDE_BUY, "2.00", order_id=order_id))
    assert [f.fill_id for f in retried.fills] == [f.fill_id for f in first.fills]
    assert (
        await db.fetchval("SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", order_id)
        == 1
    )
    after = await execute(two, request(sym, types_pb2.SIDE_SELL, "0.50"))
    assert after.status == router_pb2.EXECUTION_STATUS_FILLED
    assert two.service.engine.book.net_lots(sym) == -1.5


async def test_two_replicas_when_leader_loses_its_lock_connection_then_it_stands_by(
    replicas: Callable[[], Awaitable[RouterApp]], redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    one = await replicas()
    two = await replicas()
    epoch = one.service.epoch
    assert epoch is not None

    # What PostgreSQL sees when the leader's host dies: its lock connection goes away.
    killed = await db.fetchval(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l "
        "WHERE l.locktype = 'advisory' AND l.granted "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    assert killed

    def one_new_leader() -> bool:
        leaders = [a for a in (one, two) if a.service.epoch is not None]
        return len(leaders) == 1 and (leaders[0].service.epoch or 0) > epoch

    await until(one_new_leader)
    [leader] = [a for a in (one, two) if a.service.epoch is not None]
    [standby] = [a for a in (one, two) if a is not leader]
    order = request(sym, types_pb2.SIDE_SELL, "1.00")
    assert await standby_reason(standby, order) == (grpc.StatusCode.UNAVAILABLE, "ROUTER_STANDBY")
    assert (await execute(leader, order)).status == router_pb2.EXECUTION_STATUS_FILLED
    assert await health(standby) == NOT_SERVING


# --- two router processes (python -m router), the leader killed with SIGKILL --------------------


async def process_health(port: int) -> int | None:
    """The RouterService's health at ``port``, None while nothing answers."""
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            answer = await health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=SERVICE), timeout=2
            )
    except grpc.aio.AioRpcError:
        return None
    return int(answer.status)


async def execute_at(port: int, req: router_pb2.ExecuteRequest) -> router_pb2.ExecuteResponse:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        response: router_pb2.ExecuteResponse = await Stub(channel).Execute(req, timeout=10)
        return response


async def test_two_router_processes_when_leader_killed_then_standby_serves_orders_once(
    pg_dsn: str,
    redis_url: str,
    redis_client: object,
    db: asyncpg.Connection,
    tmp_path: Path,
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    ports = [free_port(), free_port()]
    procs: list[asyncio.subprocess.Process] = []
    try:
        for n, port in enumerate(ports):
            env = {
                **os.environ,
                "FXMESH_POSTGRES_DSN": pg_dsn,
                "FXMESH_REDIS_URL": redis_url,
                "FXMESH_ROUTER_ADDR": f"127.0.0.1:{port}",
                "FXMESH_FIXGW_ADDR": "127.0.0.1:9",
                "FXMESH_METRICS_PORT": "0",
                "FXMESH_ROUTER_LEADER_CHECK_SECONDS": "0.2",
                "FXMESH_OTEL_ENABLED": "false",
            }
            with (tmp_path / f"router{n}.log").open("wb") as out:
                procs.append(
                    await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "router", env=env, stdout=out, stderr=out
                    )
                )

        async def states() -> list[int | None]:
            return [await process_health(port) for port in ports]

        async def settled() -> list[int | None]:
            for _ in range(int(WAIT / 0.2)):
                now = await states()
                if sorted(now, key=str) == sorted([SERVING, NOT_SERVING], key=str):
                    return now
                await asyncio.sleep(0.2)
            raise AssertionError(f"no leader and standby: {await states()}")

        now = await settled()
        leader = now.index(SERVING)
        standby = 1 - leader
        order_id = str(uuid.uuid4())
        order = request(sym, types_pb2.SIDE_BUY, "1.00", order_id=order_id)
        first = await execute_at(ports[leader], order)
        assert first.status == router_pb2.EXECUTION_STATUS_FILLED

        procs[leader].kill()
        await asyncio.wait_for(procs[leader].wait(), WAIT)
        for _ in range(int(WAIT / 0.2)):
            if await process_health(ports[standby]) == SERVING:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("the standby never took over")

        retried = await execute_at(ports[standby], order)
        assert [f.fill_id for f in retried.fills] == [f.fill_id for f in first.fills]
        count = await db.fetchval(
            "SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", order_id
        )
        assert count == 1
        other = await execute_at(ports[standby], request(sym, types_pb2.SIDE_BUY, "1.00"))
        assert other.status == router_pb2.EXECUTION_STATUS_FILLED
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(proc.wait(), 15)


async def test_oms_router_client_when_it_reaches_the_standby_then_retries_until_the_leader_answers(
    replicas: Callable[[], Awaitable[RouterApp]], redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    one = await replicas()
    two = await replicas()
    order_id = uuid.uuid4().int % 10**12
    order = Order(
        account_id=AccountId(1001),
        client_order_id=f"c-{order_id}",
        symbol=sym,
        side=OmsSide.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        volume=Decimal("1.00"),
        order_id=OrderId(order_id),
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{two.server.port}") as channel:
        client = RouterClient(channel, deadline_seconds=20)
        # The leader goes away while oms is asking the standby: the standby takes over, and the
        # order is executed there once.
        stopping = asyncio.get_running_loop().create_task(asyncio.wait_for(one.stop(0), 15))
        with capture_logs() as logs:
            execution = await client.execute(order, "standard", None, Decimal(100_000), Decimal(1))
        await stopping

    assert execution.status == "FILLED"
    assert any(e["event"] == "router_standby_retry" for e in logs)
    count = await db.fetchval(
        "SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", str(order_id)
    )
    assert count == 1


async def test_router_in_oms_process_when_it_stands_by_then_orders_go_to_the_leader_over_grpc(
    replicas: Callable[[], Awaitable[RouterApp]], redis_client: object, db: asyncpg.Connection
) -> None:
    """oms's own router replica (FXMESH_OMS_ROUTER_IN_PROCESS) is the standby: oms's orders are
    executed by the leader, and booked in the leader's house book only."""
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    leader = await replicas()
    in_oms = await replicas()
    await until(lambda: leader.service.epoch is not None)
    assert in_oms.service.epoch is None
    order_id = uuid.uuid4().int % 10**12
    order = Order(
        account_id=AccountId(1001),
        client_order_id=f"c-{order_id}",
        symbol=sym,
        side=OmsSide.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.GTC,
        volume=Decimal("1.00"),
        order_id=OrderId(order_id),
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{leader.server.port}") as channel:
        router = InProcessRouter(in_oms.service, RouterClient(channel, 10), deadline_seconds=10)
        execution = await router.execute(order, "standard", None, Decimal(100_000), Decimal(1))

    assert execution.status == "FILLED"
    [fill] = execution.fills
    assert leader.service.engine.is_booked(fill.fill_id)
    assert not in_oms.service.engine.is_booked(fill.fill_id)
    count = await db.fetchval(
        "SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", str(order_id)
    )
    assert count == 1
