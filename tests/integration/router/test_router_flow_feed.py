"""The router's flow feed through the real RabbitMQ, PostgreSQL and Redis: oms's fill and close
events become the account's figures (markouts from sampled quotes, closed deals), a threshold row
makes them steer the next order, a redelivered event counts once, and a restarted router rebuilds
the same figures from its tables."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import aio_pika
import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from router_harness import Stub, request, settings, symbol

from bbook import Side
from fxmesh.events import declare_exchange, publish
from fxmesh.eventtypes import Envelope, EventType, new_envelope
from fxmesh.quotecache import ClientQuote, write_quote
from fxmesh.v1 import router_pb2, types_pb2
from router import repository
from router.domain import Book, ExecuteCommand
from router.flow import FlowClose, FlowFill
from router.server import RouterApp, start_router

D = Decimal


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def filled(account: str, sym: str, side: str, price: str, at: datetime) -> Envelope:
    """An order_filled event as oms publishes it (the keys the feed reads)."""
    data: dict[str, object] = {
        "order": {"orderId": str(uuid.uuid4()), "accountId": account, "symbol": sym, "side": side},
        "fills": [
            {
                "fillId": str(uuid.uuid4()),
                "price": price,
                "volume": "1.00",
                "book": "B",
                "venue": "BBOOK",
                "fillTime": _iso(at),
            }
        ],
        "positions": [],
    }
    return new_envelope(EventType.ORDER_FILLED, account, data)  # type: ignore[arg-type]


def closed(account: str, sym: str, profit: str, opened: datetime, held: float) -> Envelope:
    data: dict[str, object] = {
        "positionId": str(uuid.uuid4()),
        "accountId": account,
        "symbol": sym,
        "state": "CLOSED",
        "realizedPnl": profit,
        "openTime": _iso(opened),
        "closeTime": _iso(opened + timedelta(seconds=held)),
    }
    return new_envelope(EventType.POSITION_UPDATE, account, data)  # type: ignore[arg-type]


@pytest.fixture
async def start(
    pg_dsn: str, redis_url: str, amqp_url: str, events_exchange: str
) -> AsyncIterator[Callable[[], Awaitable[RouterApp]]]:
    apps: list[RouterApp] = []

    async def _start() -> RouterApp:
        base = settings(pg_dsn, redis_url)
        app = await start_router(
            base.model_copy(
                update={
                    "amqp_url": amqp_url,
                    "events_exchange": events_exchange,
                    "router_flow_feed": True,
                    "router_flow_volatility_window_seconds": 60.0,
                }
            )
        )
        apps.append(app)
        return app

    yield _start
    for app in apps:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(app.stop(), 30)


@pytest.fixture
async def exchange(
    amqp_url: str, events_exchange: str
) -> AsyncIterator[aio_pika.abc.AbstractExchange]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    yield await declare_exchange(channel, events_exchange)
    await connection.close()


@pytest.fixture
async def ticking(redis_url: str) -> AsyncIterator[Callable[[str, str], None]]:
    """Publish a symbol's client quote every 50 ms at the mid last set."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    mids: dict[str, D] = {}

    async def tick() -> None:
        while True:
            now = int(time.time() * 1000)
            for sym, mid in list(mids.items()):
                await write_quote(
                    client, ClientQuote(sym, mid - D("0.0001"), mid + D("0.0001"), now)
                )
            await asyncio.sleep(0.05)

    task = asyncio.get_running_loop().create_task(tick())
    yield lambda sym, mid: mids.__setitem__(sym, D(mid))
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await client.aclose()


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not reached within {seconds} s")


def command(account: str, group: str, sym: str) -> ExecuteCommand:
    return ExecuteCommand(
        str(uuid.uuid4()), account, sym, Side.BUY, D("1.00"), group, D(100000), D(1)
    )


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_dsn)
    yield conn
    await conn.close()


async def test_flow_feed_fills_and_closes_then_figures_steer_the_next_order_and_survive_restart(
    start: Callable[[], Awaitable[RouterApp]],
    exchange: aio_pika.abc.AbstractExchange,
    ticking: Callable[[str, str], None],
    db: asyncpg.Connection,
) -> None:
    router = await start()
    sym, account, group = symbol(), str(uuid.uuid4().int % 10**9), "g" + uuid.uuid4().hex[:8]
    ticking(sym, "1.1000")
    await asyncio.sleep(0.5)  # a few samples before the fill
    now = datetime.now(UTC)
    fill = filled(account, sym, "BUY", "1.1000", now)
    deal = closed(account, sym, "750.25", now - timedelta(seconds=30), 1.5)
    ticking(sym, "1.1011")  # the price runs the client's way right after the fill

    await publish(exchange, fill)
    await publish(exchange, fill)  # redelivered / republished: counted once
    await publish(exchange, deal)
    await publish(exchange, deal)

    fill_id = cast(Any, fill["data"])["fills"][0]["fillId"]
    await until(
        lambda: db.fetchval(
            "SELECT mid_10s IS NOT NULL FROM router.flow_fills WHERE fill_id = $1", fill_id
        )
    )
    flow = router.service.flow_feed.flow  # type: ignore[union-attr]
    stats = flow.trader(account)
    assert (stats.closed_deals, stats.wins, stats.net_profit) == (1, 1, D("750.25"))
    assert stats.latency_arb_share == D(1)  # closed in profit within 2 s
    assert stats.markout_fills == 1
    assert stats.markout_10s_bps == D("10.00")  # mid 1.1011 against a 1.1000 fill
    assert (
        await db.fetchval("SELECT count(*) FROM router.flow_closes WHERE account_id = $1", account)
        == 1
    )

    # No threshold row for the group: the figures are shown, nothing changes.
    before = router.service.route(command(account, group, sym))
    assert (before.book, before.reason) == (Book.B, "DEFAULT_B_BOOK")

    threshold_id = await db.fetchval(
        "INSERT INTO router.flow_thresholds (client_group, min_closed_deals, toxicity_min_bps) "
        "VALUES ($1, 1, 5) RETURNING threshold_id",
        group,
    )
    try:
        version = await db.fetchval("SELECT max(version) FROM router.config_versions")
        await router.service.reload_config(at_least=version)
        after = router.service.route(command(account, group, sym))
        assert (after.book, after.reason, after.level) == (Book.A, "TOXIC_FLOW_A", "TOXIC_FLOW")
        assert after.explanation is not None
        inputs = dict(after.explanation.inputs)
        assert (inputs["toxic"], inputs["markout_10s_bps"], inputs["closed_deals"]) == (
            "true",
            "10.00",
            "1",
        )

        await router.stop()
        again = await start()
        rebuilt = again.service.flow_feed.flow.trader(account)  # type: ignore[union-attr]
        assert rebuilt.closed_deals == 1
        assert rebuilt.net_profit == D("750.25")
        assert rebuilt.markout_10s_bps == D("10.00")
        assert again.service.route(command(account, group, sym)).reason == "TOXIC_FLOW_A"
    finally:
        await db.execute("DELETE FROM router.flow_thresholds WHERE threshold_id = $1", threshold_id)


async def test_volatile_symbol_then_threshold_row_action_on_an_executed_order(
    start: Callable[[], Awaitable[RouterApp]],
    ticking: Callable[[str, str], None],
    db: asyncpg.Connection,
) -> None:
    router = await start()
    sym = symbol()
    threshold_id = await db.fetchval(
        "INSERT INTO router.volatility_thresholds (symbol, max_bps, book) VALUES ($1, 1, 'B') "
        "RETURNING threshold_id",
        sym,
    )
    try:
        flow = router.service.flow_feed.flow  # type: ignore[union-attr]
        for i in range(40):  # a jumpy market: 5 bps up and down
            ticking(sym, "1.1000" if i % 2 else "1.10055")
            await asyncio.sleep(0.3)
            if (flow.volatility(sym) or 0) >= 1:
                break
        version = await db.fetchval("SELECT max(version) FROM router.config_versions")
        await router.service.reload_config(at_least=version)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{router.server.port}") as channel:
            stub = Stub(channel)
            order = request(sym, types_pb2.SIDE_BUY, account_id="1001")
            executed = await stub.Execute(order, timeout=10)
            explained = await stub.Explain(
                router_pb2.ExplainRequest(order_id=order.order.order_id), timeout=10
            )
        assert executed.routing_reason == "VOLATILITY_THRESHOLD"
        assert explained.level == "VOLATILITY"
        inputs = {i.name: i.value for i in explained.inputs}
        assert D(inputs["volatility"]) >= 1
    finally:
        await db.execute(
            "DELETE FROM router.volatility_thresholds WHERE threshold_id = $1", threshold_id
        )


async def test_broker_unreachable_at_start_then_router_serves_orders_without_flow_events(
    pg_dsn: str, redis_url: str, ticking: Callable[[str, str], None]
) -> None:
    sym = symbol()
    ticking(sym, "1.2000")
    base = settings(pg_dsn, redis_url)
    app = await start_router(
        base.model_copy(
            update={
                "amqp_url": "amqp://guest:guest@127.0.0.1:9/",  # nothing listens there
                "router_flow_feed": True,
            }
        )
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.server.port}") as channel:
            stub = Stub(channel)
            for _ in range(100):  # until the ticker's first quote is there
                executed = await stub.Execute(request(sym, types_pb2.SIDE_BUY), timeout=10)
                if executed.status == router_pb2.EXECUTION_STATUS_FILLED:
                    break
                await asyncio.sleep(0.1)
        assert executed.status == router_pb2.EXECUTION_STATUS_FILLED
        assert executed.routing_reason == "DEFAULT_B_BOOK"
    finally:
        await asyncio.wait_for(app.stop(), 30)


async def test_two_replicas_then_only_the_leader_consumes_and_a_promoted_standby_has_every_deal(
    pg_dsn: str,
    redis_url: str,
    amqp_url: str,
    events_exchange: str,
    exchange: aio_pika.abc.AbstractExchange,
) -> None:
    apps: list[RouterApp] = []

    async def replica() -> RouterApp:
        app = await start_router(
            settings(pg_dsn, redis_url).model_copy(
                update={
                    "amqp_url": amqp_url,
                    "events_exchange": events_exchange,
                    "router_flow_feed": True,
                    "router_leader_election": True,
                    "router_leader_check_seconds": 0.2,
                    "shutdown_grace_seconds": 0,
                }
            )
        )
        apps.append(app)
        return app

    try:
        one = await replica()
        two = await replica()
        leader_flow = one.service.flow_feed.flow  # type: ignore[union-attr]
        standby_flow = two.service.flow_feed.flow  # type: ignore[union-attr]
        assert (one.service.epoch is not None, two.service.epoch is None) == (True, True)
        account = str(uuid.uuid4().int % 10**9)
        now = datetime.now(UTC)
        for i in range(4):
            await publish(exchange, closed(account, "EURUSD", "10", now, 30 + i))

        await until_true(lambda: leader_flow.trader(account).closed_deals == 4)
        assert standby_flow.trader(account).closed_deals == 0  # never consumed a message

        await asyncio.wait_for(one.stop(0), 15)
        await until_true(lambda: two.service.epoch is not None)
        await until_true(lambda: standby_flow.trader(account).closed_deals == 4)
        assert standby_flow.trader(account).net_profit == D("40")
    finally:
        for app in apps:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(app.stop(0), 15)


async def until_true(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {seconds} s")
        await asyncio.sleep(0.1)


async def test_record_flow_when_batches_repeat_and_sample_horizons_then_each_lands_once_and_stays(
    db: asyncpg.Connection,
) -> None:
    """The feed's one statement per flush: new fills and closes are told apart from redelivered
    ones, a fill's horizons sampled in one flush all land, and a later flush with another horizon
    keeps the ones already there."""
    now = int(time.time() * 1000)
    account = f"flow-{uuid.uuid4().hex[:8]}"
    fill = FlowFill(str(uuid.uuid4()), account, "EURUSD", Side.BUY, D("1.1000"), now)
    close = FlowClose(str(uuid.uuid4()), account, "EURUSD", D("-12.50"), now - 5000, now)

    assert await repository.record_flow(db, [(fill, D("1.00"))], [close], []) == (
        {fill.fill_id},
        {close.position_id},
    )
    # Redelivered with its first two markouts: nothing new, both mids written.
    mids = [(fill.fill_id, 0, D("1.1002")), (fill.fill_id, 1, D("1.1005"))]
    assert await repository.record_flow(db, [(fill, D("1.00"))], [close], mids) == (set(), set())
    assert await repository.record_flow(db, [], [], [(fill.fill_id, 2, D("1.0990"))]) == (
        set(),
        set(),
    )

    row = await db.fetchrow(
        "SELECT volume, mid_1s, mid_10s, mid_60s FROM router.flow_fills WHERE fill_id = $1",
        fill.fill_id,
    )
    assert row is not None
    assert (row["volume"], row["mid_1s"], row["mid_10s"], row["mid_60s"]) == (
        D("1.00"),
        D("1.1002"),
        D("1.1005"),
        D("1.0990"),
    )
    assert (
        await db.fetchval(
            "SELECT count(*) FROM router.flow_closes WHERE position_id = $1", close.position_id
        )
        == 1
    )
