"""The oms reason -> MetaTrader retcode table and the reading of MT5 requests (no I/O)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from edge.mt5 import DESCRIPTIONS, Refused, TradeRequest, place_request
from edge.routes.trade import RETCODE_BY_REASON, retcode_of
from fxmesh.v1 import types_pb2


def test_retcode_table_when_read_then_every_code_has_mt5_description() -> None:
    assert set(RETCODE_BY_REASON.values()) <= set(DESCRIPTIONS)


@pytest.mark.parametrize(
    ("reason", "rejected_order", "field", "retcode"),
    [
        ("NOT_ENOUGH_MONEY", True, None, 10019),
        ("SOMETHING_NEW", True, None, 10006),
        ("SOMETHING_NEW", False, None, 10013),
        ("INVALID_PRECISION", False, "volume", 10014),
        ("INVALID_PRECISION", False, "stop_limit_price", 10015),
        ("INVALID_DECIMAL", False, "take_profit", 10016),
        ("INVALID_PRECISION", False, "amount", 10013),
    ],
)
def test_retcode_of_when_reason_then_mt5_code(
    reason: str, rejected_order: bool, field: str | None, retcode: int
) -> None:
    assert retcode_of(reason, rejected_order=rejected_order, field=field) == retcode


def test_place_request_when_numbers_are_decimals_then_oms_text_is_exact() -> None:
    body = TradeRequest.model_validate(
        {"action": 1, "type": 1, "symbol": "EURUSD", "volume": Decimal("0.1"), "sl": Decimal("0")}
    )

    request = place_request("1001", body)

    assert (request.side, request.volume, request.stop_loss) == (types_pb2.SIDE_SELL, "0.1", "")
    assert request.time_in_force == types_pb2.TIME_IN_FORCE_FOK  # MT5's zero filling


def test_place_request_when_buy_limit_as_deal_then_refused_10013_naming_type() -> None:
    body = TradeRequest.model_validate(
        {"action": "DEAL", "type": "BUY_LIMIT", "symbol": "EURUSD", "volume": "0.1"}
    )

    with pytest.raises(Refused) as refused:
        place_request("1001", body)

    assert refused.value.retcode == 10013
    assert refused.value.detail.startswith("type")
