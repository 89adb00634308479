"""Level 6 with fixgw's LP health block: a DEGRADED LP is not a healthy one.

A fixgw of this module's own (its LPs are degraded on purpose, which must not leak into other
modules) degrades an LP after 3 outcomes of which 80 % were rejects; two LP simulators are made
to reject through their control operations until fixgw reports both DEGRADED. The router's next
A-book order then takes the symbol's fallback, and Explain names the degraded LPs and why.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import asyncpg
import grpc
import pytest
from router_harness import eventually, settings
from test_router_abook import BUY, FILLED, REJECTED, SYMBOL, abook, client_quote, simulator, until

from fixgw.config import FixgwSettings, LpConfig
from fixgw.lpsim.knobs import Fault, FaultQueue
from fixgw.lpsim.simulator import LpSimulator
from fixgw.server import FixgwApp
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from router.server import RouterApp, start_router

D = Decimal
MIN_OUTCOMES = 3
Router = tuple[RouterApp, router_pb2_grpc.RouterServiceStub]


@pytest.fixture(scope="module")
async def lps(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, LpSimulator]]:
    sims: dict[str, LpSimulator] = {
        name: simulator(Path(tmp_path_factory.mktemp(name.lower())), name)
        for name in ("LPA", "LPB")
    }
    for sim in sims.values():
        await sim.start()
    try:
        yield sims
    finally:
        for sim in sims.values():
            await sim.stop()


@pytest.fixture
async def fixgw(
    lps: dict[str, LpSimulator], pg_dsn: str, tmp_path: Path
) -> AsyncIterator[FixgwApp]:
    """A fresh fixgw per test: its health windows start empty (no test inherits a degraded LP)."""
    app = FixgwApp(
        FixgwSettings(
            postgres_dsn=pg_dsn,
            run_dir=str(tmp_path / "fixgw"),
            fixgw_addr="127.0.0.1:0",
            quotes_addr="127.0.0.1:9",
            metrics_port=0,
            fixgw_lps=[
                LpConfig(name=name, host="127.0.0.1", port=sim.port, target_comp_id=name)
                for name, sim in lps.items()
            ],
            fixgw_reconnect_seconds=1,
            shutdown_grace_seconds=0,
            fixgw_health_min_outcomes=MIN_OUTCOMES,
            fixgw_health_window_seconds=600,
        )
    )
    await app.start()
    try:
        await until(lambda: all(app.gateway.healthy(name) for name in lps))
        yield app
    finally:
        await app.stop()


@pytest.fixture(autouse=True)
async def _quiet_lps(lps: dict[str, LpSimulator], redis_client: object) -> None:
    for name, sim in lps.items():
        sim.update_config(
            latency_ms=0, reject_rate=0.0, fill_ratio="1", slippage_points=0, partial_fills=1
        )
        sim.faults = FaultQueue()
        sim.set_price(
            SYMBOL,
            *((D("1.08450"), D("1.08460")) if name == "LPA" else (D("1.08445"), D("1.08466"))),
        )
    await client_quote(redis_client)


@pytest.fixture
async def router(fixgw: FixgwApp, pg_dsn: str, redis_url: str) -> AsyncIterator[Router]:
    app = await start_router(settings(pg_dsn, redis_url, f"127.0.0.1:{fixgw.grpc_port}"))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.server.port}")
    try:
        yield app, router_pb2_grpc.RouterServiceStub(channel)
    finally:
        await channel.close()
        await app.stop()


@pytest.fixture
async def a_group(router: Router, db: asyncpg.Connection) -> AsyncIterator[str]:
    """A client group of this test routed to the A-book for EURUSD."""
    name = f"grp-{uuid.uuid4().hex[:8]}"
    rule_id = await db.fetchval(
        "INSERT INTO router.routing_rules (priority, client_group, symbol, book, reason) "
        "VALUES (10, $1, $2, 'A', 'GROUP_A_BOOK') RETURNING rule_id",
        name,
        SYMBOL,
    )
    app = router[0]
    await eventually(lambda: any(r.rule_id == rule_id for r in app.service.rules))
    try:
        yield name
    finally:
        await db.execute("DELETE FROM router.routing_rules WHERE rule_id = $1", rule_id)


async def degraded_lps(fixgw: FixgwApp) -> dict[str, str]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fixgw.grpc_port}") as channel:
        sessions = await fixgw_pb2_grpc.FixGatewayServiceStub(channel).ListSessions(
            fixgw_pb2.ListSessionsRequest(), timeout=10
        )
    return {s.name: s.health.degraded_reason for s in sessions.sessions if s.health.degraded}


async def degrade(router: Router, group: str, lps: dict[str, LpSimulator], fixgw: FixgwApp) -> None:
    """Make both LPs reject (their control operations) until fixgw reports both DEGRADED."""
    for sim in lps.values():
        sim.add_fault(Fault("reject", text="degrade me"), MIN_OUTCOMES)
    for _ in range(MIN_OUTCOMES):
        response = await router[1].Execute(abook(group, BUY), timeout=20)
        assert (response.status, response.reject_reason) == (REJECTED, "LP_REJECTED")
    assert await degraded_lps(fixgw) == {"LPA": "REJECT_RATIO", "LPB": "REJECT_RATIO"}


async def with_fallback(db: asyncpg.Connection, fallback: str) -> None:
    await db.execute(
        "INSERT INTO router.routing_symbol_settings (symbol, lp_fallback) VALUES ($1, $2)",
        SYMBOL,
        fallback,
    )


async def explained_inputs(router: Router, order_id: str) -> tuple[str, dict[str, str]]:
    explained = await router[1].Explain(router_pb2.ExplainRequest(order_id=order_id), timeout=10)
    return explained.level, {i.name: i.value for i in explained.inputs}


async def test_when_every_lp_is_degraded_then_next_order_takes_fallback_b_and_explain_says_why(
    router: Router,
    a_group: str,
    lps: dict[str, LpSimulator],
    fixgw: FixgwApp,
    db: asyncpg.Connection,
) -> None:
    # Arrange: both LPs rejected until degraded (their sessions still take orders).
    await degrade(router, a_group, lps, fixgw)
    assert all(fixgw.gateway.healthy(name) for name in lps)
    health = router[0].service.lp_health
    assert health is not None
    await health.poll()
    await with_fallback(db, "B")
    try:
        order = abook(a_group, BUY)

        # Act
        response = await router[1].Execute(order, timeout=20)
        level, inputs = await explained_inputs(router, order.order.order_id)
    finally:
        await db.execute("DELETE FROM router.routing_symbol_settings WHERE symbol = $1", SYMBOL)

    # Assert: the house took it, and the degraded LPs and why are the recorded inputs.
    assert (response.status, response.book, response.routing_reason) == (
        FILLED,
        types_pb2.BOOK_B,
        "LP_DOWN_FALLBACK_B",
    )
    assert [f.venue for f in response.fills] == ["BBOOK"]
    assert level == "LP_HEALTH"
    assert (inputs["lps_healthy"], inputs["lps_unhealthy"], inputs["lps_degraded"]) == (
        "",
        "",
        "LPA:REJECT_RATIO,LPB:REJECT_RATIO",
    )


async def test_when_every_lp_is_degraded_and_fallback_reject_then_fixgw_still_uses_them_last(
    router: Router,
    a_group: str,
    lps: dict[str, LpSimulator],
    fixgw: FixgwApp,
    db: asyncpg.Connection,
) -> None:
    # Arrange: both degraded; the LPs have stopped rejecting.
    await degrade(router, a_group, lps, fixgw)
    health = router[0].service.lp_health
    assert health is not None
    await health.poll()
    order = abook(a_group, BUY)

    # Act: fallback REJECT (no symbol row): the order goes to fixgw all the same.
    response = await router[1].Execute(order, timeout=20)
    level, inputs = await explained_inputs(router, order.order.order_id)

    # Assert: fixgw sent it to a degraded LP (the only kind there is) and it filled there.
    assert (response.status, response.book, response.routing_reason) == (
        FILLED,
        types_pb2.BOOK_A,
        "GROUP_A_BOOK",
    )
    assert [f.venue for f in response.fills] == ["LPA"]
    assert level == "RULE"
    assert inputs["lps_degraded"] == "LPA:REJECT_RATIO,LPB:REJECT_RATIO"


async def test_when_one_lp_is_degraded_then_no_fallback_and_the_other_lp_fills(
    router: Router,
    a_group: str,
    lps: dict[str, LpSimulator],
    fixgw: FixgwApp,
    db: asyncpg.Connection,
) -> None:
    # Arrange: LPA alone rejects; LPB fills each of those orders, so only LPA degrades.
    lps["LPA"].add_fault(Fault("reject", text="degrade me"), MIN_OUTCOMES)
    for _ in range(MIN_OUTCOMES):
        response = await router[1].Execute(abook(a_group, BUY), timeout=20)
        assert [f.venue for f in response.fills] == ["LPB"]
    assert await degraded_lps(fixgw) == {"LPA": "REJECT_RATIO"}
    health = router[0].service.lp_health
    assert health is not None
    await health.poll()
    await with_fallback(db, "B")
    try:
        order = abook(a_group, BUY)

        # Act
        response = await router[1].Execute(order, timeout=20)
        level, inputs = await explained_inputs(router, order.order.order_id)
    finally:
        await db.execute("DELETE FROM router.routing_symbol_settings WHERE symbol = $1", SYMBOL)

    # Assert: a healthy LP remains, so no fallback; fixgw tries the degraded LPA last.
    assert (response.status, response.book, [f.venue for f in response.fills]) == (
        FILLED,
        types_pb2.BOOK_A,
        ["LPB"],
    )
    assert level == "RULE"
    assert (inputs["lps_healthy"], inputs["lps_degraded"]) == ("LPB", "LPA:REJECT_RATIO")
