"""Order routes against the fake oms: what oms receives and what the client gets back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from edge_fake_oms import WRONG_SIDE_SL

from fxmesh.v1 import types_pb2


def cid() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


def pending(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "symbol": "EURUSD",
        "side": "BUY",
        "volume": "0.10",
        "price": "1.08000",
        "clientOrderId": cid(),
    }
    body.update(overrides)
    return body


async def place(http: Any, kind: str, **overrides: Any) -> dict[str, Any]:
    response = await http.post(f"/api/orders/{kind}", json=pending(**overrides))
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()["order"]
    return order


async def test_market_order_when_sl_tp_and_fok_then_oms_gets_them_exactly(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/orders/market",
            json={
                "symbol": "EURUSD",
                "side": "SELL",
                "volume": "0.10",
                "clientOrderId": cid(),
                "stopLoss": "1.09000",
                "takeProfit": "1.07500",
                "timeInForce": "FOK",
            },
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("PlaceOrder")
    assert (sent.stop_loss, sent.take_profit) == ("1.09000", "1.07500")
    assert sent.time_in_force == types_pb2.TIME_IN_FORCE_FOK
    assert sent.side == types_pb2.SIDE_SELL
    position = response.json()["positions"][0]
    assert (position["stopLoss"], position["takeProfit"]) == ("1.09000", "1.07500")


async def test_market_order_when_sl_is_zero_then_sent_as_no_stop_loss(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/orders/market",
            json={
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "0.10",
                "clientOrderId": cid(),
                "stopLoss": "0",
            },
        )

    assert response.status_code == 200
    sent = edge.oms.last("PlaceOrder")
    assert sent.stop_loss == ""
    assert sent.time_in_force == types_pb2.TIME_IN_FORCE_UNSPECIFIED


async def test_market_order_when_time_in_force_gtc_then_422(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/orders/market",
            json={
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "0.10",
                "clientOrderId": cid(),
                "timeInForce": "GTC",
            },
        )

    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "timeInForce"


@pytest.mark.parametrize(
    ("kind", "order_type"),
    [("limit", types_pb2.ORDER_TYPE_LIMIT), ("stop", types_pb2.ORDER_TYPE_STOP)],
)
async def test_pending_order_when_placed_then_working_with_exact_decimals(
    edge, alice_token, kind, order_type
):
    key = cid()
    async with edge.client(alice_token) as http:
        order = await place(
            http,
            kind,
            clientOrderId=key,
            price="1.0800",
            stopLoss="1.07500",
            takeProfit="1.09000",
            volume="1.50",
        )

    sent = edge.oms.last("PlaceOrder")
    assert sent.account_id == "1001"
    assert sent.client_order_id == key
    assert sent.type == order_type
    assert sent.price == "1.0800"  # verbatim: no float, no re-quantizing
    assert sent.volume == "1.50"
    assert (sent.stop_loss, sent.take_profit) == ("1.07500", "1.09000")
    assert sent.time_in_force == types_pb2.TIME_IN_FORCE_GTC
    assert not sent.HasField("expire_time")
    assert order["status"] == "WORKING"
    assert order["type"] == kind.upper()
    assert order["price"] == "1.0800"
    assert order["timeInForce"] == "GTC"
    assert order["expireTime"] is None
    assert order["origin"] == "CLIENT"


async def test_stop_limit_order_when_gtd_then_expiry_and_stop_limit_price_reach_oms(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        order = await place(
            http,
            "stop-limit",
            side="SELL",
            price="1.07900",
            stopLimitPrice="1.07850",
            timeInForce="GTD",
            expireTime="2026-03-02T12:30:00+02:00",
        )

    sent = edge.oms.last("PlaceOrder")
    assert sent.type == types_pb2.ORDER_TYPE_STOP_LIMIT
    assert (sent.price, sent.stop_limit_price) == ("1.07900", "1.07850")
    assert sent.time_in_force == types_pb2.TIME_IN_FORCE_GTD
    assert sent.expire_time.ToJsonString() == "2026-03-02T10:30:00Z"
    assert order["expireTime"] == "2026-03-02T10:30:00Z"
    assert order["stopLimitPrice"] == "1.07850"
    assert order["stopLimitActive"] is False


async def test_stop_limit_order_when_stop_limit_price_missing_then_422(edge, alice_token):
    before = len(edge.oms.placed)
    async with edge.client(alice_token) as http:
        response = await http.post("/api/orders/stop-limit", json=pending())

    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "stopLimitPrice"
    assert len(edge.oms.placed) == before


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"timeInForce": "GTD"}, "EXPIRE_TIME_REQUIRED"),
        ({"expireTime": "2026-03-02T10:00:00Z"}, "EXPIRE_TIME_NOT_ALLOWED"),
        ({"timeInForce": "GTD", "expireTime": "2026-03-02T10:00:00"}, "INVALID_TIMESTAMP"),
        ({"timeInForce": "GTD", "expireTime": "next tuesday"}, "INVALID_TIMESTAMP"),
        ({"timeInForce": "GTD", "expireTime": 1772445600}, "INVALID_TIMESTAMP"),
        ({"price": 1.08}, "DECIMAL_MUST_BE_STRING"),
        ({"timeInForce": "IOC"}, "VALIDATION_ERROR"),
    ],
)
async def test_pending_order_when_input_malformed_then_422_with_its_code_and_nothing_sent(
    edge, alice_token, overrides, code
):
    before = len(edge.oms.placed)
    async with edge.client(alice_token) as http:
        response = await http.post("/api/orders/limit", json=pending(**overrides))

    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert len(edge.oms.placed) == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"price": "-1"}, "price"), ({"price": "abc"}, "price"), ({"stopLoss": "-0.5"}, "stopLoss")],
)
async def test_pending_order_when_decimal_not_a_positive_number_then_400_invalid_decimal(
    edge, alice_token, overrides, field
):
    async with edge.client(alice_token) as http:
        response = await http.post("/api/orders/limit", json=pending(**overrides))

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_DECIMAL"
    assert response.json()["details"] == {"field": field}


async def test_pending_order_when_oms_rejects_then_200_with_the_rejected_order(edge, alice_token):
    async with edge.client(alice_token) as http:
        order = await place(http, "limit", volume="99")

    assert order["status"] == "REJECTED"
    assert order["rejectReason"] == "NOT_ENOUGH_MONEY"


async def test_modify_order_when_fields_given_then_oms_gets_them_and_omitted_ones_empty(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        order = await place(http, "limit", stopLoss="1.07000", takeProfit="1.09000")
        response = await http.put(
            f"/api/orders/{order['orderId']}/modify",
            json={"price": "1.07950", "stopLoss": "0", "expireTime": "2026-04-01"},
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("ModifyOrder")
    assert sent.account_id == "1001"
    assert sent.order_id == order["orderId"]
    assert sent.price == "1.07950"
    assert sent.stop_loss == "0"  # "0" removes
    assert sent.take_profit == ""  # omitted keeps
    assert sent.stop_limit_price == ""
    assert sent.expire_time.ToJsonString() == "2026-04-01T00:00:00Z"
    modified = response.json()["order"]
    assert modified["price"] == "1.07950"
    assert modified["stopLoss"] is None
    assert modified["takeProfit"] == "1.09000"


async def test_modify_order_when_nothing_given_then_422_nothing_to_modify(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.put("/api/orders/5001/modify", json={})

    assert response.status_code == 422
    assert response.json()["code"] == "NOTHING_TO_MODIFY"


async def test_modify_order_when_oms_refuses_stops_then_400_with_its_reason(edge, alice_token):
    async with edge.client(alice_token) as http:
        order = await place(http, "limit")
        response = await http.put(
            f"/api/orders/{order['orderId']}/modify", json={"stopLoss": WRONG_SIDE_SL}
        )

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_STOPS"
    assert response.json()["details"] == {"field": "sl"}


async def test_cancel_order_when_working_then_cancelled_and_second_cancel_is_409(edge, alice_token):
    async with edge.client(alice_token) as http:
        order = await place(http, "stop", price="1.09000")
        first = await http.delete(f"/api/orders/{order['orderId']}")
        second = await http.delete(f"/api/orders/{order['orderId']}")

    assert first.status_code == 200
    assert first.json()["order"]["status"] == "CANCELLED"
    sent = edge.oms.last("CancelOrder")
    assert (sent.account_id, sent.order_id) == ("1001", order["orderId"])
    assert second.status_code == 409
    assert second.json()["code"] == "ORDER_NOT_WORKING"


async def test_order_of_another_account_when_modified_or_cancelled_then_404_and_untouched(
    edge, alice_token, bob_token
):
    async with edge.client(alice_token) as http:
        order = await place(http, "limit", price="1.07000")
    async with edge.client(bob_token) as http:
        modified = await http.put(
            f"/api/orders/{order['orderId']}/modify", json={"price": "1.01000"}
        )
        modify_request = edge.oms.last("ModifyOrder")
        cancelled = await http.delete(f"/api/orders/{order['orderId']}")
        cancel_request = edge.oms.last("CancelOrder")
        read = await http.get(f"/api/orders/{order['orderId']}")
    async with edge.client(alice_token) as http:
        still = (await http.get(f"/api/orders/{order['orderId']}")).json()["order"]

    for response in (modified, cancelled, read):
        assert response.status_code == 404
        assert response.json()["code"] == "ORDER_NOT_FOUND"
    # edge asked for bob's account, so oms could not find alice's order there.
    assert modify_request.account_id == "1002"
    assert cancel_request.account_id == "1002"
    assert (still["status"], still["price"]) == ("WORKING", "1.07000")


@pytest.mark.parametrize("order_id", ["abc", "12a", "-5", "1.5", "1234567890123456789", "٣"])
async def test_order_routes_when_id_not_digits_then_422_invalid_order_id(
    edge, alice_token, order_id
):
    async with edge.client(alice_token) as http:
        read = await http.get(f"/api/orders/{order_id}")
        cancel = await http.delete(f"/api/orders/{order_id}")
        modify = await http.put(f"/api/orders/{order_id}/modify", json={"price": "1.1"})

    for response in (read, cancel, modify):
        assert response.status_code == 422
        assert response.json()["code"] == "INVALID_ORDER_ID"
        assert response.json()["details"]["errors"][0]["field"] == "order_id"
