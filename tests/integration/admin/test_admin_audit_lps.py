"""The audit log's hash chain (an edited row is found), its search and CSV export; LPs, FIX
sessions and exposure over fixgw's and router's RPCs."""

from __future__ import annotations

import csv
import io

import grpc
import pytest
from conftest import bearer

from admin import audit
from admin.verify import main as verify_main
from fxmesh.v1 import admin_pb2


async def _edit_bypassing_trigger(pool, sql: str, *args) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("ALTER TABLE admin.audit_log DISABLE TRIGGER audit_log_no_update_delete")
        await conn.execute(sql, *args)
        await conn.execute("ALTER TABLE admin.audit_log ENABLE TRIGGER audit_log_no_update_delete")


async def test_verify_when_a_row_is_edited_as_superuser_then_first_broken_link_reported(
    admin, admin_stub, pg_dsn
):
    token = await admin.login("root")
    async with admin.http(token) as http:
        await http.post("/admin/lps/LPSIM/reconnect")
        await http.post("/admin/lps/LPSIM/connect")
        clean = (await http.get("/admin/audit/verify")).json()
    victim = await admin.pool.fetchrow(
        "SELECT audit_id, actor FROM admin.audit_log WHERE action = 'lps.reconnect' "
        "ORDER BY audit_id DESC LIMIT 1"
    )
    await _edit_bypassing_trigger(
        admin.pool,
        "UPDATE admin.audit_log SET actor = 'mallory' WHERE audit_id = $1",
        victim["audit_id"],
    )
    try:
        async with admin.http(token) as http:
            broken = (await http.get("/admin/audit/verify")).json()
        grpc_broken = await admin_stub.VerifyAuditLog(
            admin_pb2.VerifyAuditLogRequest(), metadata=bearer(token), timeout=10
        )
        command_exit = await verify_main(pg_dsn)
    finally:
        await _edit_bypassing_trigger(
            admin.pool,
            "UPDATE admin.audit_log SET actor = $2 WHERE audit_id = $1",
            victim["audit_id"],
            victim["actor"],
        )

    assert clean["ok"] is True
    assert clean["checked"] > 0
    assert clean["headHash"]
    assert broken["ok"] is False
    assert broken["firstBrokenAuditId"] == str(victim["audit_id"])
    assert broken["brokenReason"] == "ROW_HASH_MISMATCH"
    assert grpc_broken.first_broken_audit_id == victim["audit_id"]
    assert command_exit == 1
    assert (await audit.verify(admin.pool)).ok


async def test_verify_when_a_row_is_deleted_then_next_row_link_broken(admin):
    token = await admin.login("risky")
    async with admin.http(token) as http:
        for _ in range(2):
            await http.post("/admin/lps/LP2/reconnect")
    last_two = await admin.pool.fetch(
        "SELECT * FROM admin.audit_log WHERE action = 'lps.reconnect' AND target = 'lp:LP2' "
        "ORDER BY audit_id DESC LIMIT 2"
    )
    newer, older = last_two
    await _edit_bypassing_trigger(
        admin.pool,
        "UPDATE admin.audit_log SET prev_hash = 'x' WHERE audit_id = $1",
        newer["audit_id"],
    )
    try:
        result = await audit.verify(admin.pool)
    finally:
        await _edit_bypassing_trigger(
            admin.pool,
            "UPDATE admin.audit_log SET prev_hash = $2 WHERE audit_id = $1",
            newer["audit_id"],
            newer["prev_hash"],
        )

    assert newer["prev_hash"] == older["row_hash"] or newer["audit_id"] > older["audit_id"]
    assert (result.ok, result.first_broken_audit_id) == (False, newer["audit_id"])


async def test_audit_when_filtered_paged_and_exported_then_rows_and_csv_match(admin):
    token = await admin.login("root")
    async with admin.http(token) as http:
        for _ in range(3):
            await http.post("/admin/lps/LP2/connect")
        first = (
            await http.get(
                "/admin/audit",
                params={
                    "actor": "root",
                    "action": "lps.connect",
                    "resource": "lp:LP2",
                    "pageSize": 2,
                },
            )
        ).json()
        second = (
            await http.get(
                "/admin/audit",
                params={
                    "actor": "root",
                    "action": "lps.connect",
                    "resource": "lp:LP2",
                    "pageSize": 2,
                    "pageToken": first["nextPageToken"],
                },
            )
        ).json()
        exported = await http.get(
            "/admin/audit/export", params={"action": "lps.connect", "from": "2000-01-01T00:00:00Z"}
        )
        bad = await http.get("/admin/audit", params={"pageToken": "garbage!"})

    ids = [int(e["auditId"]) for e in first["entries"] + second["entries"]]
    assert len(ids) >= 3
    assert ids == sorted(ids, reverse=True)
    assert {e["resource"] for e in first["entries"]} == {"lp:LP2"}
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert {r["action"] for r in rows} == {"lps.connect"}
    assert {str(i) for i in ids} <= {r["auditId"] for r in rows}
    assert all(r["rowHash"] for r in rows)
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_PAGE_TOKEN")


async def test_lps_when_listed_switched_and_unknown_then_fixgw_state_and_404(admin, admin_stub):
    token = await admin.login("risky")
    async with admin.http(token) as http:
        down = await http.post("/admin/fix/disconnect", json={"lpId": "LPSIM"})
        lps = (await http.get("/admin/lps")).json()["lps"]
        up_all = await http.post("/admin/fix/connect")
        status = (await http.get("/admin/fix/status")).json()["sessions"]
        unknown = await http.post("/admin/lps/NOPE/connect")
        exposure = (await http.get("/admin/exposure")).json()["exposures"]

    assert [s["state"] for s in down.json()["sessions"]] == ["DISCONNECTED"]
    assert {lp["id"]: lp["connected"] for lp in lps}["LPSIM"] is False
    assert {s["id"] for s in up_all.json()["sessions"]} == {"LPSIM", "LP2"}
    assert all(s["connected"] for s in status)
    assert status[0]["nextSenderSeqNum"] == 7
    assert (unknown.status_code, unknown.json()["code"]) == (404, "LP_NOT_FOUND")
    assert exposure[0] == {
        "symbol": "EURUSD",
        "netVolume": "-1.50",
        "notionalUsd": "162675.00",
        "avgPrice": "1.08450",
        "realizedPnlUsd": "12.30",
        "unrealizedPnlUsd": "-4.10",
        "clientNetVolume": "-3.50",
        "hedgeNetVolume": "2.00",
    }
    row = await admin.last_audit("fix.disconnect")
    assert row["before"] == {
        "sessions": [{"lpId": "LPSIM", "state": "LOGGED_ON", "connected": True}]
    }
    assert row["after"]["sessions"][0]["state"] == "DISCONNECTED"
    failed = await admin.last_audit("lps.connect")
    assert (failed["outcome"], failed["error_code"]) == ("FAILED", "LP_NOT_FOUND")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await admin_stub.ConnectLiquidityProvider(
            admin_pb2.ConnectLiquidityProviderRequest(lp_id="NOPE"),
            metadata=bearer(token),
            timeout=10,
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_openapi_when_fetched_then_lists_every_admin_route(admin):
    async with admin.http() as http:
        spec = (await http.get("/admin/openapi.json")).json()

    for path in (
        "/admin/deposit",
        "/admin/accounts/{account_id}/leverage",
        "/admin/audit/verify",
        "/admin/fix/connect",
        "/admin/exposure",
        "/admin/lps/{lp_id}/reconnect",
    ):
        assert path in spec["paths"]
    deposit = spec["paths"]["/admin/deposit"]["post"]["requestBody"]["content"]
    assert "accountId" in deposit["application/json"]["schema"]["properties"]


async def test_order_routing_when_asked_then_router_decision_with_inputs_and_404_for_unknown(
    admin, admin_stub
):
    token = await admin.login("risky")
    async with admin.http(token) as http:
        known = await http.get("/admin/orders/4242/routing")
        unknown = await http.get("/admin/orders/777/routing")
    reply = await admin_stub.GetOrderRouting(
        admin_pb2.GetOrderRoutingRequest(order_id="4242"), metadata=bearer(token), timeout=10
    )

    assert known.status_code == 200, known.text
    assert known.json() == {
        "orderId": "4242",
        "accountId": "7",
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": "3.00",
        "book": "C",
        "routingReason": "EXPOSURE_LIMIT_HEDGE",
        "level": "EXPOSURE_LIMIT",
        "ruleId": 12,
        "configVersion": 9,
        "aVolume": "1.00",
        "bVolume": "2.00",
        "hedgeRatio": "0",
        "status": "FILLED",
        "rejectReason": None,
        "decidedAt": "2026-01-02T03:04:05Z",
        "legs": [
            {"book": "A", "venue": "LP1", "volume": "1.00", "price": "1.08461"},
            {"book": "B", "venue": "BBOOK", "volume": "2.00", "price": "1.08460"},
        ],
        "inputs": {"house_net_lots": "-49.00", "toxicity": None},
        "steps": [
            {"level": "RULE", "outcome": "B", "detail": "rule 12"},
            {"level": "EXPOSURE_LIMIT", "outcome": "C 1.00/2.00", "detail": None},
        ],
    }
    assert (unknown.status_code, unknown.json()["code"]) == (404, "ORDER_NOT_ROUTED")
    # gRPC hands router's answer on whole.
    routing = reply.routing
    assert (routing.order_id, routing.level, routing.config_version) == (
        "4242",
        "EXPOSURE_LIMIT",
        9,
    )
    assert [(leg.venue, leg.price) for leg in routing.legs] == [
        ("LP1", "1.08461"),
        ("BBOOK", "1.08460"),
    ]
    assert routing.decide_time.seconds == 1_767_323_045


async def test_lp_board_when_read_then_quotes_statistics_per_lp_and_symbol(admin, admin_stub):
    token = await admin.login("risky")
    async with admin.http(token) as http:
        board = await http.get("/admin/lps/statistics")
        one = await http.get("/admin/lps/statistics", params={"lpId": "LP2", "symbol": "eurusd"})
    reply = await admin_stub.GetLpBoard(
        admin_pb2.GetLpBoardRequest(lp_id="LP1"), metadata=bearer(token), timeout=10
    )

    assert board.status_code == 200, board.text
    feeds = board.json()["feeds"]
    assert feeds[0] == {
        "lpId": "LP1",
        "symbol": "EURUSD",
        "ticksLastMinute": 600,
        "ticksTotal": 12000,
        "droppedByReason": {"crossed": 1},
        "droppedTotal": 1,
        "latencyP50Ms": 3,
        "latencyP99Ms": 12,
        "lastTickAt": "2026-01-02T03:04:05Z",
        "streamingSince": "2026-01-02T03:04:05Z",
    }
    # A silent LP: no latency in the window, no streaming run.
    assert (feeds[1]["latencyP50Ms"], feeds[1]["streamingSince"]) == (None, None)
    assert [f["lpId"] for f in one.json()["feeds"]] == ["LP2"]
    [lp1] = reply.feeds
    assert (lp1.lp, lp1.latency_p99_ms, dict(lp1.dropped_by_reason)) == ("LP1", 12, {"crossed": 1})
    assert lp1.HasField("latency_p50_ms")
