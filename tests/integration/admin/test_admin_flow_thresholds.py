"""Flow and volatility thresholds (routing levels 3a to 3c) on the routing-thresholds page, REST
and gRPC, against real admin and router's configuration code on the test database: set, listed,
replaced, removed, audited with before / after, bad bounds answered with codes and nothing
written. Every test uses client groups and symbols of its own and removes its rows."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from conftest import bearer

from admin.domain import Role
from fxmesh.v1 import admin_execution_pb2, router_pb2, types_pb2


def sym() -> str:
    return "TF" + uuid.uuid4().hex[:6].upper()


def grp() -> str:
    return f"fg-{uuid.uuid4().hex[:8]}"


async def risk(admin: Any) -> Any:
    return admin.http(await admin.token_of(Role.RISK_MANAGER))


async def test_flow_and_volatility_thresholds_when_put_then_listed_audited_and_removable(
    admin: Any,
) -> None:
    s, group = sym(), grp()
    async with await risk(admin) as http:
        put = await http.put(
            "/admin/routing-thresholds",
            json={
                "flowThresholds": [
                    {
                        "clientGroup": group,
                        "minClosedDeals": 20,
                        "winRateMin": "0.65",
                        "toxicityMinBps": "2.5",
                    }
                ],
                "volatilityThresholds": [
                    {"symbol": s, "maxBps": "9", "mode": "C", "hedgeRatio": "0.5"}
                ],
            },
        )
        got = (await http.get("/admin/routing-thresholds")).json()
        replaced = await http.put(
            "/admin/routing-thresholds",
            json={"flowThresholds": [{"clientGroup": group, "netProfitMin": "5000"}]},
        )
        removed = await http.put(
            "/admin/routing-thresholds",
            json={
                "flowThresholds": [{"clientGroup": group, "remove": True}],
                "volatilityThresholds": [{"symbol": s, "remove": True}],
            },
        )
        again = await http.put(
            "/admin/routing-thresholds",
            json={"volatilityThresholds": [{"symbol": s, "remove": True}]},
        )

    assert put.status_code == 200, put.text
    assert {
        "clientGroup": group,
        "minClosedDeals": 20,
        "netProfitMin": None,
        "winRateMin": "0.65",
        "minMarkoutFills": 1,
        "toxicityMinBps": "2.5",
        "latencyArbShareMin": None,
    } in got["flowThresholds"]
    assert {"symbol": s, "maxBps": "9", "mode": "C", "hedgeRatio": "0.5"} in got[
        "volatilityThresholds"
    ]
    assert got["configVersion"] == put.json()["configVersion"]
    # A row is replaced whole: bounds not given are no longer checked.
    [flow] = [f for f in replaced.json()["flowThresholds"] if f["clientGroup"] == group]
    assert (flow["netProfitMin"], flow["winRateMin"], flow["minClosedDeals"]) == ("5000", None, 1)
    assert removed.status_code == 200, removed.text
    assert not [f for f in removed.json()["flowThresholds"] if f["clientGroup"] == group]
    assert not [v for v in removed.json()["volatilityThresholds"] if v["symbol"] == s]
    assert (again.status_code, again.json()["code"]) == (404, "THRESHOLD_NOT_FOUND")
    rows = await admin.audit_rows("routing.thresholds_set", "risky")
    replaced_row = next(
        r
        for r in rows
        if r["outcome"] == "ALLOWED"
        and any(
            f["clientGroup"] == group and f["netProfitMin"] == "5000"
            for f in r["after"]["flowThresholds"]
        )
    )
    [before] = [f for f in replaced_row["before"]["flowThresholds"] if f["clientGroup"] == group]
    [after] = [f for f in replaced_row["after"]["flowThresholds"] if f["clientGroup"] == group]
    assert (before["winRateMin"], after["winRateMin"]) == ("0.65", None)
    assert (before["netProfitMin"], after["netProfitMin"]) == (None, "5000")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"flowThresholds": [{"clientGroup": "g", "winRateMin": "1.2"}]}, 400, "INVALID_THRESHOLD"),
        ({"flowThresholds": [{"latencyArbShareMin": "-0.5"}]}, 400, "INVALID_THRESHOLD"),
        ({"flowThresholds": [{"netProfitMin": "1e40"}]}, 400, "INVALID_THRESHOLD"),
        ({"flowThresholds": [{"minClosedDeals": -1}]}, 422, "VALIDATION_ERROR"),
        ({"volatilityThresholds": [{"symbol": "EURUSD"}]}, 400, "MISSING_FIELD"),
        ({"volatilityThresholds": [{"maxBps": "-3"}]}, 400, "INVALID_THRESHOLD"),
        ({"volatilityThresholds": [{"maxBps": "3", "mode": "Z"}]}, 400, "INVALID_BOOK"),
        (
            {"volatilityThresholds": [{"maxBps": "3", "mode": "A", "hedgeRatio": "0.3"}]},
            400,
            "INVALID_HEDGE_RATIO",
        ),
        ({"flowThresholds": [{"colour": "red"}]}, 422, "UNKNOWN_FIELD"),
    ],
)
async def test_flow_thresholds_when_input_is_bad_then_4xx_with_code_and_nothing_changes(
    admin: Any, body: dict[str, Any], status: int, code: str
) -> None:
    version = await admin.pool.fetchval("SELECT max(version) FROM router.config_versions")
    async with await risk(admin) as http:
        response = await http.put("/admin/routing-thresholds", json=body)

    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert await admin.pool.fetchval("SELECT max(version) FROM router.config_versions") == version
    row = await admin.last_audit("routing.thresholds_set")
    assert (row["outcome"], row["error_code"]) == ("FAILED", code)


async def test_grpc_flow_and_volatility_thresholds_when_updated_then_same_as_rest(
    admin: Any, admin_stub: Any
) -> None:
    s, group = sym(), grp()
    meta = bearer(await admin.token_of(Role.RISK_MANAGER))
    x = admin_execution_pb2

    updated = await admin_stub.UpdateRoutingThresholds(
        x.UpdateRoutingThresholdsRequest(
            flow_thresholds=[
                router_pb2.FlowThresholdConfig(
                    client_group=group, min_markout_fills=5, latency_arb_share_min="0.3"
                )
            ],
            volatility_thresholds=[
                router_pb2.VolatilityThresholdConfig(symbol=s, max_bps="4.5", book=types_pb2.BOOK_A)
            ],
            request_id=f"g-{uuid.uuid4().hex[:8]}",
        ),
        metadata=meta,
        timeout=10,
    )
    got = await admin_stub.GetRoutingThresholds(
        x.GetRoutingThresholdsRequest(), metadata=meta, timeout=10
    )
    removed = await admin_stub.UpdateRoutingThresholds(
        x.UpdateRoutingThresholdsRequest(
            remove_flow_thresholds=[router_pb2.RemoveFlowThreshold(client_group=group)],
            remove_volatility_thresholds=[router_pb2.RemoveVolatilityThreshold(symbol=s)],
        ),
        metadata=meta,
        timeout=10,
    )

    [flow] = [f for f in got.thresholds.flow_thresholds if f.client_group == group]
    assert (flow.min_markout_fills, flow.latency_arb_share_min, flow.win_rate_min) == (5, "0.3", "")
    [vol] = [v for v in got.thresholds.volatility_thresholds if v.symbol == s]
    assert (vol.max_bps, vol.book) == ("4.5", types_pb2.BOOK_A)
    assert got.thresholds.config_version == updated.thresholds.config_version
    assert not [f for f in removed.thresholds.flow_thresholds if f.client_group == group]
    assert not [v for v in removed.thresholds.volatility_thresholds if v.symbol == s]
