"""System health, metrics and restart against real servers: real gRPC health services (oms, the
fixgw / router stand-ins, a bare quotes server), a real HTTP server standing in for edge's /readyz,
and the test PostgreSQL, Redis and RabbitMQ."""

from __future__ import annotations

from decimal import Decimal

import grpc
import pytest
from conftest import bearer

from admin.domain import Role
from fxmesh.v1 import admin_pb2, fixgw_pb2

COMPONENTS = {"oms", "router", "fixgw", "quotes", "edge", "postgresql", "redis", "rabbitmq"}


async def _health(admin) -> dict:
    async with admin.http(await admin.token_of(Role.SUPPORT)) as http:
        response = await http.get("/admin/system/health")
    assert response.status_code == 200, response.text
    return response.json()


async def test_health_when_everything_answers_then_up_with_latencies_and_lp_sessions(admin):
    body = await _health(admin)

    assert body["status"] == "UP"
    components = {c["name"]: c for c in body["components"]}
    assert set(components) == COMPONENTS
    for c in components.values():
        assert c["status"] == "UP", c
        assert Decimal(c["latencyMs"]) >= 0
    assert components["postgresql"]["kind"] == "DEPENDENCY"
    assert components["oms"]["critical"] is True
    assert components["rabbitmq"]["critical"] is False
    lps = {lp["lpId"]: lp for lp in body["lpSessions"]}
    assert lps["LPSIM"] == {
        "lpId": "LPSIM",
        "status": "UP",
        "state": "LOGGED_ON",
        "loggedOn": True,
        "healthy": True,
        "heartbeatRttMs": "12.000",
        "ordersUnresolved": 0,
    }


async def test_health_when_edge_not_ready_then_down_naming_edge(admin):
    admin.edge.ready = False
    try:
        body = await _health(admin)
    finally:
        admin.edge.ready = True

    edge = next(c for c in body["components"] if c["name"] == "edge")
    assert body["status"] == "DOWN"
    assert edge["status"] == "DOWN"
    assert edge["detail"] == "/readyz answered 503"
    assert edge["latencyMs"] is None


async def test_health_when_lp_holds_orders_or_is_down_then_degraded(admin):
    admin.fixgw.unresolved["LPSIM"] = 2
    admin.fixgw.states["LP2"] = fixgw_pb2.SESSION_STATE_DISCONNECTED
    try:
        body = await _health(admin)
    finally:
        admin.fixgw.unresolved.clear()
        admin.fixgw.states["LP2"] = fixgw_pb2.SESSION_STATE_LOGGED_ON

    lps = {lp["lpId"]: lp for lp in body["lpSessions"]}
    assert body["status"] == "DEGRADED"
    assert (lps["LPSIM"]["status"], lps["LPSIM"]["ordersUnresolved"]) == ("DEGRADED", 2)
    assert (lps["LP2"]["status"], lps["LP2"]["heartbeatRttMs"]) == ("DOWN", None)


async def test_metrics_when_read_then_exposure_lps_and_accounts_summed(admin):
    await admin.new_account()
    admin.fixgw.unresolved["LP2"] = 3
    try:
        async with admin.http(await admin.token_of(Role.SUPPORT)) as http:
            response = await http.get("/admin/system/metrics")
    finally:
        admin.fixgw.unresolved.clear()

    body = response.json()
    assert response.status_code == 200
    assert body["exposure"] == {
        "openSymbols": 1,
        "grossNotionalUsd": "162675.00",
        "unrealizedPnlUsd": "-4.10",
        "realizedPnlUsd": "12.30",
    }
    assert body["lpSessions"] == {
        "total": 2,
        "loggedOn": 2,
        "healthy": 1,
        "ordersUnresolved": 3,
        "ticksReceived": "200",
    }
    assert body["accounts"]["counted"] >= 1
    assert body["accounts"]["byStatus"]["ACTIVE"] >= 1
    assert body["unavailable"] == []
    assert isinstance(body["lockedLogins"], int)


async def test_restart_when_known_service_then_501_and_failed_audit_row(admin):
    async with admin.http(await admin.token_of(Role.ADMIN)) as http:
        response = await http.post(
            "/admin/system/restart", json={"service": "oms", "requestId": "restart-1"}
        )
        unknown = await http.post("/admin/system/restart", json={"service": "nginx"})

    assert response.status_code == 501
    assert response.json()["code"] == "RESTART_NOT_SUPPORTED"
    assert response.json()["details"] == {"service": "oms", "cause": "NO_SUPERVISOR"}
    assert (unknown.status_code, unknown.json()["code"]) == (400, "UNKNOWN_SERVICE")
    rows = await admin.audit_rows("system.restart", "boss")
    restart = next(r for r in rows if r["request_id"] == "restart-1")
    assert (restart["target"], restart["outcome"], restart["error_code"]) == (
        "service:oms",
        "FAILED",
        "RESTART_NOT_SUPPORTED",
    )


async def test_grpc_system_when_called_then_same_answers_as_rest(admin, admin_stub):
    token = bearer(await admin.token_of(Role.SUPER_ADMIN))

    health = await admin_stub.GetSystemHealth(
        admin_pb2.GetSystemHealthRequest(), metadata=token, timeout=10
    )
    metrics = await admin_stub.GetSystemMetrics(
        admin_pb2.GetSystemMetricsRequest(), metadata=token, timeout=10
    )
    with pytest.raises(grpc.aio.AioRpcError) as restart:
        await admin_stub.RestartService(
            admin_pb2.RestartServiceRequest(service="router"), metadata=token, timeout=10
        )

    assert health.status == admin_pb2.HEALTH_STATUS_UP
    assert {c.name for c in health.components} == COMPONENTS
    assert all(c.HasField("latency") for c in health.components)
    assert {s.lp_id for s in health.lp_sessions} == {"LPSIM", "LP2"}
    assert metrics.exposure.gross_notional_usd == "162675.00"
    assert metrics.lp_sessions.total == 2
    assert restart.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_today_summary_when_read_then_oms_counts_by_rest_and_grpc_and_bad_since_400(
    admin, admin_stub
):
    await admin.new_account()
    token = await admin.token_of(Role.SUPPORT)
    truth = await admin.pool.fetchrow(
        "SELECT (SELECT count(*) FROM oms.orders WHERE created_at >= date_trunc('day', now())) "
        "AS placed, (SELECT count(*) FROM oms.positions WHERE closed_at IS NULL) AS open, "
        "(SELECT count(*) FROM oms.orders WHERE status = 'WORKING') AS working"
    )
    async with admin.http(token) as http:
        today = await http.get("/admin/summary/today")
        future = await http.get("/admin/summary/today", params={"since": "2999-01-01T00:00:00Z"})
        bad = await http.get("/admin/summary/today", params={"since": "yesterday"})
    reply = await admin_stub.GetTodaySummary(
        admin_pb2.GetTodaySummaryRequest(), metadata=bearer(token), timeout=10
    )

    assert today.status_code == 200, today.text
    body = today.json()
    assert body["since"].endswith("T00:00:00Z")
    assert body["ordersPlaced"] == truth["placed"]
    assert (body["openPositions"], body["pendingOrders"]) == (truth["open"], truth["working"])
    assert set(body) == {
        "since",
        "ordersPlaced",
        "ordersFilled",
        "ordersRejected",
        "trades",
        "volumeLots",
        "activeClients",
        "openPositions",
        "pendingOrders",
        "byBook",
    }
    assert future.json()["ordersPlaced"] == future.json()["trades"] == 0
    assert future.json()["volumeLots"] == "0"
    assert future.json()["since"] == "2999-01-01T00:00:00Z"
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_TIME")
    summary = reply.summary
    assert (summary.orders_placed, summary.open_positions) == (truth["placed"], truth["open"])


async def test_top_traders_when_deals_booked_then_ranked_by_rest_and_grpc(admin, admin_stub):
    winner, loser = await admin.new_account(), await admin.new_account()
    start = await admin.pool.fetchval("SELECT now()")
    await admin.pool.execute(  # admin's test database has no catalogue: the deals need a symbol
        "INSERT INTO oms.symbols (symbol, description, asset_class, base_currency, "
        "quote_currency, digits, contract_size, volume_min, volume_max, volume_step, "
        "commission_currency) VALUES ('EURUSD', 'Euro', 'FX', 'EUR', 'USD', 5, 100000, 0.01, 50, "
        "0.01, 'USD') ON CONFLICT DO NOTHING"
    )
    for account, pnl in ((winner, "120.00"), (loser, "-80.00")):
        await admin.pool.execute(
            "INSERT INTO oms.deals (account_id, symbol, side, entry, volume, price, commission, "
            "realized_pnl, venue, fill_id) VALUES ($1, 'EURUSD', 'SELL', 'OUT', 0.50, 1.1, -1.75, "
            "$2, 'BBOOK', $3)",
            int(account),
            Decimal(pnl),
            f"admin-top-{account}",
        )
    token = await admin.token_of(Role.SUPPORT)
    since = start.isoformat()
    async with admin.http(token) as http:
        top = await http.get("/admin/risk/top-traders", params={"since": since, "limit": 5})
        watch = await http.get("/admin/risk/margin-watch", params={"within": "25"})
        bad = await http.get("/admin/risk/margin-watch", params={"within": "-1"})
    reply = await admin_stub.GetTopTraders(
        admin_pb2.GetTopTradersRequest(limit=1), metadata=bearer(token), timeout=10
    )

    assert top.status_code == 200, top.text
    body = top.json()
    assert [(t["accountId"], t["net"], t["trades"]) for t in body["winners"]] == [
        (winner, "118.25", 1)
    ]
    assert [(t["accountId"], t["net"], t["volumeLots"]) for t in body["losers"]] == [
        (loser, "-81.75", "0.50")
    ]
    assert watch.status_code == 200
    assert isinstance(watch.json()["accounts"], list)
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_DECIMAL")
    assert len(reply.result.winners) <= 1
