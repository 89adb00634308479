"""LP administration end to end: gRPC -> fixgw (real QuickFIX, real PostgreSQL) -> LP simulators.

An LP added at runtime gets its own initiator and takes orders while the first LP's session stays
logged on; a deleted or disabled LP takes none; the LPs survive a fixgw restart; an LP that keeps
rejecting becomes DEGRADED and is tried last.

Every test names its LPs afresh (the session database is shared) and removes its rows at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import pytest
from fixgw_harness import WAIT, until

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig
from fixgw.lpsim.knobs import Fault
from fixgw.lpsim.simulator import LpSimulator, SimConfig
from fixgw.server import FixgwApp
from fxmesh.errors import from_rpc_error
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, types_pb2

S = fixgw_pb2
ORDER_IDS = itertools.count(int(time.time() * 1000) % 10**9 * 1000 + 500)
BID, ASK = Decimal("1.10000"), Decimal("1.10010")
BID2, ASK2 = Decimal("1.10002"), Decimal("1.10012")


def execute_request(order_id: str, lps: tuple[str, ...] = ()) -> fixgw_pb2.ExecuteOrderRequest:
    return fixgw_pb2.ExecuteOrderRequest(
        order_id=order_id,
        account_id="7",
        symbol="EURUSD",
        side=types_pb2.SIDE_BUY,
        volume="0.1",
        contract_size="100000",
        lps=list(lps),
    )


class Lab:
    """Two LP simulators (A in the settings, B added at runtime) and fixgw, restartable."""

    def __init__(self, tmp_path: Path, pg_dsn: str) -> None:
        tag = uuid.uuid4().hex[:6].upper()
        self.a, self.b = f"A{tag}", f"B{tag}"
        self.tmp_path = tmp_path
        self.pg_dsn = pg_dsn
        self.sims: dict[str, LpSimulator] = {}
        self.app: FixgwApp | None = None
        self.channel: grpc.aio.Channel | None = None
        self.stub: Any = None

    async def start_sims(self) -> None:
        for n, (name, bid, ask) in enumerate(((self.a, BID, ASK), (self.b, BID2, ASK2))):
            sim = LpSimulator(
                demo_price_specs(),
                port=engine.free_port(),
                run_dir=self.tmp_path / name.lower(),
                sender_comp_id=name,
                config=SimConfig(tick_interval_ms=50, walk=False),
                seed=n,
            )
            await sim.start()
            sim.set_price("EURUSD", bid, ask)
            self.sims[name] = sim

    def settings(self, **extra: Any) -> FixgwSettings:
        first = LpConfig(
            name=self.a,
            host="127.0.0.1",
            port=self.sims[self.a].port,
            target_comp_id=self.a,
            order_timeout_seconds=0.5,
        )
        return FixgwSettings(
            run_dir=str(self.tmp_path / "fixgw"),
            fixgw_addr="127.0.0.1:0",
            quotes_addr="127.0.0.1:9",
            metrics_port=0,
            postgres_dsn=self.pg_dsn,
            fixgw_lps=[first],
            fixgw_symbols="EURUSD",
            fixgw_reconnect_seconds=1,
            fixgw_reconcile_seconds=0.5,
            shutdown_grace_seconds=0,
            fixgw_stop_grace_seconds=0.5,
            **extra,
        )

    def definition(self, **changes: Any) -> fixgw_pb2.LpDefinition:
        fields: dict[str, Any] = {
            "name": self.b,
            "host": "127.0.0.1",
            "port": self.sims[self.b].port,
            "target_comp_id": self.b,
            "symbols": ["EURUSD"],
        }
        fields.update(changes)
        lp = fixgw_pb2.LpDefinition(**fields)
        lp.order_timeout.FromMilliseconds(500)
        return lp

    async def start(self, **extra: Any) -> FixgwApp:
        self.app = FixgwApp(self.settings(**extra))
        await self.app.start()
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.app.grpc_port}")
        self.stub = fixgw_pb2_grpc.FixGatewayServiceStub(self.channel)
        await self.priced(self.a)
        return self.app

    async def priced(self, lp: str) -> None:
        """Wait until ``lp`` is logged on and has a EURUSD price."""
        app = self.app
        assert app is not None
        await asyncio.wait_for(
            until(lambda: lp in app.gateway.lps and bool(app.gateway.top_of_book(lp, "EURUSD"))),
            WAIT,
        )

    async def stop(self) -> None:
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        if self.app is not None:
            await self.app.stop()
            self.app = None

    async def session(self, lp: str) -> fixgw_pb2.LpSession:
        reply = await self.stub.GetSession(S.GetSessionRequest(name=lp), timeout=WAIT)
        session: fixgw_pb2.LpSession = reply.session
        return session

    async def execute(self, lps: tuple[str, ...] = ()) -> fixgw_pb2.LpExecution:
        order_id = str(next(ORDER_IDS))
        reply = await self.stub.ExecuteOrder(execute_request(order_id, lps), timeout=WAIT)
        execution: fixgw_pb2.LpExecution = reply.execution
        return execution

    async def close(self) -> None:
        await self.stop()
        for sim in self.sims.values():
            await sim.stop()
        conn = await asyncpg.connect(self.pg_dsn)
        try:
            await conn.execute("DELETE FROM fixgw.lps WHERE lp_id = ANY($1)", [self.a, self.b])
        finally:
            await conn.close()


@pytest.fixture
async def lab(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Lab]:
    lab = Lab(tmp_path, pg_dsn)
    await lab.start_sims()
    try:
        yield lab
    finally:
        await lab.close()


async def rpc_error(call: Any) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    error = from_rpc_error(raised.value)
    return raised.value.code(), error.reason, dict(error.metadata)


async def test_lp_added_at_runtime_when_ordered_then_fills_there_and_first_session_stays_up(
    lab: Lab,
) -> None:
    # Arrange
    await lab.start()
    first = await lab.session(lab.a)

    # Act
    created = await lab.stub.CreateLp(
        S.CreateLpRequest(lp=lab.definition(), enabled=True), timeout=WAIT
    )
    await lab.priced(lab.b)
    execution = await lab.execute(lps=(lab.b,))
    after = await lab.session(lab.a)

    # Assert
    assert created.session.name == lab.b
    assert created.session.source == S.LP_SOURCE_ADMIN
    assert created.session.enabled
    assert created.session.lp_type == "FIX"
    assert created.session.definition.port == lab.sims[lab.b].port
    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert execution.fills[0].lp == lab.b
    assert Decimal(execution.fills[0].price) == ASK2
    # The first LP's session was never touched: same logon, still logged on.
    assert after.logged_on
    assert after.logon_time == first.logon_time
    assert first.source == S.LP_SOURCE_SETTINGS
    listed = await lab.stub.ListSessions(S.ListSessionsRequest(), timeout=WAIT)
    assert [s.name for s in listed.sessions] == [lab.a, lab.b]
    fills = await lab.session(lab.b)
    assert (fills.fills_today, fills.rejects_today) == (1, 0)


async def test_lp_deleted_when_ordered_then_not_found_and_no_liquidity_first_session_up(
    lab: Lab,
) -> None:
    await lab.start()
    first = await lab.session(lab.a)
    await lab.stub.CreateLp(S.CreateLpRequest(lp=lab.definition(), enabled=True), timeout=WAIT)
    await lab.priced(lab.b)

    deleted = await lab.stub.DeleteLp(S.DeleteLpRequest(name=lab.b), timeout=WAIT)
    execution = await lab.execute(lps=(lab.b,))
    missing = await rpc_error(lab.stub.GetSession(S.GetSessionRequest(name=lab.b), timeout=WAIT))

    assert deleted.session.name == lab.b
    assert execution.status == S.LP_ORDER_STATUS_REJECTED
    assert execution.reject_reason == "NO_LIQUIDITY"
    assert missing[:2] == (grpc.StatusCode.NOT_FOUND, "LP_NOT_FOUND")
    await asyncio.wait_for(
        until(lambda: not any(s["loggedOn"] for s in lab.sims[lab.b].state()["sessions"])), WAIT
    )
    after = await lab.session(lab.a)
    assert after.logged_on
    assert after.logon_time == first.logon_time


async def test_lp_disabled_when_ordered_then_no_order_reaches_it_until_enabled(lab: Lab) -> None:
    await lab.start()
    orders_before = len(lab.sims[lab.a].orders)

    disabled = await lab.stub.SetLpEnabled(
        S.SetLpEnabledRequest(name=lab.a, enabled=False), timeout=WAIT
    )
    refused = await lab.execute(lps=(lab.a,))
    orders_while_disabled = len(lab.sims[lab.a].orders)
    connect = await rpc_error(lab.stub.Connect(S.ConnectRequest(name=lab.a), timeout=WAIT))
    enabled = await lab.stub.SetLpEnabled(
        S.SetLpEnabledRequest(name=lab.a, enabled=True), timeout=WAIT
    )
    await lab.priced(lab.a)
    filled = await lab.execute(lps=(lab.a,))

    assert not disabled.session.enabled
    assert not disabled.session.logged_on
    assert disabled.session.state == S.SESSION_STATE_DISCONNECTED
    assert disabled.session.source == S.LP_SOURCE_ADMIN
    assert (refused.status, refused.reject_reason) == (S.LP_ORDER_STATUS_REJECTED, "NO_LIQUIDITY")
    assert orders_while_disabled == orders_before  # nothing reached the LP
    assert connect[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "LP_DISABLED")
    assert enabled.session.enabled
    assert filled.status == S.LP_ORDER_STATUS_FILLED


async def test_fixgw_restart_when_lps_were_administered_then_added_disabled_and_deleted_kept(
    lab: Lab,
) -> None:
    # Arrange: an LP added and disabled; the settings' LP deleted.
    await lab.start()
    await lab.stub.CreateLp(S.CreateLpRequest(lp=lab.definition(), enabled=True), timeout=WAIT)
    await lab.priced(lab.b)
    await lab.stub.DeleteLp(S.DeleteLpRequest(name=lab.a), timeout=WAIT)
    await lab.stub.SetLpEnabled(S.SetLpEnabledRequest(name=lab.b, enabled=False), timeout=WAIT)

    # Act: restart with the same settings (which still name the deleted LP).
    await lab.stop()
    app = FixgwApp(lab.settings())
    await app.start()
    lab.app = app
    lab.channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
    lab.stub = fixgw_pb2_grpc.FixGatewayServiceStub(lab.channel)
    listed = await lab.stub.ListSessions(S.ListSessionsRequest(), timeout=WAIT)
    enabled = await lab.stub.SetLpEnabled(
        S.SetLpEnabledRequest(name=lab.b, enabled=True), timeout=WAIT
    )
    await lab.priced(lab.b)
    filled = await lab.execute()

    # Assert
    assert [(s.name, s.enabled, s.source) for s in listed.sessions] == [
        (lab.b, False, S.LP_SOURCE_ADMIN)
    ]
    assert listed.sessions[0].definition.target_comp_id == lab.b
    assert enabled.session.enabled
    assert filled.status == S.LP_ORDER_STATUS_FILLED
    assert filled.fills[0].lp == lab.b


async def test_lp_definitions_when_bad_duplicate_or_session_taken_then_refused_with_reason(
    lab: Lab,
) -> None:
    await lab.start()

    duplicate = await rpc_error(
        lab.stub.CreateLp(S.CreateLpRequest(lp=lab.definition(name=lab.a)), timeout=WAIT)
    )
    taken = await rpc_error(
        lab.stub.CreateLp(S.CreateLpRequest(lp=lab.definition(target_comp_id=lab.a)), timeout=WAIT)
    )
    bad_port = await rpc_error(
        lab.stub.CreateLp(S.CreateLpRequest(lp=lab.definition(port=70000)), timeout=WAIT)
    )
    bad_style = await rpc_error(
        lab.stub.CreateLp(
            S.CreateLpRequest(lp=lab.definition(order_style="SOMETIMES")), timeout=WAIT
        )
    )
    bad_name = await rpc_error(
        lab.stub.CreateLp(S.CreateLpRequest(lp=lab.definition(name="no spaces")), timeout=WAIT)
    )
    unknown = await rpc_error(
        lab.stub.UpdateLp(S.UpdateLpRequest(lp=lab.definition()), timeout=WAIT)
    )
    listed = await lab.stub.ListSessions(S.ListSessionsRequest(), timeout=WAIT)

    assert duplicate[:2] == (grpc.StatusCode.ALREADY_EXISTS, "LP_EXISTS")
    assert taken[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "LP_SESSION_IN_USE")
    assert taken[2]["lp"] == lab.a
    assert bad_port[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_LP_CONFIG")
    assert bad_port[2]["field"] == "port"
    assert (bad_style[1], bad_style[2]["field"]) == ("INVALID_LP_CONFIG", "order_style")
    assert (bad_name[1], bad_name[2]["field"]) == ("INVALID_LP_CONFIG", "name")
    assert unknown[:2] == (grpc.StatusCode.NOT_FOUND, "LP_NOT_FOUND")
    # Nothing half-written: still the one LP, and no row for the refused ones.
    assert [s.name for s in listed.sessions] == [lab.a]
    conn = await asyncpg.connect(lab.pg_dsn)
    try:
        rows = await conn.fetch("SELECT lp_id FROM fixgw.lps WHERE lp_id = $1", lab.b)
    finally:
        await conn.close()
    assert rows == []


async def test_lp_updated_when_port_changes_then_its_session_moves_and_other_stays(
    lab: Lab,
) -> None:
    await lab.start()
    first = await lab.session(lab.a)
    wrong = lab.definition(port=engine.free_port())
    await lab.stub.CreateLp(S.CreateLpRequest(lp=wrong, enabled=True), timeout=WAIT)

    updated = await lab.stub.UpdateLp(S.UpdateLpRequest(lp=lab.definition()), timeout=WAIT)
    await lab.priced(lab.b)
    execution = await lab.execute(lps=(lab.b,))

    assert updated.session.definition.port == lab.sims[lab.b].port
    assert execution.status == S.LP_ORDER_STATUS_FILLED
    after = await lab.session(lab.a)
    assert after.logged_on
    assert after.logon_time == first.logon_time


async def test_lp_rejecting_when_window_fills_then_degraded_and_tried_after_the_healthy_one(
    lab: Lab,
) -> None:
    # Arrange: a small window rule (3 outcomes, 80 % rejects); A rejects its next 3 orders.
    await lab.start(fixgw_health_min_outcomes=3)
    await lab.stub.CreateLp(S.CreateLpRequest(lp=lab.definition(), enabled=True), timeout=WAIT)
    await lab.priced(lab.b)
    lab.sims[lab.a].add_fault(Fault("reject", text="credit limit"), count=3)
    for _ in range(3):
        rejected = await lab.execute(lps=(lab.a,))
        assert rejected.reject_reason == "LP_REJECTED"

    # Act
    health = (await lab.session(lab.a)).health
    execution = await lab.execute(lps=(lab.a, lab.b))

    # Assert: A first in the list, but degraded: B is tried first and fills.
    assert health.degraded
    assert health.degraded_reason == "REJECT_RATIO"
    assert (health.outcomes, health.rejects, health.fills) == (3, 3, 0)
    assert Decimal(health.reject_ratio) == 1
    assert [a.lp for a in execution.attempts] == [lab.b]
    assert execution.status == S.LP_ORDER_STATUS_FILLED
    healthy = (await lab.session(lab.b)).health
    assert not healthy.degraded
    assert (await lab.session(lab.a)).rejects_today == 3
