"""Position routes against the fake oms: close, partial close, close-all, close-by, modify."""

from __future__ import annotations

import uuid

import pytest
from edge_fake_oms import REQUOTE_PRICE


def cid() -> str:
    return f"c-{uuid.uuid4().hex[:12]}"


async def test_close_position_when_own_then_oms_closes_whole_position_for_the_token_account(
    edge, alice_token
):
    position_id = edge.oms.open_position("1001", volume="0.30")
    key = cid()
    async with edge.client(alice_token) as http:
        response = await http.post(
            f"/api/positions/{position_id}/close",
            json={"clientOrderId": key, "requestedPrice": "1.08500", "deviationPoints": 3},
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("ClosePosition")
    assert sent.account_id == "1001"
    assert sent.position_id == position_id
    assert sent.volume == ""  # the whole position
    assert sent.client_order_id == key
    assert (sent.requested_price, sent.deviation_points) == ("1.08500", 3)
    body = response.json()
    assert body["order"]["status"] == "FILLED"
    assert body["order"]["positionId"] == position_id
    assert body["deals"][0]["entry"] == "OUT"
    assert body["deals"][0]["reason"] == "CLIENT"
    assert body["deals"][0]["realizedPnl"] == "4.80"
    assert body["position"]["closeReason"] == "CLIENT"
    assert body["position"]["closeTime"] == "2026-01-02T03:04:05Z"
    assert body["replayed"] is False


async def test_close_position_when_price_moved_then_200_with_rejected_closing_order(
    edge, alice_token
):
    position_id = edge.oms.open_position("1001")
    async with edge.client(alice_token) as http:
        response = await http.post(
            f"/api/positions/{position_id}/close",
            json={"clientOrderId": cid(), "requestedPrice": REQUOTE_PRICE},
        )

    assert response.status_code == 200
    assert response.json()["order"]["status"] == "REJECTED"
    assert response.json()["order"]["rejectReason"] == "PRICE_CHANGED"
    assert response.json()["position"]["closeTime"] is None


async def test_close_position_when_client_order_id_missing_then_422(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post("/api/positions/5001/close", json={})

    assert response.status_code == 422
    assert response.json()["details"]["errors"][0]["field"] == "clientOrderId"


async def test_partial_close_when_volume_given_then_oms_gets_it_verbatim_and_rest_stays_open(
    edge, alice_token
):
    position_id = edge.oms.open_position("1001", volume="1.00")
    async with edge.client(alice_token) as http:
        response = await http.post(
            f"/api/positions/{position_id}/close-partial",
            json={"clientOrderId": cid(), "volume": "0.40"},
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("ClosePosition")
    assert (sent.account_id, sent.position_id, sent.volume) == ("1001", position_id, "0.40")
    assert response.json()["position"]["volume"] == "0.60"
    assert response.json()["position"]["closeTime"] is None


@pytest.mark.parametrize(
    ("volume", "status", "code"),
    [
        (None, 422, "VALIDATION_ERROR"),
        (0.4, 422, "DECIMAL_MUST_BE_STRING"),
        ("0", 400, "INVALID_DECIMAL"),
        ("lots", 400, "INVALID_DECIMAL"),
    ],
)
async def test_partial_close_when_volume_missing_or_bad_then_refused_before_oms(
    edge, alice_token, volume, status, code
):
    before = len(edge.oms.requests["ClosePosition"])
    body = {"clientOrderId": cid()} | ({} if volume is None else {"volume": volume})
    async with edge.client(alice_token) as http:
        response = await http.post("/api/positions/5001/close-partial", json=body)

    assert response.status_code == status
    assert response.json()["code"] == code
    assert len(edge.oms.requests["ClosePosition"]) == before


async def test_modify_position_when_partial_fields_then_omitted_keep_and_zero_removes(
    edge, alice_token
):
    position_id = edge.oms.open_position(
        "1001", stop_loss="1.08000", take_profit="1.09000", trailing_distance_points=200
    )
    async with edge.client(alice_token) as http:
        response = await http.put(
            f"/api/positions/{position_id}/modify",
            json={"takeProfit": "0", "trailingStepPoints": 10},
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("ModifyPosition")
    assert (sent.account_id, sent.position_id) == ("1001", position_id)
    assert sent.stop_loss == ""  # keep
    assert sent.take_profit == "0"  # remove
    assert sent.trailing_distance_points == -1  # keep
    assert sent.trailing_step_points == 10
    position = response.json()["position"]
    assert position["stopLoss"] == "1.08000"
    assert position["takeProfit"] is None
    assert (position["trailingDistancePoints"], position["trailingStepPoints"]) == (200, 10)


async def test_modify_position_when_trailing_zero_then_oms_told_to_turn_it_off(edge, alice_token):
    position_id = edge.oms.open_position("1001", trailing_distance_points=150)
    async with edge.client(alice_token) as http:
        response = await http.put(
            f"/api/positions/{position_id}/modify",
            json={"stopLoss": "1.07500", "trailingDistancePoints": 0},
        )

    assert response.status_code == 200
    sent = edge.oms.last("ModifyPosition")
    assert (sent.stop_loss, sent.trailing_distance_points) == ("1.07500", 0)
    assert response.json()["position"]["trailingDistancePoints"] == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "NOTHING_TO_MODIFY"),
        ({"stopLoss": 1.075}, "DECIMAL_MUST_BE_STRING"),
        ({"trailingDistancePoints": "20"}, "VALIDATION_ERROR"),
        ({"trailingDistancePoints": -1}, "VALIDATION_ERROR"),
    ],
)
async def test_modify_position_when_body_malformed_then_422_with_code(
    edge, alice_token, body, code
):
    async with edge.client(alice_token) as http:
        response = await http.put("/api/positions/5001/modify", json=body)

    assert response.status_code == 422
    assert response.json()["code"] == code


async def test_close_all_when_symbol_and_request_id_then_closes_own_positions_of_that_symbol(
    edge, alice_token
):
    euro = edge.oms.open_position("1001", "EURUSD")
    gold = edge.oms.open_position("1001", "XAUUSD")
    bobs = edge.oms.open_position("1002", "XAUUSD")
    request_id = uuid.uuid4().hex
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/positions/close-all", json={"symbol": "XAUUSD", "requestId": request_id}
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("CloseAllPositions")
    assert (sent.account_id, sent.symbol, sent.request_id) == ("1001", "XAUUSD", request_id)
    body = response.json()
    assert body["requestId"] == request_id
    closed = [r["position"]["positionId"] for r in body["results"]]
    assert closed == [gold]
    assert body["results"][0]["order"]["clientOrderId"] == f"{request_id}:{gold}"
    assert not edge.oms.positions[euro].HasField("close_time")
    assert not edge.oms.positions[bobs].HasField("close_time")


async def test_close_all_when_no_request_id_then_edge_makes_one_and_returns_it(edge, bob_token):
    async with edge.client(bob_token) as http:
        response = await http.post("/api/positions/close-all", json={})

    assert response.status_code == 200
    sent = edge.oms.last("CloseAllPositions")
    assert sent.account_id == "1002"
    assert sent.symbol == ""
    assert response.json()["requestId"] == sent.request_id
    assert len(sent.request_id) == 32


async def test_close_by_when_both_own_then_two_out_by_deals(edge, alice_token):
    buy = edge.oms.open_position("1001", side=1)
    sell = edge.oms.open_position("1001", side=2)
    async with edge.client(alice_token) as http:
        response = await http.post(
            f"/api/positions/{buy}/close-by", json={"oppositePositionId": sell}
        )

    assert response.status_code == 200, response.text
    sent = edge.oms.last("CloseBy")
    assert (sent.account_id, sent.position_id, sent.opposite_position_id) == ("1001", buy, sell)
    body = response.json()
    assert [d["entry"] for d in body["deals"]] == ["OUT_BY", "OUT_BY"]
    assert [p["closeReason"] for p in body["positions"]] == ["CLOSE_BY", "CLOSE_BY"]


async def test_close_by_when_opposite_id_not_digits_then_422_invalid_position_id(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/positions/5001/close-by", json={"oppositePositionId": "p-2"}
        )

    assert response.status_code == 422
    assert response.json()["code"] == "INVALID_POSITION_ID"
    assert response.json()["details"]["errors"][0]["field"] == "oppositePositionId"


async def test_position_of_another_account_when_touched_then_404_and_left_open(
    edge, alice_token, bob_token
):
    alices = edge.oms.open_position("1001", volume="0.50", stop_loss="1.08000")
    bobs = edge.oms.open_position("1002", side=2)
    async with edge.client(bob_token) as http:
        close = await http.post(f"/api/positions/{alices}/close", json={"clientOrderId": cid()})
        close_request = edge.oms.last("ClosePosition")
        partial = await http.post(
            f"/api/positions/{alices}/close-partial",
            json={"clientOrderId": cid(), "volume": "0.10"},
        )
        modify = await http.put(f"/api/positions/{alices}/modify", json={"stopLoss": "0"})
        modify_request = edge.oms.last("ModifyPosition")
        by = await http.post(f"/api/positions/{bobs}/close-by", json={"oppositePositionId": alices})
        by_request = edge.oms.last("CloseBy")

    for response in (close, partial, modify, by):
        assert response.status_code == 404
        assert response.json()["code"] == "POSITION_NOT_FOUND"
    assert close_request.account_id == "1002"
    assert modify_request.account_id == "1002"
    assert by_request.account_id == "1002"
    position = edge.oms.positions[alices]
    assert (position.volume, position.stop_loss) == ("0.50", "1.08000")
    assert not position.HasField("close_time")


@pytest.mark.parametrize("position_id", ["x1", "0x10", " 12", "99999999999999999999"])
async def test_position_routes_when_id_not_digits_then_422_invalid_position_id(
    edge, alice_token, position_id
):
    async with edge.client(alice_token) as http:
        close = await http.post(
            f"/api/positions/{position_id}/close", json={"clientOrderId": cid()}
        )
        modify = await http.put(f"/api/positions/{position_id}/modify", json={"stopLoss": "0"})

    for response in (close, modify):
        assert response.status_code == 422
        assert response.json()["code"] == "INVALID_POSITION_ID"
