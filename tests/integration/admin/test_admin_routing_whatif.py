"""POST /admin/routing/what-if and AdminService.RunRoutingWhatIf: router's WhatIf for risk managers,
audited with the period and the summary (the router is the stand-in: its own replay is tested in
tests/integration/router/test_router_whatif.py)."""

from __future__ import annotations

import json

import grpc
from conftest import bearer
from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.v1 import admin_routing_pb2, router_whatif_pb2

PERIOD = {"startTime": "2026-01-01T00:00:00Z", "endTime": "2026-01-02T00:00:00Z"}


async def _rows(admin, actor: str) -> list[dict[str, object]]:
    rows = await admin.pool.fetch(
        "SELECT outcome, error_code, before, after FROM admin.audit_log "
        "WHERE action = 'routing.what_if' AND actor = $1 ORDER BY audit_id",
        actor,
    )
    return [
        {
            "outcome": r["outcome"],
            "error": r["error_code"],
            "before": json.loads(r["before"]) if isinstance(r["before"], str) else r["before"],
            "after": json.loads(r["after"]) if isinstance(r["after"], str) else r["after"],
        }
        for r in rows
    ]


async def test_what_if_when_risk_manager_asks_then_report_and_audit_row(admin, admin_stub):
    token = await admin.login("risky")
    actor = (await admin.service.authenticate(token)).username
    before = len(await _rows(admin, actor))
    body = {
        **PERIOD,
        "config": {
            "routingRules": {
                "rows": [{"priority": 1, "book": "BOOK_A", "reason": "ALL_A", "enabled": True}]
            }
        },
    }

    async with admin.http(token) as http:
        response = await http.post("/admin/routing/what-if", json=body)
    reply = await admin_stub.RunRoutingWhatIf(
        admin_routing_pb2.RunRoutingWhatIfRequest(
            what_if=router_whatif_pb2.WhatIfRequest(
                start_time=Timestamp(seconds=1_767_225_600),
                end_time=Timestamp(seconds=1_767_312_000),
            )
        ),
        metadata=bearer(token),
        timeout=10,
    )

    assert response.status_code == 200, response.text
    doc = response.json()
    assert (doc["orders"], doc["changedCount"], doc["baseConfigVersion"]) == (3, 1, "9")
    assert doc["changedOrders"][0]["proposedBook"] == "BOOK_A"
    assert doc["recorded"]["venueMix"][0] == {
        "book": "BOOK_B",
        "orders": 3,
        "aVolume": "0",
        "bVolume": "3.00",
    }
    assert (reply.result.orders, reply.result.changed_count) == (3, 0)
    rows = (await _rows(admin, actor))[before:]
    assert [(r["outcome"], r["error"]) for r in rows] == [("ALLOWED", ""), ("ALLOWED", "")]
    assert rows[0]["before"]["tables"] == ["routingRules"]
    assert rows[0]["after"]["changedCount"] == 1
    assert rows[1]["after"]["orders"] == 3


async def test_what_if_when_body_or_period_is_bad_then_400_and_failed_audit_row(admin, admin_stub):
    token = await admin.login("risky")
    actor = (await admin.service.authenticate(token)).username
    before = len(await _rows(admin, actor))

    async with admin.http(token) as http:
        unknown_field = await http.post("/admin/routing/what-if", json={**PERIOD, "nope": 1})
        backwards = await http.post(
            "/admin/routing/what-if",
            json={"startTime": PERIOD["endTime"], "endTime": PERIOD["startTime"]},
        )
    try:
        await admin_stub.RunRoutingWhatIf(
            admin_routing_pb2.RunRoutingWhatIfRequest(), metadata=bearer(token), timeout=10
        )
        code = grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        code = exc.code()

    assert (unknown_field.status_code, unknown_field.json()["code"]) == (400, "WHATIF_INVALID")
    assert (backwards.status_code, backwards.json()["code"]) == (400, "INVALID_TIME_RANGE")
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    rows = (await _rows(admin, actor))[before:]
    assert [(r["outcome"], r["error"]) for r in rows] == [
        ("FAILED", "WHATIF_INVALID"),
        ("FAILED", "INVALID_TIME_RANGE"),
        ("FAILED", "INVALID_TIME_RANGE"),
    ]
