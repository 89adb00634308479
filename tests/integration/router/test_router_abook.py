"""A-book execution end to end below oms: router -> fixgw -> two LP simulators over real FIX 4.4.

Two simulators (LPA first in the symbol's priority list, LPB second, each with its own prices), an
in-process fixgw on the test database, and routers started per test that route a test's own client
group to the A-book. The client quote in Redis carries the markup quotes applied.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import grpc
import pytest
from router_harness import ACCOUNT, eventually, reconcile, request, settings

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig
from fixgw.lpsim.knobs import Fault, FaultQueue, SimConfig
from fixgw.lpsim.simulator import LpSimulator
from fixgw.server import FixgwApp
from fxmesh.errors import from_rpc_error
from fxmesh.quotecache import ClientQuote, write_quote
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from router.abook import PricePolicy
from router.server import RouterApp, start_router

D = Decimal
WAIT = 20.0
SYMBOL = "EURUSD"
BUY, SELL = types_pb2.SIDE_BUY, types_pb2.SIDE_SELL
FILLED = router_pb2.EXECUTION_STATUS_FILLED
PARTIALLY_FILLED = router_pb2.EXECUTION_STATUS_PARTIALLY_FILLED
REJECTED = router_pb2.EXECUTION_STATUS_REJECTED
# LP prices (bid / ask) and the client quote quotes would make of them: 3 points off the bid,
# 2 points on the ask.
LPA_PRICE = (D("1.08450"), D("1.08460"))
LPB_PRICE = (D("1.08445"), D("1.08466"))
CLIENT_BID, CLIENT_ASK = "1.08447", "1.08462"
MARKUP_BID, MARKUP_ASK = "0.00003", "0.00002"


async def until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - state owned by QuickFIX callbacks
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


def simulator(run_dir: Path, name: str) -> LpSimulator:
    return LpSimulator(
        demo_price_specs(),
        port=engine.free_port(),
        run_dir=run_dir,
        sender_comp_id=name,
        config=SimConfig(tick_interval_ms=50, walk=False),
        seed=5,
    )


@pytest.fixture(scope="module")
async def lps(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, LpSimulator]]:
    sims = {name: simulator(tmp_path_factory.mktemp(name.lower()), name) for name in ("LPA", "LPB")}
    for sim in sims.values():
        await sim.start()
    try:
        yield sims
    finally:
        for sim in sims.values():
            await sim.stop()


@pytest.fixture(scope="module")
async def fixgw(
    lps: dict[str, LpSimulator], pg_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FixgwApp]:
    app = FixgwApp(
        FixgwSettings(
            postgres_dsn=pg_dsn,
            run_dir=str(tmp_path_factory.mktemp("fixgw")),
            fixgw_addr="127.0.0.1:0",
            quotes_addr="127.0.0.1:9",  # no quotes: ticks are not what these tests are about
            metrics_port=0,
            fixgw_lps=[
                LpConfig(name=name, host="127.0.0.1", port=sim.port, target_comp_id=name)
                for name, sim in lps.items()
            ],
            fixgw_reconnect_seconds=1,
            shutdown_grace_seconds=0,
        )
    )
    await app.start()
    try:
        await until(lambda: all(app.gateway.healthy(name) for name in lps))
        yield app
    finally:
        await app.stop()


@pytest.fixture(autouse=True)
async def _lp_defaults(lps: dict[str, LpSimulator], redis_client: object) -> None:
    """Each test starts with quiet, deterministic LPs and the client quote of their prices."""
    for name, sim in lps.items():
        sim.update_config(
            latency_ms=0, reject_rate=0.0, fill_ratio="1", slippage_points=0, partial_fills=1
        )
        sim.faults = FaultQueue()
        bid, ask = LPA_PRICE if name == "LPA" else LPB_PRICE
        sim.set_price(SYMBOL, bid, ask)
    await client_quote(redis_client)


async def client_quote(redis_client: object) -> None:
    await write_quote(
        redis_client,
        ClientQuote(
            SYMBOL,
            D(CLIENT_BID),
            D(CLIENT_ASK),
            int(time.time() * 1000),
            markup_bid=D(MARKUP_BID),
            markup_ask=D(MARKUP_ASK),
        ),
    )


@pytest.fixture
async def router(
    fixgw: FixgwApp, pg_dsn: str, redis_url: str
) -> AsyncIterator[tuple[RouterApp, router_pb2_grpc.RouterServiceStub]]:
    app = await start_router(settings(pg_dsn, redis_url, f"127.0.0.1:{fixgw.grpc_port}"))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        yield app, router_pb2_grpc.RouterServiceStub(channel)
    finally:
        await channel.close()
        await app.stop()


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_dsn)
    yield conn
    await conn.close()


@pytest.fixture
async def group(
    router: tuple[RouterApp, router_pb2_grpc.RouterServiceStub], db: asyncpg.Connection
) -> AsyncIterator[str]:
    """A client group of this test, routed to the A-book for EURUSD."""
    name = f"abook-{uuid.uuid4().hex[:8]}"
    rule_id = await db.fetchval(
        "INSERT INTO router.routing_rules (priority, client_group, symbol, book, reason) "
        "VALUES (10, $1, $2, 'A', 'GROUP_A_BOOK') RETURNING rule_id",
        name,
        SYMBOL,
    )
    app = router[0]
    await eventually(lambda: any(r.rule_id == rule_id for r in app.service.rules))
    yield name
    await db.execute("DELETE FROM router.routing_rules WHERE rule_id = $1", rule_id)


Router = tuple[RouterApp, router_pb2_grpc.RouterServiceStub]


def abook(
    group: str, side: types_pb2.Side.ValueType, volume: str = "1.00", **extra: str
) -> router_pb2.ExecuteRequest:
    return request(SYMBOL, side, volume, group=group, **extra)


async def lp_fill_rows(db: asyncpg.Connection, order_id: str) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT lp, lp_price, price, volume FROM router.lp_fills WHERE order_id = $1 "
            "ORDER BY seq",
            order_id,
        )
    )


async def claim_of(db: asyncpg.Connection, order_id: str) -> str | None:
    claim: str | None = await db.fetchval(
        "SELECT claim FROM router.order_claims WHERE order_id = $1", order_id
    )
    return claim


async def test_abook_buy_when_lp_fills_then_client_pays_lp_price_plus_markup(
    router: Router, group: str, db: asyncpg.Connection
) -> None:
    _, stub = router
    order = abook(group, BUY)

    response = await stub.Execute(order, timeout=10)

    assert response.status == FILLED, response.reject_message
    assert (response.book, response.routing_reason) == (types_pb2.BOOK_A, "GROUP_A_BOOK")
    [fill] = response.fills
    assert (D(fill.price), D(fill.venue_price), D(fill.volume)) == (
        D("1.08462"),
        D("1.08460"),
        D("1.00"),
    )
    assert (fill.book, fill.venue) == (types_pb2.BOOK_A, "LPA")
    assert fill.venue_order_id
    assert fill.fill_id.startswith(f"FXM{order.order.order_id}-1/")  # <ClOrdID>/<ExecID>
    assert await claim_of(db, order.order.order_id) == "EXECUTED"
    decision = await db.fetchval(
        "SELECT status FROM router.routing_decisions WHERE order_id = $1", order.order.order_id
    )
    assert decision == "FILLED"
    rows = await lp_fill_rows(db, order.order.order_id)
    assert [tuple(r) for r in rows] == [("LPA", D("1.08460"), D("1.08462"), D("1.00"))]


async def test_abook_when_executed_again_then_same_fills_and_nothing_sent_twice(
    router: Router, group: str, db: asyncpg.Connection, lps: dict[str, LpSimulator]
) -> None:
    _, stub = router
    order = abook(group, SELL, "0.50")
    first = await stub.Execute(order, timeout=10)
    orders_at_lp = lps["LPA"].counters["filled"]

    again = await stub.Execute(order, timeout=10)
    reconciled = await stub.ReconcileExecution(reconcile(order.order.order_id), timeout=10)

    assert first.status == FILLED
    assert list(again.fills) == list(first.fills)
    assert list(reconciled.fills) == list(first.fills)
    assert D(first.fills[0].price) == D("1.08447")  # LP bid 1.08450 less 3 points of markup
    assert lps["LPA"].counters["filled"] == orders_at_lp
    assert len(await lp_fill_rows(db, order.order.order_id)) == 1


async def test_abook_when_symbol_passes_through_then_client_gets_lp_price(
    router: Router, group: str, db: asyncpg.Connection
) -> None:
    app, stub = router
    await db.execute(
        "INSERT INTO router.abook_symbol_settings (symbol, price_policy) "
        "VALUES ($1, 'PASS_THROUGH')",
        SYMBOL,
    )
    try:
        await eventually(
            lambda: app.service.abook.settings_for(SYMBOL).price_policy is PricePolicy.PASS_THROUGH
        )

        response = await stub.Execute(abook(group, SELL), timeout=10)
    finally:
        await db.execute("DELETE FROM router.abook_symbol_settings WHERE symbol = $1", SYMBOL)

    assert response.status == FILLED
    assert D(response.fills[0].price) == D(response.fills[0].venue_price) == D("1.08450")


async def test_abook_when_lp_price_moved_beyond_allowed_deviation_then_rejected_unfilled(
    router: Router, group: str, db: asyncpg.Connection, lps: dict[str, LpSimulator]
) -> None:
    _, stub = router
    # The client saw ask 1.08462 and allows 5 points: the LPs may fill at 1.08465 at worst.
    lps["LPA"].set_price(SYMBOL, D("1.08470"), D("1.08480"))
    lps["LPB"].set_price(SYMBOL, D("1.08470"), D("1.08490"))
    order = abook(group, BUY, requested_price=CLIENT_ASK, deviation="0.00005")

    response = await stub.Execute(order, timeout=10)

    assert response.status == REJECTED
    assert response.reject_reason == "LP_EXPIRED"
    assert not response.fills
    assert await claim_of(db, order.order.order_id) is None  # may be executed again
    assert await lp_fill_rows(db, order.order.order_id) == []


async def test_abook_when_limit_not_marketable_then_limit_not_reached_and_can_run_again(
    router: Router, group: str, db: asyncpg.Connection, lps: dict[str, LpSimulator]
) -> None:
    _, stub = router
    order = abook(group, BUY, limit_price="1.08455")  # client price: LP price 1.08453 at most

    early = await stub.Execute(order, timeout=10)
    lps["LPA"].set_price(SYMBOL, D("1.08440"), D("1.08450"))
    later = await stub.Execute(order, timeout=10)

    assert (early.status, early.reject_reason) == (REJECTED, "LIMIT_NOT_REACHED")
    assert later.status == FILLED
    assert (D(later.fills[0].venue_price), D(later.fills[0].price)) == (
        D("1.08450"),
        D("1.08452"),
    )


async def test_abook_when_lp_rejects_with_text_then_reason_and_text_reach_the_client(
    router: Router, group: str, lps: dict[str, LpSimulator]
) -> None:
    _, stub = router
    for sim in lps.values():
        sim.add_fault(Fault("reject", text="credit limit exceeded"))

    response = await stub.Execute(abook(group, BUY), timeout=10)

    assert response.status == REJECTED
    assert response.reject_reason == "LP_REJECTED"
    assert "credit limit exceeded" in response.reject_message


async def test_abook_when_lp_fills_part_of_ioc_then_partial_fill(
    router: Router, group: str, lps: dict[str, LpSimulator]
) -> None:
    _, stub = router
    lps["LPA"].update_config(fill_ratio="0.4")

    response = await stub.Execute(
        abook(group, BUY, requested_price=CLIENT_ASK, deviation="0.00010"), timeout=10
    )

    assert response.status == PARTIALLY_FILLED
    assert [D(f.volume) for f in response.fills] == [D("0.40")]


async def test_abook_when_no_lp_is_healthy_then_no_liquidity(
    router: Router, group: str, fixgw: FixgwApp, lps: dict[str, LpSimulator]
) -> None:
    _, stub = router
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fixgw.grpc_port}") as channel:
        gateway = fixgw_pb2_grpc.FixGatewayServiceStub(channel)
        for name in lps:
            await gateway.Disconnect(fixgw_pb2.DisconnectRequest(name=name), timeout=10)
        try:
            await until(lambda: not any(fixgw.gateway.healthy(name) for name in lps))

            response = await stub.Execute(abook(group, BUY), timeout=10)
        finally:
            for name in lps:
                await gateway.Connect(fixgw_pb2.ConnectRequest(name=name), timeout=10)
            await until(lambda: all(fixgw.gateway.healthy(name) for name in lps))

    assert (response.status, response.reject_reason) == (REJECTED, "NO_LIQUIDITY")


async def test_abook_when_fill_comes_after_the_deadline_then_booked_once_by_reconcile(
    router: Router, group: str, db: asyncpg.Connection, lps: dict[str, LpSimulator]
) -> None:
    _, stub = router
    # The LP answers 2.5 s after the order: after the Execute's deadline, whatever the machine's
    # speed (a status query meanwhile only learns that the order is pending).
    lps["LPA"].update_config(latency_ms=2500)
    order = abook(group, BUY)
    order_id = order.order.order_id

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(order, timeout=1.5)
    pending = from_rpc_error(caught.value)
    assert (pending.code, pending.reason) == (grpc.StatusCode.UNAVAILABLE, "EXECUTION_PENDING")
    assert await claim_of(db, order_id) == "SUBMITTED"

    reconciled = await reconcile_until_known(stub, order_id)
    again = await stub.Execute(order, timeout=10)

    assert reconciled.status == FILLED
    assert D(reconciled.fills[0].price) == D("1.08462")
    assert list(again.fills) == list(reconciled.fills)
    assert len(await lp_fill_rows(db, order_id)) == 1
    assert await claim_of(db, order_id) == "EXECUTED"


async def reconcile_until_known(
    stub: router_pb2_grpc.RouterServiceStub, order_id: str
) -> router_pb2.ReconcileExecutionResponse:
    """ReconcileExecution as oms's recovery pass asks it: again while the outcome is pending."""
    for _ in range(100):
        try:
            return await stub.ReconcileExecution(reconcile(order_id), timeout=5)
        except grpc.aio.AioRpcError as exc:
            if from_rpc_error(exc).reason != "EXECUTION_PENDING":
                raise
        await asyncio.sleep(0.2)
    raise AssertionError(f"order {order_id} still pending at fixgw")


async def test_abook_when_fixgw_never_saw_the_order_then_reconcile_fences_it(
    router: Router, group: str, db: asyncpg.Connection
) -> None:
    _, stub = router
    order_id = str(uuid.uuid4())
    await db.execute(
        "INSERT INTO router.routing_decisions (order_id, account_id, symbol, side, volume, book, "
        "reason, status) VALUES ($1, $2, $3, 'BUY', 1, 'A', 'GROUP_A_BOOK', 'PENDING')",
        order_id,
        ACCOUNT,
        SYMBOL,
    )
    await db.execute(
        "INSERT INTO router.abook_orders (order_id, account_id, contract_size, price_policy) "
        "VALUES ($1, $2, 100000, 'MARKUP')",
        order_id,
        ACCOUNT,
    )
    # A router that died between its SUBMITTED claim and the call to fixgw.
    await db.execute(
        "INSERT INTO router.order_claims (order_id, account_id, claim) VALUES ($1, $2, 'SUBMITTED')",
        order_id,
        ACCOUNT,
    )

    reconciled = await stub.ReconcileExecution(reconcile(order_id), timeout=10)
    late = await stub.Execute(abook(group, BUY, order_id=order_id), timeout=10)

    assert (reconciled.status, reconciled.reject_reason) == (REJECTED, "NOT_EXECUTED")
    assert await claim_of(db, order_id) == "FENCED"
    assert (late.status, late.reject_reason) == (REJECTED, "ORDER_ABANDONED")


async def test_close_when_position_is_at_lpb_then_closed_at_lpb_not_the_first_lp(
    router: Router, db: asyncpg.Connection
) -> None:
    _, stub = router
    # A standard group routes to the house; the position's risk is at LPB, so the close goes there.
    order = close_order("LPB")

    response = await stub.Execute(order, timeout=10)

    assert response.status == FILLED, response.reject_message
    assert (response.book, response.routing_reason) == (types_pb2.BOOK_A, "CLOSE_FOLLOWS_VENUE")
    [fill] = response.fills
    assert (fill.venue, D(fill.venue_price), D(fill.price)) == ("LPB", D("1.08445"), D("1.08442"))


async def test_close_when_position_lp_is_down_then_sent_to_the_other_lp(
    router: Router, fixgw: FixgwApp
) -> None:
    _, stub = router
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fixgw.grpc_port}") as channel:
        gateway = fixgw_pb2_grpc.FixGatewayServiceStub(channel)
        await gateway.Disconnect(fixgw_pb2.DisconnectRequest(name="LPB"), timeout=10)
        try:
            await until(lambda: not fixgw.gateway.healthy("LPB"))

            response = await stub.Execute(close_order("LPB"), timeout=10)
        finally:
            await gateway.Connect(fixgw_pb2.ConnectRequest(name="LPB"), timeout=10)
            await until(lambda: fixgw.gateway.healthy("LPB"))

    assert response.status == FILLED
    assert response.fills[0].venue == "LPA"


async def test_close_when_position_is_in_the_house_then_b_book_even_for_an_a_book_group(
    router: Router, group: str, redis_client: object
) -> None:
    _, stub = router
    order = abook(group, SELL)
    order.close_book = types_pb2.BOOK_B
    order.close_venue = "BBOOK"

    response = await stub.Execute(order, timeout=10)

    assert response.status == FILLED
    assert (response.book, response.routing_reason) == (types_pb2.BOOK_B, "CLOSE_FOLLOWS_VENUE")
    assert response.fills[0].venue == "BBOOK"


def close_order(venue: str) -> router_pb2.ExecuteRequest:
    order = request(SYMBOL, SELL, "1.00", group="standard")
    order.order.position_id = "77"
    order.close_book = types_pb2.BOOK_A
    order.close_venue = venue
    return order
