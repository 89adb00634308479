"""Account lists and statement, risk tools and the OpenAPI document, against the fake oms."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from edge.routes import account
from fxmesh.v1 import oms_pb2


async def test_orders_when_no_query_then_open_view_of_token_account(edge, alice_token):
    async with edge.client(alice_token) as http:
        placed = await http.post(
            "/api/orders/limit",
            json={
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "0.10",
                "price": "1.07000",
                "clientOrderId": uuid.uuid4().hex,
            },
        )
        response = await http.get("/api/account/orders")

    assert response.status_code == 200, response.text
    sent = edge.oms.last("ListOrders")
    assert sent.account_id == "1001"
    assert sent.view == oms_pb2.ORDER_LIST_VIEW_OPEN
    assert not sent.HasField("from_time")
    assert not sent.HasField("to_time")
    assert (sent.page_size, sent.page_token) == (0, "")
    orders = response.json()["orders"]
    assert placed.json()["order"]["orderId"] in [o["orderId"] for o in orders]
    assert {o["accountId"] for o in orders} == {"1001"}
    assert {o["status"] for o in orders} == {"WORKING"}


async def test_orders_when_history_range_and_paging_then_oms_gets_them_and_token_returned(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        await http.post(
            "/api/orders/market",
            json={"symbol": "EURUSD", "side": "BUY", "volume": "0.10", "clientOrderId": "h-1"},
        )
        await http.post(
            "/api/orders/market",
            json={"symbol": "EURUSD", "side": "BUY", "volume": "0.10", "clientOrderId": "h-2"},
        )
        first = await http.get(
            "/api/account/orders",
            params={
                "view": "history",
                "from": "2026-01-01T00:00:00Z",
                "to": "2026-02-01T01:00:00+01:00",
                "pageSize": "1",
            },
        )
        first_request = edge.oms.last("ListOrders")
        second = await http.get(
            "/api/account/orders",
            params={"view": "history", "pageSize": 1, "pageToken": first.json()["nextPageToken"]},
        )

    assert first.status_code == 200, first.text
    assert first_request.view == oms_pb2.ORDER_LIST_VIEW_HISTORY
    assert first_request.from_time.ToJsonString() == "2026-01-01T00:00:00Z"
    assert first_request.to_time.ToJsonString() == "2026-02-01T00:00:00Z"
    assert first_request.page_size == 1
    assert len(first.json()["orders"]) == 1
    assert first.json()["nextPageToken"] == "1"
    assert edge.oms.last("ListOrders").page_token == "1"
    assert second.json()["orders"][0]["orderId"] != first.json()["orders"][0]["orderId"]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "yesterday"}, "INVALID_TIMESTAMP"),
        ({"from": "2026-01-01T10:00:00"}, "INVALID_TIMESTAMP"),  # no offset: ambiguous
        ({"to": "2026-13-01"}, "INVALID_TIMESTAMP"),
        ({"from": "2026-02-01", "to": "2026-01-01"}, "INVALID_TIME_RANGE"),
        ({"view": "all"}, "VALIDATION_ERROR"),
        ({"pageSize": "0"}, "VALIDATION_ERROR"),
        ({"pageSize": "1001"}, "VALIDATION_ERROR"),
    ],
)
async def test_orders_when_query_malformed_then_422_with_code(edge, alice_token, params, code):
    before = len(edge.oms.requests["ListOrders"])
    async with edge.client(alice_token) as http:
        response = await http.get("/api/account/orders", params=params)

    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert len(edge.oms.requests["ListOrders"]) == before


async def test_trades_when_range_given_then_deals_page_in_client_json(edge, bob_token):
    async with edge.client(bob_token) as http:
        response = await http.get(
            "/api/account/trades", params={"from": "2026-01-01", "pageSize": 50}
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("ListDeals")
    assert sent.account_id == "1002"
    assert sent.from_time.ToJsonString() == "2026-01-01T00:00:00Z"
    assert not sent.HasField("to_time")
    assert sent.page_size == 50
    body = response.json()
    assert body["nextPageToken"] == "p2"
    deal = body["deals"][0]
    assert deal["accountId"] == "1002"
    assert (deal["entry"], deal["reason"], deal["book"]) == ("OUT", "TAKE_PROFIT", "B")
    assert (deal["price"], deal["commission"], deal["realizedPnl"]) == ("1.08500", "-0.35", "4.80")
    assert deal["dealTime"] == "2026-01-02T03:04:05Z"


async def test_ledger_when_last_page_then_next_page_token_null(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.get("/api/account/ledger", params={"pageToken": "abc"})

    assert response.status_code == 200
    sent = edge.oms.last("ListLedger")
    assert (sent.account_id, sent.page_token) == ("1001", "abc")
    body = response.json()
    assert body["nextPageToken"] is None
    entry = body["entries"][0]
    assert entry["type"] == "DEPOSIT"
    assert (entry["amount"], entry["balanceBefore"], entry["balanceAfter"]) == (
        "10000.00",
        "0.00",
        "10000.00",
    )


async def test_statement_when_no_range_then_current_utc_month(edge, alice_token, monkeypatch):
    monkeypatch.setattr(account, "clock", lambda: datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    async with edge.client(alice_token) as http:
        response = await http.get("/api/account/statement")

    assert response.status_code == 200, response.text
    sent = edge.oms.last("GetStatement")
    assert sent.account_id == "1001"
    assert sent.from_time.ToJsonString() == "2026-12-01T00:00:00Z"
    assert sent.to_time.ToJsonString() == "2027-01-01T00:00:00Z"
    body = response.json()
    assert (body["fromTime"], body["toTime"]) == ("2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z")
    assert (body["openingBalance"], body["closingBalance"]) == ("10000.00", "10004.10")
    assert body["totals"] == [
        {"type": "REALIZED_PNL", "amount": "4.80", "count": 1},
        {"type": "COMMISSION", "amount": "-0.70", "count": 1},
    ]
    assert body["account"]["marginMode"] == "HEDGING"
    assert body["summary"]["freeMargin"] == "9904.05"
    assert body["openPositions"] == []


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({"from": "2026-02-10"}, "2026-02-10T00:00:00Z", "2026-03-01T00:00:00Z"),
        ({"to": "2026-03-01T00:00:00Z"}, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        (
            {"from": "2025-07-01T00:00:00Z", "to": "2025-10-01T00:00:00Z"},
            "2025-07-01T00:00:00Z",
            "2025-10-01T00:00:00Z",
        ),
    ],
)
async def test_statement_when_range_partly_given_then_month_defaults(
    edge, alice_token, params, start, end
):
    async with edge.client(alice_token) as http:
        response = await http.get("/api/account/statement", params=params)

    assert response.status_code == 200
    sent = edge.oms.last("GetStatement")
    assert (sent.from_time.ToJsonString(), sent.to_time.ToJsonString()) == (start, end)


async def test_statement_when_to_before_from_then_422_invalid_time_range(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.get(
            "/api/account/statement", params={"from": "2026-03-01", "to": "2026-03-01"}
        )

    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_TIME_RANGE"


async def test_calculate_lot_when_risk_amount_and_stop_points_then_volume(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/risk/calculate-lot",
            json={"symbol": "EURUSD", "side": "BUY", "riskAmount": "100.00", "stopLossPoints": 400},
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("CalculateLot")
    assert (sent.account_id, sent.symbol, sent.side) == ("1001", "EURUSD", 1)
    assert (sent.risk_amount, sent.risk_percent) == ("100.00", "")
    assert (sent.stop_loss_points, sent.stop_loss, sent.entry_price) == (400, "", "")
    assert response.json() == {
        "volume": "0.25",
        "riskAmount": "99.50",
        "margin": "271.18",
        "entryPrice": "1.08470",
        "stopLoss": "1.08070",
    }


async def test_calculate_lot_when_percent_and_stop_price_then_sent_verbatim(edge, bob_token):
    async with edge.client(bob_token) as http:
        response = await http.post(
            "/api/risk/calculate-lot",
            json={
                "symbol": "XAUUSD",
                "side": "SELL",
                "riskPercent": "1.5",
                "stopLoss": "2400.10",
                "entryPrice": "2390.00",
            },
        )

    assert response.status_code == 200
    sent = edge.oms.last("CalculateLot")
    assert sent.account_id == "1002"
    assert (sent.risk_percent, sent.stop_loss, sent.entry_price) == ("1.5", "2400.10", "2390.00")
    assert sent.stop_loss_points == 0


@pytest.mark.parametrize(
    "body",
    [
        {"riskAmount": "100", "riskPercent": "1", "stopLossPoints": 10},
        {"stopLossPoints": 10},
        {"riskAmount": "100", "stopLossPoints": 10, "stopLoss": "1.07"},
        {"riskAmount": "100"},
    ],
)
async def test_calculate_lot_when_not_exactly_one_of_each_then_422(edge, alice_token, body):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/risk/calculate-lot", json={"symbol": "EURUSD", "side": "BUY", **body}
        )

    assert response.status_code == 422
    assert response.json()["code"] == "EXACTLY_ONE_OF"


async def test_calculate_lot_when_oms_does_not_know_symbol_then_400_unknown_symbol(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/risk/calculate-lot",
            json={"symbol": "NOPE", "side": "BUY", "riskPercent": "1", "stopLossPoints": 100},
        )

    assert response.status_code == 400
    assert response.json()["code"] == "UNKNOWN_SYMBOL"


async def test_margin_preview_when_order_described_then_margin_figures(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/risk/margin-preview",
            json={"symbol": "EURUSD", "side": "BUY", "volume": "0.10"},
        )
        bad = await http.post(
            "/api/risk/margin-preview",
            json={"symbol": "EURUSD", "side": "BUY", "volume": 0.1},
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("PreviewMargin")
    assert (sent.account_id, sent.volume, sent.price) == ("1001", "0.10", "")
    assert response.json() == {
        "margin": "108.47",
        "commission": "0.70",
        "freeMarginBefore": "9904.05",
        "freeMarginAfter": "9794.88",
        "marginLevelAfter": "4583.21",
        "sufficient": True,
        "currency": "USD",
    }
    assert bad.status_code == 422
    assert bad.json()["code"] == "DECIMAL_MUST_BE_STRING"


async def test_openapi_when_rendered_then_every_client_route_has_summary_and_typed_models(edge):
    async with edge.client() as http:
        response = await http.get("/api/openapi.json")

    assert response.status_code == 200
    doc = response.json()
    operations = [
        (path, method, op)
        for path, ops in doc["paths"].items()
        if path.startswith("/api/")
        for method, op in ops.items()
    ]
    assert len(operations) == 31  # + GET /api/symbols, /api/symbols/{symbol}
    schemas = doc["components"]["schemas"]
    for path, method, op in operations:
        if "204" in op["responses"]:  # logout: no body either way
            assert op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"]
            continue
        assert op.get("summary"), (method, path)
        ok = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        assert ok.split("/")[-1] in schemas, (method, path)
        assert op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorBody"
        )
        if method in ("post", "put"):
            body = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert body.split("/")[-1] in schemas, (method, path)
    assert schemas["Order"]["properties"]["status"]["anyOf"][0]["enum"][0] == "PENDING"
    assert schemas["PendingOrderRequest"]["additionalProperties"] is False
