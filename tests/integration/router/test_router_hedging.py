"""Auto-hedge against a real LP simulator: router -> fixgw -> LP over FIX 4.4.

Each test trades a symbol of its own (the simulator quotes it), forces a test account to the
B-book so the house goes beyond the symbol's exposure limit, and watches the leader hedge the
excess as a house trade. Limits and overrides are removed afterwards.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path

import asyncpg
import grpc
import pytest
from prometheus_client import REGISTRY
from router_harness import eventually, quote, request, settings

from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig
from fixgw.lpsim.knobs import Fault, FaultQueue, SimConfig
from fixgw.lpsim.prices import PriceSpec
from fixgw.lpsim.simulator import LpSimulator
from fixgw.server import FixgwApp
from fxmesh.v1 import router_pb2, router_pb2_grpc, types_pb2
from router.server import RouterApp, start_router

D = Decimal
WAIT = 30.0
# Symbols of this module only: no other test's house fills or limits touch them.
SYMBOLS = [f"H{uuid.uuid4().hex[:5].upper()}" for _ in range(6)]
LP_BID, LP_ASK = D("1.20000"), D("1.20010")
BUY, SELL = types_pb2.SIDE_BUY, types_pb2.SIDE_SELL


async def until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():  # noqa: ASYNC110 - state owned by QuickFIX callbacks
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


@pytest.fixture(scope="module")
async def lp(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LpSimulator]:
    specs = [PriceSpec(s, 5, D("1.20005"), 5, D("0.05")) for s in SYMBOLS]
    sim = LpSimulator(
        specs,
        port=engine.free_port(),
        run_dir=Path(tmp_path_factory.mktemp("lph")),
        sender_comp_id="LPH",
        config=SimConfig(tick_interval_ms=50, walk=False),
        seed=7,
    )
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


@pytest.fixture(scope="module")
async def fixgw(
    lp: LpSimulator, pg_dsn: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[FixgwApp]:
    app = FixgwApp(
        FixgwSettings(
            postgres_dsn=pg_dsn,
            run_dir=str(tmp_path_factory.mktemp("fixgw-hedge")),
            fixgw_addr="127.0.0.1:0",
            quotes_addr="127.0.0.1:9",
            metrics_port=0,
            fixgw_symbols=",".join(SYMBOLS),
            fixgw_lps=[LpConfig(name="LPH", host="127.0.0.1", port=lp.port, target_comp_id="LPH")],
            fixgw_reconnect_seconds=1,
            shutdown_grace_seconds=0,
        )
    )
    await app.start()
    try:
        await until(lambda: app.gateway.healthy("LPH"))
        yield app
    finally:
        await app.stop()


@pytest.fixture(autouse=True)
def _lp_defaults(lp: LpSimulator) -> None:
    lp.update_config(latency_ms=0, reject_rate=0.0, fill_ratio="1", partial_fills=1)
    lp.faults = FaultQueue()
    for sym in SYMBOLS:
        lp.set_price(sym, LP_BID, LP_ASK)


HEDGE_SETTINGS: dict[str, object] = {
    "router_hedge_interval_seconds": 0.2,
    "router_hedge_backoff_seconds": 0.2,
    "router_hedge_backoff_max_seconds": 0.4,
    "router_hedge_timeout_seconds": 1.5,
}


@pytest.fixture
async def router(
    fixgw: FixgwApp, pg_dsn: str, redis_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[RouterApp, router_pb2_grpc.RouterServiceStub]]:
    """A router hedging fast; an indirect parameter overrides its settings."""
    extra = {**HEDGE_SETTINGS, **getattr(request, "param", {})}
    app = await start_router(settings(pg_dsn, redis_url, f"127.0.0.1:{fixgw.grpc_port}", **extra))
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


Router = tuple[RouterApp, router_pb2_grpc.RouterServiceStub]


@pytest.fixture
async def beyond_limit(
    router: Router, db: asyncpg.Connection, redis_client: object
) -> AsyncIterator[Callable[[str, str], Awaitable[None]]]:
    """``await beyond(symbol, lots)``: a forced B-book client sells ``lots`` of ``symbol``
    against an exposure limit of 1 lot (the house goes long ``lots``)."""
    app, stub = router
    account = f"8{uuid.uuid4().int % 10**8}"
    used: list[str] = []
    await db.execute(
        "INSERT INTO router.account_overrides (account_id, book, reason) "
        "VALUES ($1, 'B', 'FORCED_B_BOOK')",
        account,
    )

    async def beyond(sym: str, lots: str) -> None:
        used.append(sym)
        await quote(redis_client, sym, "1.19990", "1.20020")
        await db.execute(
            "INSERT INTO router.exposure_limits (symbol, max_net_lots) VALUES ($1, 1)", sym
        )
        await eventually(
            lambda: sym in app.service.engine.limits and account in app.service.config.overrides
        )
        response = await stub.Execute(request(sym, SELL, lots, account_id=account), timeout=10)
        assert response.status == router_pb2.EXECUTION_STATUS_FILLED

    try:
        yield beyond
    finally:
        await db.execute("DELETE FROM router.account_overrides WHERE account_id = $1", account)
        for sym in used:
            await db.execute("DELETE FROM router.exposure_limits WHERE symbol = $1", sym)


async def hedges(db: asyncpg.Connection, sym: str) -> list[asyncpg.Record]:
    return list(
        await db.fetch("SELECT * FROM router.hedge_orders WHERE symbol = $1 ORDER BY hedge_id", sym)
    )


async def wait_hedged(db: asyncpg.Connection, sym: str) -> list[asyncpg.Record]:
    for _ in range(int(WAIT / 0.1)):
        rows = await hedges(db, sym)
        if rows and all(r["status"] == "FILLED" for r in rows):
            return rows
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sym} not hedged: {await hedges(db, sym)}")


def failures(sym: str, outcome: str) -> float:
    labels = {"symbol": sym, "outcome": outcome}
    return REGISTRY.get_sample_value("fxmesh_router_hedge_failures_total", labels) or 0.0


async def test_hedge_when_house_net_crosses_limit_then_excess_traded_with_lp_as_house_trade(
    router: Router, beyond_limit: Callable[[str, str], Awaitable[None]], db: asyncpg.Connection
) -> None:
    _, stub = router
    sym = SYMBOLS[0]

    await beyond_limit(sym, "3.00")
    [hedge] = await wait_hedged(db, sym)

    assert (hedge["side"], hedge["volume"], hedge["filled_volume"]) == ("SELL", D("2"), D("2"))
    assert hedge["client_order_id"] == f"HEDGE-{hedge['hedge_id']}"
    trades = await db.fetch("SELECT * FROM router.house_trades WHERE symbol = $1", sym)
    assert sum(t["volume"] for t in trades) == D("2")
    assert {(t["side"], t["lp"], t["price"]) for t in trades} == {("SELL", "LPH", LP_BID)}
    # A house trade, not a client trade: no routing decision, no B-book fill under its id.
    assert not await db.fetchval(
        "SELECT count(*) FROM router.routing_decisions WHERE order_id LIKE 'HEDGE-%'"
    )
    response = await stub.GetHouseExposure(router_pb2.GetHouseExposureRequest(), timeout=10)
    [exposure] = [e for e in response.exposures if e.symbol == sym]
    assert (D(exposure.client_net_volume), D(exposure.hedge_net_volume)) == (D(3), D(-2))
    assert D(exposure.net_volume) == D(1)


async def test_hedge_when_lp_rejects_then_retried_with_backoff_and_failures_counted(
    router: Router,
    beyond_limit: Callable[[str, str], Awaitable[None]],
    db: asyncpg.Connection,
    lp: LpSimulator,
) -> None:
    app, _ = router
    sym = SYMBOLS[1]
    lp.add_fault(Fault("reject", text="credit limit exceeded"), count=2)
    before = failures(sym, "REJECTED")

    await beyond_limit(sym, "2.50")
    [hedge] = await wait_hedged(db, sym)

    assert (hedge["volume"], hedge["attempts"], hedge["failures"]) == (D("1.50"), 3, 2)
    assert hedge["last_reject_reason"] == "LP_REJECTED"
    assert "credit limit exceeded" in hedge["last_reject_message"]
    assert failures(sym, "REJECTED") == before + 2
    assert app.service.engine.book.net_lots(sym) == D(1)


async def test_hedge_when_lp_answers_late_then_unknown_outcome_resolved_by_status_once(
    router: Router,
    beyond_limit: Callable[[str, str], Awaitable[None]],
    db: asyncpg.Connection,
    lp: LpSimulator,
) -> None:
    app, _ = router
    sym = SYMBOLS[2]
    # The execution report comes after fixgw's and the router's deadlines: the hedge's outcome
    # is unknown until GetOrderStatus finds the fill.
    lp.add_fault(Fault("silence", late_ms=2500))
    before = failures(sym, "UNKNOWN")

    await beyond_limit(sym, "2.00")
    [hedge] = await wait_hedged(db, sym)

    assert failures(sym, "UNKNOWN") > before
    assert hedge["attempts"] == 1  # sent once, resolved by status queries
    trades = await db.fetch("SELECT volume FROM router.house_trades WHERE symbol = $1", sym)
    assert sum(t["volume"] for t in trades) == D(1)
    assert app.service.engine.book.net_lots(sym) == D(1)
    assert app.service.hedger is not None
    assert app.service.hedger.hedge_net[sym] == D(-1)


async def test_restart_when_house_traded_then_book_rebuilt_with_client_flow_and_hedges(
    router: Router,
    beyond_limit: Callable[[str, str], Awaitable[None]],
    db: asyncpg.Connection,
    fixgw: FixgwApp,
    pg_dsn: str,
    redis_url: str,
) -> None:
    sym = SYMBOLS[3]
    await beyond_limit(sym, "4.00")
    await wait_hedged(db, sym)

    again = await start_router(settings(pg_dsn, redis_url, f"127.0.0.1:{fixgw.grpc_port}"))
    try:
        assert again.service.engine.book.net_lots(sym) == D(1)
        assert again.service.hedger is not None
        assert again.service.hedger.hedge_net[sym] == D(-3)
    finally:
        await again.stop()
    assert len(await hedges(db, sym)) == 1  # nothing hedged twice


@pytest.mark.parametrize("router", [{"router_hedge_timeout_seconds": 8.0}], indirect=True)
async def test_hedge_when_leader_deposed_mid_send_then_new_leader_books_it_once_never_resends(
    router: Router,
    beyond_limit: Callable[[str, str], Awaitable[None]],
    db: asyncpg.Connection,
    lp: LpSimulator,
    fixgw: FixgwApp,
    pg_dsn: str,
    redis_url: str,
) -> None:
    old, _ = router
    sym = SYMBOLS[4]
    # The LP fills 3 s after the order: the old leader is still waiting for fixgw's answer when
    # a new leader takes over (a new epoch).
    lp.add_fault(Fault("silence", late_ms=3000))
    await beyond_limit(sym, "2.00")

    async def sent() -> None:
        while not any(r["status"] == "SENT" for r in await hedges(db, sym)):  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    await asyncio.wait_for(sent(), WAIT)
    new = await start_router(
        settings(pg_dsn, redis_url, f"127.0.0.1:{fixgw.grpc_port}", **HEDGE_SETTINGS)
    )
    try:
        [hedge] = await wait_hedged(db, sym)
        # The old leader got the fill from fixgw but its epoch is gone: it booked nothing. The
        # new one asked GetOrderStatus and booked the fill once; nothing was sent again.
        assert hedge["attempts"] == 1
        assert hedge["epoch"] == old.service.epoch
        assert new.service.epoch is not None
        assert new.service.epoch > old.service.epoch
        trades = await db.fetch("SELECT volume FROM router.house_trades WHERE symbol = $1", sym)
        assert sum(t["volume"] for t in trades) == D(1)
        assert new.service.engine.book.net_lots(sym) == D(1)
        assert old.service.engine.book.net_lots(sym) == D(2)
    finally:
        await new.stop()


async def test_hedge_when_rejected_and_limit_removed_then_cancelled_not_sent_again(
    router: Router,
    beyond_limit: Callable[[str, str], Awaitable[None]],
    db: asyncpg.Connection,
    lp: LpSimulator,
) -> None:
    app, _ = router
    sym = SYMBOLS[5]
    lp.add_fault(Fault("reject", text="symbol halted"), count=1000)
    await beyond_limit(sym, "3.00")

    async def rejected() -> None:
        while not any(r["failures"] >= 1 for r in await hedges(db, sym)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(rejected(), WAIT)
    await db.execute("DELETE FROM router.exposure_limits WHERE symbol = $1", sym)
    await eventually(lambda: sym not in app.service.engine.limits)

    async def cancelled() -> list[asyncpg.Record]:
        while True:
            rows = await hedges(db, sym)
            if rows and rows[0]["status"] == "CANCELLED":
                return rows
            await asyncio.sleep(0.05)

    [hedge] = await asyncio.wait_for(cancelled(), WAIT)
    lp.faults = FaultQueue()
    assert hedge["filled_volume"] == 0
    assert not await db.fetchval("SELECT count(*) FROM router.house_trades WHERE symbol = $1", sym)
    assert app.service.engine.book.net_lots(sym) == D(3)
