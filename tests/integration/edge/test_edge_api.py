"""REST scenarios of edge against an in-test oms."""

from __future__ import annotations

from typing import Any

from fxmesh.auth import issue_token
from fxmesh.v1 import types_pb2

MARKET = "/api/orders/market"


def market_order(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": "0.10",
        "clientOrderId": "c-1",
    }
    body.update(overrides)
    return body


async def test_login_when_credentials_valid_then_returns_bearer_token_for_the_account(edge):
    async with edge.client() as http:
        response = await http.post("/api/login", json={"login": "alice", "password": "alice-pw"})

    assert response.status_code == 200
    body = response.json()
    assert body["tokenType"] == "Bearer"
    assert body["accountId"] == "1001"
    assert body["expiresAt"].endswith("Z")
    assert body["accessToken"].count(".") == 2


async def test_login_when_password_wrong_then_401_with_oms_reason(edge):
    async with edge.client() as http:
        response = await http.post("/api/login", json={"login": "alice", "password": "nope"})

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"


async def test_orders_when_no_token_then_401_unauthenticated(edge):
    async with edge.client() as http:
        response = await http.post(MARKET, json=market_order())

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_orders_when_token_tampered_or_admin_then_401_unauthenticated(edge, alice_token):
    from datetime import timedelta

    admin_token, _ = issue_token(
        edge.settings.jwt_secret,
        subject="admin",
        token_type="admin",
        ttl=timedelta(minutes=5),
        role="SUPER_ADMIN",
    )
    tampered = alice_token[:-4] + ("AAAA" if not alice_token.endswith("AAAA") else "BBBB")
    for token in (admin_token, tampered, "garbage"):
        async with edge.client(token) as http:
            response = await http.get("/api/account/summary")
        assert response.status_code == 401, token
        assert response.json()["code"] == "UNAUTHENTICATED"


async def test_place_market_order_when_authenticated_then_oms_gets_the_token_account(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        response = await http.post(
            MARKET,
            json=market_order(clientOrderId="c-own", requestedPrice="1.08450", deviationPoints=5),
        )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order"]["status"] == "FILLED"
    assert body["order"]["side"] == "BUY"
    assert body["order"]["type"] == "MARKET"
    assert body["order"]["book"] == "B"
    assert body["order"]["accountId"] == "1001"
    assert body["order"]["volume"] == "0.10"
    assert body["order"]["rejectReason"] is None
    assert body["fills"][0]["price"] == "1.08452"
    assert body["positions"][0]["openPrice"] == "1.08452"
    assert body["replayed"] is False
    sent = edge.oms.placed[-1]
    assert sent.account_id == "1001"
    assert sent.client_order_id == "c-own"
    assert sent.type == types_pb2.ORDER_TYPE_MARKET
    assert sent.requested_price == "1.08450"
    assert sent.deviation_points == 5


async def test_place_market_order_when_body_names_another_account_then_422_and_nothing_sent(
    edge, alice_token
):
    before = len(edge.oms.placed)
    async with edge.client(alice_token) as http:
        response = await http.post(MARKET, json=market_order(accountId="1002"))

    assert response.status_code == 422
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert len(edge.oms.placed) == before


async def test_place_market_order_when_oms_rejects_then_200_with_status_rejected(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(MARKET, json=market_order(volume="99", clientOrderId="c-rej"))

    assert response.status_code == 200
    order = response.json()["order"]
    assert order["status"] == "REJECTED"
    assert order["rejectReason"] == "NOT_ENOUGH_MONEY"
    assert response.json()["fills"] == []


async def test_place_market_order_when_oms_invalid_argument_then_400_with_its_reason(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        response = await http.post(MARKET, json=market_order(symbol="NOPE"))

    assert response.status_code == 400
    assert response.json() == {
        "code": "UNKNOWN_SYMBOL",
        "message": "unknown symbol NOPE",
        "details": {"symbol": "NOPE"},
    }


async def test_place_market_order_when_volume_is_a_json_number_then_422_decimal_must_be_string(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        response = await http.post(MARKET, json=market_order(volume=0.1))

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "DECIMAL_MUST_BE_STRING"
    assert body["details"]["errors"][0]["field"] == "volume"


async def test_place_market_order_when_volume_not_a_decimal_then_400_invalid_decimal(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        response = await http.post(MARKET, json=market_order(volume="0.1x"))

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DECIMAL"


async def test_get_order_when_it_belongs_to_another_account_then_404(edge, alice_token, bob_token):
    async with edge.client(alice_token) as http:
        placed = await http.post(MARKET, json=market_order(clientOrderId="c-get"))
    order_id = placed.json()["order"]["orderId"]

    async with edge.client(alice_token) as http:
        own = await http.get(f"/api/orders/{order_id}")
    async with edge.client(bob_token) as http:
        other = await http.get(f"/api/orders/{order_id}")

    assert own.status_code == 200
    assert own.json()["order"]["orderId"] == order_id
    assert other.status_code == 404
    assert other.json()["code"] == "ORDER_NOT_FOUND"


async def test_account_summary_and_positions_when_authenticated_then_decimal_strings(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        summary = await http.get("/api/account/summary")
        positions = await http.get("/api/account/positions")

    assert summary.status_code == 200
    assert summary.json()["accountId"] == "1001"
    assert summary.json()["freeMargin"] == "9904.05"
    assert summary.json()["marginMode"] == "HEDGING"
    assert positions.json()["positions"][0]["volume"] == "0.10"


async def test_request_when_traced_then_oms_call_carries_the_x_trace_id(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(MARKET, json=market_order(clientOrderId="c-trace"))

    trace_id = response.headers["x-trace-id"]
    assert len(trace_id) == 32
    assert edge.oms.traceparents[-1].split("-")[1] == trace_id


async def test_metrics_and_probes_when_running_then_exposed(edge, alice_token):
    async with edge.client(alice_token) as http:
        await http.get("/api/account/summary")
        metrics = await http.get("/metrics")
        live = await http.get("/healthz")
        ready = await http.get("/readyz")

    assert live.status_code == 200
    assert ready.json()["checks"] == {"oms": True, "redis": True, "amqp": True, "ticks": True}
    assert (
        'fxmesh_edge_http_requests_total{route="/api/account/summary",status="200"}' in metrics.text
    )
    assert "fxmesh_edge_ws_connections" in metrics.text


async def test_unknown_route_when_requested_then_404_in_the_error_shape(edge):
    async with edge.client() as http:
        response = await http.get("/api/nothing-here")

    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
