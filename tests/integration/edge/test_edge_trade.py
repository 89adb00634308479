"""MetaTrader 5's order_send / order_check (``POST /api/trade``, ``/api/trade/check``) against the
fake oms: the request a bot sends, what oms receives, and the retcode the bot reads."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any

import pytest
from edge_fake_oms import REQUOTE_PRICE

from edge.mt5 import TradeCheckResult, TradeResult
from fxmesh.quotecache import ClientQuote, write_quote
from fxmesh.v1 import types_pb2


def deal(**overrides: Any) -> dict[str, Any]:
    """An MT5 market buy as the MetaTrader5 Python package's examples write it."""
    request: dict[str, Any] = {
        "action": 1,  # TRADE_ACTION_DEAL
        "symbol": "EURUSD",
        "volume": 0.1,
        "type": 0,  # ORDER_TYPE_BUY
        "price": 1.08456,
        "sl": 1.079,
        "tp": 1.0925,
        "deviation": 20,
        "magic": 234000,
        "comment": "python script open",
        "type_time": 0,  # ORDER_TIME_GTC
        "type_filling": 1,  # ORDER_FILLING_IOC
    }
    request.update(overrides)
    return {k: v for k, v in request.items() if v is not None}


def pending(**overrides: Any) -> dict[str, Any]:
    return deal(**({"action": "PENDING", "type": "BUY_LIMIT", "price": "1.08000"} | overrides))


async def send(http: Any, request: dict[str, Any]) -> dict[str, Any]:
    response = await http.post("/api/trade", json=request)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# One row per retcode: the request, and the retcode a bot reads (edge's own refusals and oms's
# reject reasons through the mapping table alike).
RETCODE_TABLE = [
    pytest.param(deal(), 10009, id="10009-done-market-buy"),
    pytest.param(pending(), 10008, id="10008-placed-buy-limit"),
    pytest.param(deal(symbol="REJ_PRICE_DEVIATION_EXCEEDED"), 10004, id="10004-requote"),
    pytest.param(deal(symbol="REJ_LP_REJECTED"), 10006, id="10006-rejected-by-the-venue"),
    pytest.param(deal(action=99), 10013, id="10013-unknown-action"),
    pytest.param(deal(symbol="NOPE"), 10013, id="10013-unknown-symbol-from-oms"),
    pytest.param(deal(volume=0), 10014, id="10014-volume-zero"),
    pytest.param(deal(symbol="REJ_VOLUME_TOO_SMALL"), 10014, id="10014-volume-below-minimum"),
    pytest.param(pending(price=0), 10015, id="10015-pending-without-price"),
    pytest.param(deal(symbol="ERR_INVALID_PRECISION"), 10015, id="10015-price-precision"),
    pytest.param(deal(sl=-1), 10016, id="10016-negative-sl"),
    pytest.param(deal(symbol="REJ_INVALID_STOPS"), 10016, id="10016-stops-too-close"),
    pytest.param(deal(symbol="REJ_SYMBOL_DISABLED"), 10017, id="10017-trade-disabled"),
    pytest.param(deal(symbol="REJ_MARKET_CLOSED"), 10018, id="10018-market-closed"),
    pytest.param(deal(volume="99"), 10019, id="10019-no-money"),
    pytest.param(deal(symbol="REJ_NO_QUOTE"), 10021, id="10021-no-prices"),
    pytest.param(pending(type_time="SPECIFIED"), 10022, id="10022-specified-without-expiration"),
    pytest.param(deal(symbol="REJ_INVALID_EXPIRATION"), 10022, id="10022-expiration-from-oms"),
    pytest.param(deal(type_filling="ORDER_FILLING_RETURN"), 10030, id="10030-return-on-market"),
]


@pytest.mark.parametrize(("request_body", "retcode"), RETCODE_TABLE)
async def test_order_send_when_request_then_answers_mt5_retcode(
    edge, alice_token, request_body, retcode
):
    async with edge.client(alice_token) as http:
        result = await send(http, request_body)

    assert result["retcode"] == retcode, result
    assert result["comment"]
    assert result["request"]["magic"] == request_body.get("magic", 0)


async def test_order_send_when_market_buy_then_oms_gets_exact_decimals_and_bot_gets_deal(
    edge, alice_token
):
    await write_quote(
        edge.resources.redis,
        ClientQuote("EURUSD", Decimal("1.08444"), Decimal("1.08456"), int(time.time() * 1000)),
    )
    async with edge.client(alice_token) as http:
        result = await send(http, deal())

    sent = edge.oms.last("PlaceOrder")
    assert (sent.type, sent.side) == (types_pb2.ORDER_TYPE_MARKET, types_pb2.SIDE_BUY)
    assert (sent.volume, sent.requested_price) == ("0.1", "1.08456")
    assert (sent.stop_loss, sent.take_profit) == ("1.079", "1.0925")
    assert (sent.deviation_points, sent.time_in_force) == (20, types_pb2.TIME_IN_FORCE_IOC)
    assert sent.account_id == "1001"
    assert sent.client_order_id.startswith("mt5-")
    assert result["retcode"] == 10009
    assert result["order"] == int(max(edge.oms.orders, key=int))
    assert result["deal"] > result["order"]  # the opening deal's ticket, not 0
    assert (result["volume"], result["price"]) == ("0.1", "1.08452")
    assert (result["bid"], result["ask"]) == ("1.08444", "1.08456")
    assert result["request"]["comment"] == "python script open"
    assert (sent.magic, sent.comment) == (234000, "python script open")
    assert isinstance(result["request_id"], int)
    assert result["request_id"] > 0


async def test_order_send_when_placed_then_magic_and_comment_come_back_in_order_history(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        placed = await send(http, pending(magic=77, comment="grid #3"))
        history = await http.get("/api/account/orders", params={"view": "history"})

    assert history.status_code == 200, history.text
    order = next(o for o in history.json()["orders"] if o["orderId"] == str(placed["order"]))
    assert (order["magic"], order["comment"]) == ("77", "grid #3")


async def test_order_send_when_stop_limit_specified_day_then_oms_gets_gtd_end_of_that_day(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        result = await send(
            http,
            deal(
                action="TRADE_ACTION_PENDING",
                type="ORDER_TYPE_SELL_STOP_LIMIT",
                price="1.07000",
                stoplimit="1.06950",
                type_time=3,  # SPECIFIED_DAY
                expiration=1_893_499_200,  # 2030-01-01T12:00:00Z
            ),
        )

    assert result["retcode"] == 10008, result
    sent = edge.oms.last("PlaceOrder")
    assert (sent.type, sent.side) == (types_pb2.ORDER_TYPE_STOP_LIMIT, types_pb2.SIDE_SELL)
    assert (sent.price, sent.stop_limit_price) == ("1.07000", "1.06950")
    assert sent.time_in_force == types_pb2.TIME_IN_FORCE_GTD
    assert sent.expire_time.ToJsonString() == "2030-01-01T23:59:59Z"
    assert sent.requested_price == ""


async def test_order_send_when_modify_then_remove_twice_then_done_done_order_changed(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        placed = await send(http, pending())
        ticket = placed["order"]
        modified = await send(
            http, {"action": 7, "order": ticket, "price": 1.079, "sl": 1.075, "tp": 0}
        )
        sent = edge.oms.last("ModifyOrder")
        removed = await send(http, {"action": "REMOVE", "order": ticket})
        again = await send(http, {"action": "REMOVE", "order": ticket})

    assert modified["retcode"] == 10009
    assert modified["order"] == ticket
    assert (sent.order_id, sent.price, sent.stop_loss, sent.take_profit) == (
        str(ticket),
        "1.079",
        "1.075",
        "0",  # MT5 sends the full state: tp 0 removes it
    )
    assert removed["retcode"] == 10009
    assert again["retcode"] == 10023, again


async def test_order_send_when_sltp_close_and_close_by_then_oms_positions_rpcs(edge, alice_token):
    first = edge.oms.open_position("1001", volume="0.30")
    second = edge.oms.open_position("1001", side=types_pb2.SIDE_SELL, volume="0.10")
    async with edge.client(alice_token) as http:
        sltp = await send(
            http, {"action": "SLTP", "position": first, "symbol": "EURUSD", "sl": 1.08}
        )
        modify = edge.oms.last("ModifyPosition")
        close = await send(
            http,
            deal(type=1, position=int(first), volume=0.1, price=1.0845, sl=None, tp=None),
        )
        close_sent = edge.oms.last("ClosePosition")
        close_by = await send(
            http, {"action": "CLOSE_BY", "position": first, "position_by": int(second)}
        )

    assert sltp["retcode"] == 10009
    assert (modify.position_id, modify.stop_loss, modify.take_profit) == (first, "1.08", "0")
    assert modify.trailing_distance_points == -1
    assert close["retcode"] == 10009
    assert close["deal"] > 0
    assert close["volume"] == "0.1"
    assert (close_sent.magic, close_sent.comment) == (234000, "python script open")
    assert (close_sent.position_id, close_sent.volume, close_sent.requested_price) == (
        first,
        "0.1",
        "1.0845",
    )
    assert close_by["retcode"] == 10009
    assert close_by["deal"] > 0
    assert (
        edge.oms.last("CloseBy").position_id,
        edge.oms.last("CloseBy").opposite_position_id,
    ) == (
        first,
        second,
    )


async def test_order_send_when_close_is_requoted_then_10004(edge, alice_token):
    position = edge.oms.open_position("1001")
    async with edge.client(alice_token) as http:
        result = await send(
            http, deal(type="SELL", position=position, volume="1.00", price=REQUOTE_PRICE)
        )

    assert result["retcode"] == 10004, result


async def test_order_send_when_position_of_another_account_then_10013_and_nothing_closed(
    edge, alice_token
):
    bobs = edge.oms.open_position("1002")
    async with edge.client(alice_token) as http:
        result = await send(http, {"action": "SLTP", "position": bobs, "sl": 1.07})

    assert result["retcode"] == 10013
    assert edge.oms.positions[bobs].stop_loss == ""


@pytest.mark.parametrize(
    ("request_body", "named"),
    [
        (deal(volume=0.1, foo=1), "unknown field foo"),
        (deal(deviation=-5), "deviation"),
        (deal(type=8), "type"),
        ({"action": "SLTP"}, "position is required"),
        ({"action": "CLOSE_BY", "position": 5}, "position_by is required"),
        (deal(position="12ab"), "position"),
    ],
)
async def test_order_send_when_request_cannot_be_mapped_then_10013_naming_the_field(
    edge, alice_token, request_body, named
):
    async with edge.client(alice_token) as http:
        response = await http.post("/api/trade", json=request_body)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["retcode"] == 10013
    assert named in result["comment"]
    assert set(result) == set(TradeResult.model_fields)


async def test_order_check_when_body_not_json_then_10013_in_the_check_shape(edge, alice_token):
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/trade/check", content=b"{nope", headers={"content-type": "application/json"}
        )

    assert response.status_code == 200, response.text
    assert response.json()["retcode"] == 10013
    assert "not JSON" in response.json()["comment"]
    assert set(response.json()) == set(TradeCheckResult.model_fields)


async def test_order_check_when_numbers_are_null_then_10013_not_a_server_error(edge, alice_token):
    # Found by the schemathesis run: a null volume used to fail its length bound with a 500.
    async with edge.client(alice_token) as http:
        response = await http.post(
            "/api/trade/check", json={"volume": None, "price": None, "expiration": None}
        )

    assert response.status_code == 200, response.text
    assert response.json()["retcode"] == 10013
    assert "action" in response.json()["comment"]


async def test_order_send_when_no_token_or_oms_overloaded_then_http_errors_as_elsewhere(
    edge, alice_token
):
    async with edge.client() as anonymous:
        unauthenticated = await anonymous.post("/api/trade", json=deal())
    async with edge.client(alice_token) as http:
        overloaded = await http.post("/api/trade", json=deal(symbol="BUSY"))

    assert unauthenticated.status_code == 401
    assert overloaded.status_code == 503
    assert overloaded.json()["code"] == "OVERLOADED"
    assert overloaded.headers["retry-after"] == "2"


async def test_order_send_when_client_order_id_repeated_then_oms_gets_the_same_key(
    edge, alice_token
):
    key = f"bot-{uuid.uuid4().hex[:8]}"
    async with edge.client(alice_token) as http:
        await send(http, deal(client_order_id=key))

    assert edge.oms.last("PlaceOrder").client_order_id == key


async def test_order_check_when_margin_suffices_then_0_with_figures_after_the_trade(
    edge, alice_token
):
    async with edge.client(alice_token) as http:
        ok = await http.post("/api/trade/check", json=deal())
        short = await http.post("/api/trade/check", json=deal(volume="99"))
        closing = await http.post("/api/trade/check", json=deal(position=5))

    assert ok.status_code == 200, ok.text
    sent = edge.oms.requests["PreviewMargin"][-2]
    assert (sent.symbol, sent.side, sent.volume, sent.price) == (
        "EURUSD",
        types_pb2.SIDE_BUY,
        "0.1",
        "",
    )
    assert ok.json() == {
        "retcode": 0,
        "balance": "9999.30",
        "equity": "10011.80",
        "profit": "12.50",
        "margin": "108.47",
        "margin_free": "9794.88",
        "margin_level": "4583.21",
        "comment": "Done",
        "request": ok.json()["request"],
    }
    assert short.json()["retcode"] == 10019
    assert short.json()["margin_free"] == "-97550.55"
    assert closing.json()["retcode"] == 10013


async def test_openapi_when_fetched_then_documents_trade_routes_snake_case(edge):
    async with edge.client() as http:
        document = (await http.get("/api/openapi.json")).json()

    send_op = document["paths"]["/api/trade"]["post"]
    check_op = document["paths"]["/api/trade/check"]["post"]
    assert "camelCase" in send_op["description"]
    assert "snake_case" in send_op["description"]
    assert send_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TradeResult"
    )
    assert check_op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/TradeCheckResult"
    )
    request = document["components"]["schemas"]["TradeRequest"]
    assert {"action", "type_filling", "type_time", "position_by", "stoplimit"} <= set(
        request["properties"]
    )
    assert request["additionalProperties"] is False
