"""Request parsing of the money RPCs: what a malformed request is refused with."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fxmesh.errors import InvalidArgument
from fxmesh.v1 import oms_pb2, types_pb2
from oms.api.funds_convert import (
    parse_balance_operation,
    parse_calculate_lot,
    parse_create_account,
    parse_page,
    parse_statement_window,
    parse_update_account,
)
from oms.domain.commands import AccountChanges
from oms.domain.paging import decode_token, encode_token

D = Decimal
DEPOSIT = types_pb2.LEDGER_ENTRY_TYPE_DEPOSIT


def op(**kw: object) -> oms_pb2.PostBalanceOperationRequest:
    fields: dict[str, object] = {
        "account_id": "7",
        "type": DEPOSIT,
        "amount": "100.00",
        "request_id": "r-1",
    }
    fields.update(kw)
    return oms_pb2.PostBalanceOperationRequest(**fields)  # type: ignore[arg-type]


def reason_of(call: object) -> str:
    with pytest.raises(InvalidArgument) as info:
        call()  # type: ignore[operator]
    return info.value.reason


def test_withdrawal_when_amount_positive_then_parsed_positive_for_the_service() -> None:
    cmd = parse_balance_operation(op(type=types_pb2.LEDGER_ENTRY_TYPE_WITHDRAWAL, amount="25"))
    assert (cmd.type, cmd.amount) == ("WITHDRAWAL", D("25"))


def test_adjustment_when_negative_then_kept_signed() -> None:
    cmd = parse_balance_operation(op(type=types_pb2.LEDGER_ENTRY_TYPE_ADJUSTMENT, amount="-3.10"))
    assert cmd.amount == D("-3.10")


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"type": types_pb2.LEDGER_ENTRY_TYPE_UNSPECIFIED}, "MISSING_FIELD"),
        ({"type": types_pb2.LEDGER_ENTRY_TYPE_SWAP}, "INVALID_OPERATION_TYPE"),
        ({"type": types_pb2.LEDGER_ENTRY_TYPE_COMMISSION}, "INVALID_OPERATION_TYPE"),
        ({"amount": "-5"}, "INVALID_AMOUNT"),
        ({"amount": "0"}, "INVALID_AMOUNT"),
        ({"type": types_pb2.LEDGER_ENTRY_TYPE_ADJUSTMENT, "amount": "0.00"}, "INVALID_AMOUNT"),
        ({"type": types_pb2.LEDGER_ENTRY_TYPE_WITHDRAWAL, "amount": "-1"}, "INVALID_AMOUNT"),
        ({"amount": "1e3x"}, "INVALID_DECIMAL"),
        ({"amount": ""}, "MISSING_FIELD"),
        ({"request_id": "  "}, "MISSING_FIELD"),
        ({"request_id": "x" * 65}, "INVALID_REQUEST_ID"),
        ({"account_id": "abc"}, "INVALID_ACCOUNT_ID"),
    ],
)
def test_balance_operation_when_malformed_then_invalid_argument_with_reason(
    kw: dict[str, object], reason: str
) -> None:
    assert reason_of(lambda: parse_balance_operation(op(**kw))) == reason


def new_account(**kw: object) -> oms_pb2.CreateAccountRequest:
    fields: dict[str, object] = {
        "login": "alice",
        "password": "s3cret-pass",
        "type": types_pb2.ACCOUNT_TYPE_DEMO,
        "currency": "EUR",
        "leverage": 200,
    }
    fields.update(kw)
    return oms_pb2.CreateAccountRequest(**fields)  # type: ignore[arg-type]


def test_create_account_when_optional_fields_empty_then_hedging_retail_no_deposit() -> None:
    cmd = parse_create_account(new_account())
    assert (cmd.margin_mode, cmd.client_group, cmd.initial_deposit) == ("HEDGING", "retail", None)


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"login": ""}, "MISSING_FIELD"),
        ({"login": "a b"}, "INVALID_LOGIN"),
        ({"password": "short"}, "INVALID_PASSWORD"),
        ({"type": types_pb2.ACCOUNT_TYPE_UNSPECIFIED}, "MISSING_FIELD"),
        ({"leverage": 0}, "INVALID_LEVERAGE"),
        ({"leverage": 501}, "INVALID_LEVERAGE"),
        ({"currency": ""}, "MISSING_FIELD"),
        ({"initial_deposit": "-1"}, "INVALID_DECIMAL"),
    ],
)
def test_create_account_when_malformed_then_reason(kw: dict[str, object], reason: str) -> None:
    assert reason_of(lambda: parse_create_account(new_account(**kw))) == reason


def test_update_account_when_fields_empty_then_nothing_changes() -> None:
    _, changes = parse_update_account(
        oms_pb2.UpdateAccountRequest(account_id="3", max_open_positions=-1)
    )
    assert changes == AccountChanges()


def test_update_account_when_zero_limits_then_limits_removed() -> None:
    _, changes = parse_update_account(
        oms_pb2.UpdateAccountRequest(
            account_id="3",
            max_open_positions=0,
            max_daily_volume="0",
            status=types_pb2.ACCOUNT_STATUS_CLOSED,
        )
    )
    assert changes.max_open_positions == 0
    assert changes.clear_max_daily_volume
    assert changes.status == "CLOSED"


def test_update_account_when_flag_is_not_true_or_false_then_refused() -> None:
    request = oms_pb2.UpdateAccountRequest(account_id="3", negative_balance_protection="yes")
    assert reason_of(lambda: parse_update_account(request)) == "INVALID_FLAG"


def test_page_token_when_round_tripped_then_same_cursor() -> None:
    cursor = (datetime(2026, 11, 18, 9, 30, 1, 123456, tzinfo=UTC), 42)
    assert decode_token(encode_token(cursor)) == cursor


@pytest.mark.parametrize("token", ["not-a-token", "MTIz", "%%%"])
def test_page_token_when_forged_then_invalid_page_token(token: str) -> None:
    assert reason_of(lambda: decode_token(token)) == "INVALID_PAGE_TOKEN"


def test_page_when_size_zero_then_default_and_when_huge_then_capped() -> None:
    assert parse_page(oms_pb2.ListLedgerRequest(account_id="1")).size == 100
    assert parse_page(oms_pb2.ListLedgerRequest(account_id="1", page_size=5000)).size == 1000


def test_page_when_range_inverted_then_invalid_time_range() -> None:
    request = oms_pb2.ListDealsRequest(account_id="1")
    request.from_time.FromDatetime(datetime(2026, 11, 2, tzinfo=UTC))
    request.to_time.FromDatetime(datetime(2026, 11, 1, tzinfo=UTC))
    assert reason_of(lambda: parse_page(request)) == "INVALID_TIME_RANGE"


def test_statement_window_when_to_missing_then_now_and_from_required() -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    request = oms_pb2.GetStatementRequest(account_id="1")
    assert reason_of(lambda: parse_statement_window(request, now)) == "MISSING_FIELD"
    request.from_time.FromDatetime(datetime(2026, 11, 1, tzinfo=UTC))
    assert parse_statement_window(request, now) == (datetime(2026, 11, 1, tzinfo=UTC), now)


def lot(**kw: object) -> oms_pb2.CalculateLotRequest:
    fields: dict[str, object] = {
        "account_id": "1",
        "symbol": "eurusd",
        "side": types_pb2.SIDE_BUY,
        "risk_amount": "100",
        "stop_loss_points": 50,
    }
    fields.update(kw)
    return oms_pb2.CalculateLotRequest(**fields)  # type: ignore[arg-type]


def test_calculate_lot_when_symbol_lowercase_then_upper() -> None:
    assert parse_calculate_lot(lot()).symbol == "EURUSD"


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"risk_amount": ""}, "RISK_REQUIRED"),
        ({"risk_percent": "1"}, "RISK_AMBIGUOUS"),
        ({"risk_amount": "", "risk_percent": "101"}, "INVALID_RISK"),
        ({"stop_loss_points": 0}, "STOP_LOSS_REQUIRED"),
        ({"stop_loss": "1.08"}, "STOP_LOSS_AMBIGUOUS"),
        ({"stop_loss_points": -5}, "INVALID_STOP_LOSS"),
        ({"side": types_pb2.SIDE_UNSPECIFIED}, "MISSING_FIELD"),
        ({"symbol": " "}, "MISSING_FIELD"),
    ],
)
def test_calculate_lot_when_malformed_then_reason(kw: dict[str, object], reason: str) -> None:
    assert reason_of(lambda: parse_calculate_lot(lot(**kw))) == reason
