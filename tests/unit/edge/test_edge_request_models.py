"""Client input -> oms request values: timestamps, statement period, decimals, SL/TP semantics."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from edge.convert import decimal_text, modify_level_text, stop_level_text, timestamp_pb
from edge.openapi import json_model
from edge.schemas import (
    ModifyPositionRequest,
    PendingOrderRequest,
    TimeRangeQuery,
    statement_period,
)
from fxmesh.errors import InvalidArgument
from fxmesh.v1 import oms_pb2, types_pb2


def error_type(exc: pytest.ExceptionInfo[ValidationError]) -> str:
    return str(exc.value.errors()[0]["type"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02T10:00:00Z", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02T12:00:00+02:00", datetime(2026, 3, 2, 10, tzinfo=UTC)),
        ("2026-03-02T10:00:00.250Z", datetime(2026, 3, 2, 10, 0, 0, 250_000, tzinfo=UTC)),
        ("2026-03-02", datetime(2026, 3, 2, tzinfo=UTC)),
    ],
)
def test_time_range_when_iso_8601_with_offset_or_date_then_utc(text, expected):
    query = TimeRangeQuery.model_validate({"from": text})

    assert query.from_time == expected
    assert query.from_time is not None
    assert query.from_time.utcoffset() is not None


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-02T10:00:00",
        "02/03/2026",
        "2026-02-30",
        "",
        "now",
        1772445600,
        "0001-01-01T00:00+01:00",
        "1969-12-31T23:59:59Z",
        "9999-12-05",
    ],
)
def test_time_range_when_naive_unparseable_or_number_then_invalid_timestamp(value):
    with pytest.raises(ValidationError) as exc:
        TimeRangeQuery.model_validate({"to": value})

    assert error_type(exc) == "invalid_timestamp"


def test_pending_order_when_gtd_without_expiry_then_expire_time_required():
    with pytest.raises(ValidationError) as exc:
        PendingOrderRequest.model_validate(
            {
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "1",
                "price": "1.1",
                "clientOrderId": "c",
                "timeInForce": "GTD",
            }
        )

    assert error_type(exc) == "expire_time_required"


@pytest.mark.parametrize(
    ("now", "start", "end"),
    [
        (
            datetime(2026, 3, 15, 9, tzinfo=UTC),
            datetime(2026, 3, 1, tzinfo=UTC),
            datetime(2026, 4, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 12, 31, 23, tzinfo=UTC),
            datetime(2026, 12, 1, tzinfo=UTC),
            datetime(2027, 1, 1, tzinfo=UTC),
        ),
        (
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 2, 1, tzinfo=UTC),
        ),
    ],
)
def test_statement_period_when_no_range_then_calendar_month_of_now(now, start, end):
    assert statement_period(TimeRangeQuery(), now) == (start, end)


def test_modify_position_when_trailing_is_a_string_or_float_then_refused():
    for value in ("10", 10.0, True):
        with pytest.raises(ValidationError):
            ModifyPositionRequest.model_validate({"trailingStepPoints": value})


@pytest.mark.parametrize(
    ("value", "expected"), [("0.10", "0.10"), (" 1.0845 ", "1.0845"), ("1E-5", "0.00001")]
)
def test_decimal_text_when_valid_then_plain_notation_without_rounding(value, expected):
    assert decimal_text(value, "price") == expected


@pytest.mark.parametrize("value", ["0", "-1", "NaN", "Infinity", "1,5", "0x10"])
def test_decimal_text_when_not_a_positive_number_then_invalid_decimal(value):
    with pytest.raises(InvalidArgument) as exc:
        decimal_text(value, "volume")

    assert exc.value.reason == "INVALID_DECIMAL"
    assert exc.value.metadata == {"field": "volume"}


def test_stop_levels_when_zero_then_none_on_place_and_remove_on_modify():
    assert stop_level_text(None, "stopLoss") == ""
    assert stop_level_text("0.000", "stopLoss") == ""
    assert stop_level_text("1.07500", "stopLoss") == "1.07500"
    assert modify_level_text(None, "stopLoss") == ""
    assert modify_level_text("0.00", "stopLoss") == "0"
    assert modify_level_text("1.07500", "stopLoss") == "1.07500"
    with pytest.raises(InvalidArgument):
        modify_level_text("-1", "stopLoss")


def test_timestamp_pb_when_aware_datetime_then_same_instant():
    assert (
        timestamp_pb(datetime(2026, 3, 2, 10, tzinfo=UTC)).ToJsonString() == "2026-03-02T10:00:00Z"
    )


def test_json_model_when_order_then_camel_case_fields_short_enum_names_and_string_ids():
    schema = json_model(types_pb2.Order.DESCRIPTOR).model_json_schema()
    props = schema["properties"]

    assert "orderId" in props
    assert "stopLimitActive" in props
    assert props["origin"]["anyOf"][0]["enum"] == ["CLIENT", "STOP_LOSS", "TAKE_PROFIT", "STOP_OUT"]
    assert props["stopLimitActive"]["type"] == "boolean"
    assert props["deviationPoints"]["type"] == "integer"
    statement = json_model(oms_pb2.GetStatementResponse.DESCRIPTOR).model_json_schema()
    assert statement["properties"]["totals"]["type"] == "array"
