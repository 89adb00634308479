"""Protobuf -> client JSON and the request models' decimal rule."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.convert import to_json
from edge.schemas import MarketOrderRequest
from fxmesh.v1 import types_pb2


def test_to_json_when_order_then_camel_case_short_enums_and_nulls():
    order = types_pb2.Order(
        order_id="o-1",
        side=types_pb2.SIDE_SELL,
        status=types_pb2.ORDER_STATUS_PARTIALLY_FILLED,
        book=types_pb2.BOOK_C,
        time_in_force=types_pb2.TIME_IN_FORCE_IOC,
        volume="1.50",
    )
    order.create_time.FromSeconds(1_700_000_000)

    doc = to_json(order)

    assert doc["orderId"] == "o-1"
    assert doc["side"] == "SELL"
    assert doc["status"] == "PARTIALLY_FILLED"
    assert doc["book"] == "C"
    assert doc["timeInForce"] == "IOC"
    assert doc["type"] is None
    assert doc["volume"] == "1.50"
    assert doc["rejectReason"] is None
    assert doc["createTime"] == "2023-11-14T22:13:20Z"
    assert doc["updateTime"] is None


@pytest.mark.parametrize("volume", [0.1, 1, 1e-2])
def test_market_order_request_when_volume_is_a_number_then_refused_not_rounded(volume):
    with pytest.raises(ValidationError) as err:
        MarketOrderRequest.model_validate(
            {"symbol": "EURUSD", "side": "BUY", "volume": volume, "clientOrderId": "c"}
        )

    assert err.value.errors()[0]["type"] == "decimal_must_be_string"


def test_market_order_request_when_strings_then_kept_verbatim():
    req = MarketOrderRequest.model_validate(
        {
            "symbol": "EURUSD",
            "side": "SELL",
            "volume": "0.10",
            "clientOrderId": "c",
            "requestedPrice": "1.08450",
        }
    )

    assert (req.volume, req.requested_price, req.side) == ("0.10", "1.08450", "SELL")
