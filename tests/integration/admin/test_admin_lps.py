"""LP administration through admin against a real fixgw (real QuickFIX, PostgreSQL) and two LP
simulators: add, list, change, disable, connect refused, delete; every change audited with its
before and after; bad definitions answered with fixgw's reason as an HTTP code; gRPC alike.

The LPs are named afresh per test and their rows removed at the end (the database is shared).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from conftest import AdminUnderTest, bearer

from admin.domain import Role
from admin.service import AdminService
from admin.servicer import AdminServicer
from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig
from fixgw.lpsim.simulator import LpSimulator, SimConfig
from fixgw.server import FixgwApp
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import admin_lps_pb2, admin_pb2_grpc, fixgw_pb2, fixgw_pb2_grpc, router_pb2_grpc

WAIT = 20.0


@dataclasses.dataclass
class RealLps:
    admin: AdminUnderTest
    app: FixgwApp
    a: str
    b: str
    port_b: int
    stub: admin_pb2_grpc.AdminServiceStub

    async def audit(self, action: str) -> list[dict[str, Any]]:
        """This test's audit rows of ``action`` on LP b, oldest first."""
        rows = await self.admin.pool.fetch(
            "SELECT * FROM admin.audit_log WHERE action = $1 AND target = $2 ORDER BY audit_id",
            action,
            f"lp:{self.b}",
        )
        return [dict(r) for r in rows]


@pytest.fixture
async def real(admin: AdminUnderTest, pg_dsn: str, tmp_path: Path) -> AsyncIterator[RealLps]:
    tag = uuid.uuid4().hex[:6].upper()
    a, b = f"A{tag}", f"B{tag}"
    sims = {}
    for name in (a, b):
        sim = LpSimulator(
            demo_price_specs(),
            port=engine.free_port(),
            run_dir=tmp_path / name.lower(),
            sender_comp_id=name,
            config=SimConfig(tick_interval_ms=100, walk=False),
        )
        await sim.start()
        sims[name] = sim
    app = FixgwApp(
        FixgwSettings(
            run_dir=str(tmp_path / "fixgw"),
            fixgw_addr="127.0.0.1:0",
            quotes_addr="127.0.0.1:9",
            metrics_port=0,
            postgres_dsn=pg_dsn,
            fixgw_lps=[LpConfig(name=a, host="127.0.0.1", port=sims[a].port, target_comp_id=a)],
            fixgw_symbols="EURUSD",
            shutdown_grace_seconds=0,
            fixgw_stop_grace_seconds=0.5,
        )
    )
    await app.start()
    channels = [
        open_channel(f"127.0.0.1:{app.grpc_port}"),
        open_channel(admin.settings.router_addr),
    ]
    service = AdminService(
        admin.settings,
        admin.pool,
        admin.oms,
        fixgw_pb2_grpc.FixGatewayServiceStub(channels[0]),
        router_pb2_grpc.RouterServiceStub(channels[1]),
    )
    server = GrpcServer("admintestlps", "127.0.0.1:0")
    server.add(
        admin_pb2_grpc.add_AdminServiceServicer_to_server,
        AdminServicer(service),
        "fxmesh.v1.AdminService",
    )
    port = await server.start()
    channels.append(open_channel(f"127.0.0.1:{port}"))
    stub = admin_pb2_grpc.AdminServiceStub(channels[-1])
    try:
        yield RealLps(dataclasses.replace(admin, service=service), app, a, b, sims[b].port, stub)
    finally:
        for channel in channels:
            await channel.close()
        await server.stop(0)
        await app.stop()
        for sim in sims.values():
            await sim.stop()
        await admin.pool.execute("DELETE FROM fixgw.lps WHERE lp_id = ANY($1)", [a, b])


async def logged_on(app: FixgwApp, lp: str) -> None:
    async def poll() -> None:
        while not (lp in app.gateway.lps and app.gateway.logged_on(lp)):  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


def by_id(lps: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {lp["id"]: lp for lp in lps}


async def test_lps_when_added_changed_disabled_and_deleted_then_fixgw_follows_and_audited(
    real: RealLps,
) -> None:
    admin, a, b = real.admin, real.a, real.b
    token = await admin.token_of(Role.ADMIN)
    new = {"id": b, "host": "127.0.0.1", "port": real.port_b, "targetCompId": b}
    async with admin.http(token) as http:
        created = await http.post(
            "/admin/lps", json={**new, "symbols": ["EURUSD"], "requestId": "lp-create-1"}
        )
        await logged_on(real.app, b)
        listed = by_id((await http.get("/admin/lps")).json()["lps"])
        again = await http.post("/admin/lps", json=new)
        changed = await http.put(f"/admin/lps/{b}", json={"orderTimeoutSeconds": "1.5"})
        await logged_on(real.app, b)
        disabled = await http.post(f"/admin/lps/{b}/disable")
        connect = await http.post(f"/admin/lps/{b}/connect")
        all_up = await http.post("/admin/fix/connect")
        enabled = await http.post(f"/admin/lps/{b}/enable")
        deleted = await http.delete(f"/admin/lps/{b}")
        gone = await http.get("/admin/lps")
        missing = await http.delete(f"/admin/lps/{b}")

    assert created.status_code == 201
    assert created.json()["lp"]["source"] == "ADMIN"
    lp = listed[b]
    assert (lp["type"], lp["enabled"], lp["source"], lp["connected"]) == (
        "FIX",
        True,
        "ADMIN",
        True,
    )
    assert (lp["port"], lp["targetCompId"], lp["configuredSymbols"]) == (real.port_b, b, ["EURUSD"])
    assert (lp["fillsToday"], lp["rejectsToday"], lp["degraded"]) == (0, 0, False)
    assert lp["health"]["windowSeconds"] == 60.0
    assert listed[a]["source"] == "SETTINGS"
    assert listed[a]["connected"] is True  # the first LP's session was not touched
    assert (again.status_code, again.json()["code"]) == (409, "LP_EXISTS")
    assert changed.status_code == 200
    assert changed.json()["lp"]["orderTimeoutSeconds"] == "1.5"
    assert changed.json()["lp"]["port"] == real.port_b  # the rest kept
    assert disabled.json()["lp"]["enabled"] is False
    assert disabled.json()["lp"]["connected"] is False
    assert (connect.status_code, connect.json()["code"]) == (409, "LP_DISABLED")
    assert [s["id"] for s in all_up.json()["sessions"]] == [a]  # the disabled LP skipped
    assert enabled.json()["lp"]["enabled"] is True
    assert deleted.status_code == 200
    assert b not in by_id(gone.json()["lps"])
    assert (missing.status_code, missing.json()["code"]) == (404, "LP_NOT_FOUND")

    creates = await real.audit("lps.create")
    assert [r["outcome"] for r in creates] == ["ALLOWED", "FAILED"]
    assert creates[0]["request_id"] == "lp-create-1"
    assert (creates[0]["after"]["lpId"], creates[0]["after"]["port"]) == (b, real.port_b)
    assert creates[1]["error_code"] == "LP_EXISTS"
    (update,) = await real.audit("lps.update")
    assert update["before"]["orderTimeoutSeconds"] == "2.0"
    assert update["after"]["orderTimeoutSeconds"] == "1.5"
    (disable,) = await real.audit("lps.disable")
    assert (disable["before"]["enabled"], disable["after"]["enabled"]) == (True, False)
    deletes = await real.audit("lps.delete")
    assert [r["outcome"] for r in deletes] == ["ALLOWED", "FAILED"]
    assert deletes[0]["before"]["lpId"] == b
    assert deletes[0]["after"] == {"lpId": b, "deleted": True}


async def test_bad_definitions_when_posted_then_fixgw_reason_as_http_code_and_nothing_added(
    real: RealLps,
) -> None:
    admin, a, b = real.admin, real.a, real.b
    token = await admin.token_of(Role.SUPER_ADMIN)
    async with admin.http(token) as http:
        bad_port = await http.post(
            "/admin/lps", json={"id": b, "host": "127.0.0.1", "port": 0, "targetCompId": b}
        )
        no_host = await http.post("/admin/lps", json={"id": b, "port": 9, "targetCompId": b})
        taken = await http.post(
            "/admin/lps", json={"id": b, "host": "127.0.0.1", "port": 9, "targetCompId": a}
        )
        unknown_field = await http.post(
            "/admin/lps", json={"id": b, "host": "h", "port": 9, "targetCompId": b, "colour": 1}
        )
        risk = await admin.token_of(Role.RISK_MANAGER)
    async with admin.http(risk) as http:
        denied = await http.post(
            "/admin/lps", json={"id": b, "host": "127.0.0.1", "port": 9, "targetCompId": b}
        )
        listed = by_id((await http.get("/admin/lps")).json()["lps"])

    assert (bad_port.status_code, bad_port.json()["code"]) == (400, "INVALID_LP_CONFIG")
    assert bad_port.json()["details"]["field"] == "port"
    assert (no_host.status_code, no_host.json()["details"]["field"]) == (400, "host")
    assert (taken.status_code, taken.json()["code"]) == (409, "LP_SESSION_IN_USE")
    assert unknown_field.status_code == 422
    assert denied.status_code == 403
    assert b not in listed
    failed = await admin.last_audit("lps.create")
    assert failed["outcome"] in ("FAILED", "DENIED")


async def test_grpc_when_lp_created_enabled_and_deleted_then_same_as_rest(real: RealLps) -> None:
    b = real.b
    metadata = bearer(await real.admin.token_of(Role.ADMIN))
    definition = fixgw_pb2.LpDefinition(
        name=b, host="127.0.0.1", port=real.port_b, target_comp_id=b
    )

    created = await real.stub.CreateLiquidityProvider(
        admin_lps_pb2.CreateLiquidityProviderRequest(lp=definition, disabled=True),
        metadata=metadata,
        timeout=WAIT,
    )
    enabled = await real.stub.EnableLiquidityProvider(
        admin_lps_pb2.EnableLiquidityProviderRequest(lp_id=b), metadata=metadata, timeout=WAIT
    )
    await logged_on(real.app, b)
    updated = await real.stub.UpdateLiquidityProvider(
        admin_lps_pb2.UpdateLiquidityProviderRequest(
            lp=fixgw_pb2.LpDefinition(
                name=b, host="127.0.0.1", port=real.port_b, target_comp_id=b, qty_unit="LOTS"
            )
        ),
        metadata=metadata,
        timeout=WAIT,
    )
    deleted = await real.stub.DeleteLiquidityProvider(
        admin_lps_pb2.DeleteLiquidityProviderRequest(lp_id=b), metadata=metadata, timeout=WAIT
    )
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await real.stub.DisableLiquidityProvider(
            admin_lps_pb2.DisableLiquidityProviderRequest(lp_id=b), metadata=metadata, timeout=WAIT
        )

    assert created.session.enabled is False
    assert created.session.source == fixgw_pb2.LP_SOURCE_ADMIN
    assert enabled.session.enabled is True
    assert updated.session.definition.qty_unit == "LOTS"
    assert deleted.session.name == b
    assert b not in real.app.gateway.lps
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
