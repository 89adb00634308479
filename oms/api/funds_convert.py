"""Protobuf <-> domain for the money RPCs: balance operations, accounts, listings, statements, risk.

Request parsing checks shape only (required fields, decimals, enums); rules that need the account
(precision of its currency, free margin) belong to ``oms.trading.accounts`` and
``oms.trading.calculator``.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import oms_pb2, types_pb2
from oms.api import convert
from oms.domain.commands import (
    AccountChanges,
    AccountSearch,
    BalanceOperation,
    HoldRequest,
    LotQuery,
    MarginQuery,
    NewAccount,
    PageRequest,
)
from oms.domain.holds import HoldRow
from oms.domain.model import AccountId, Side
from oms.domain.paging import Cursor, decode_token, encode_token
from oms.domain.records import DealRow, LedgerRow

if TYPE_CHECKING:
    from oms.domain.results import LotResult, MarginPreview, Page, Statement

BALANCE_TYPES = ("DEPOSIT", "WITHDRAWAL", "BONUS", "ADJUSTMENT")
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 100, 1000


def _invalid(message: str, reason: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field})


def _enum_name(enum: Any, value: int, prefix: str) -> str:
    return str(enum.Name(value)).removeprefix(prefix)


def _optional_decimal(value: str, field: str, **kwargs: Any) -> Decimal | None:
    return parse_decimal(value, field, **kwargs) if value.strip() else None


def parse_side(value: int) -> Side:
    if value == types_pb2.SIDE_UNSPECIFIED:
        raise _invalid("side is required", Reason.MISSING_FIELD, "side")
    return Side(_enum_name(types_pb2.Side, value, "SIDE_"))


# --- balance operations --------------------------------------------------------------------------


def parse_balance_operation(req: oms_pb2.PostBalanceOperationRequest) -> BalanceOperation:
    account_id = convert.parse_account_id(req.account_id)
    if req.type == types_pb2.LEDGER_ENTRY_TYPE_UNSPECIFIED:
        raise _invalid("type is required", Reason.MISSING_FIELD, "type")
    entry_type = _enum_name(types_pb2.LedgerEntryType, req.type, "LEDGER_ENTRY_TYPE_")
    if entry_type not in BALANCE_TYPES:
        raise _invalid(
            f"{entry_type} is booked by trading, not by a balance operation",
            "INVALID_OPERATION_TYPE",
            "type",
        )
    request_id = _request_id(req.request_id)
    amount = parse_decimal(req.amount, "amount")
    if entry_type == "ADJUSTMENT" and amount == 0:
        raise _invalid("an adjustment must not be zero", Reason.INVALID_AMOUNT, "amount")
    if entry_type != "ADJUSTMENT" and amount <= 0:
        raise _invalid(
            f"a {entry_type.lower()} amount must be positive", Reason.INVALID_AMOUNT, "amount"
        )
    return BalanceOperation(
        account_id,
        entry_type,
        amount,
        request_id,
        req.reference.strip() or None,
        req.note.strip() or None,
        _method(req.method),
    )


def _request_id(value: str) -> str:
    request_id = value.strip()
    if not request_id:
        raise _invalid("request_id is required", Reason.MISSING_FIELD, "request_id")
    if len(request_id) > 64:
        raise _invalid(
            "request_id is longer than 64 characters", Reason.INVALID_REQUEST_ID, "request_id"
        )
    return request_id


# --- funds holds ---------------------------------------------------------------------------------


def parse_place_hold(req: oms_pb2.PlaceFundsHoldRequest) -> HoldRequest:
    account_id = convert.parse_account_id(req.account_id)
    request_id = _request_id(req.request_id)
    amount = parse_decimal(req.amount, "amount")
    if amount <= 0:
        raise _invalid("a hold's amount must be positive", Reason.INVALID_AMOUNT, "amount")
    return HoldRequest(
        account_id,
        amount,
        request_id,
        req.reference.strip() or None,
        req.note.strip() or None,
        _method(req.method),
    )


def parse_hold_id(value: str) -> int:
    text = value.strip()
    if not text.isdigit() or len(text) > 18:
        raise _invalid(f"hold_id must be digits, got {value!r}", "INVALID_HOLD_ID", "hold_id")
    return int(text)


def hold_to_proto(hold: HoldRow) -> oms_pb2.FundsHold:
    return oms_pb2.FundsHold(
        hold_id=str(hold.hold_id),
        account_id=str(hold.account_id),
        amount=fmt(hold.amount),
        currency=hold.currency,
        request_id=hold.request_id,
        method=hold.method or "",
        reference=hold.reference or "",
        note=hold.note or "",
        status=oms_pb2.FundsHoldStatus.Value(f"FUNDS_HOLD_STATUS_{hold.status.value}"),
        ledger_id=str(hold.ledger_id) if hold.ledger_id is not None else "",
        create_time=convert.timestamp(hold.created_at),
        update_time=convert.timestamp(hold.updated_at),
    )


_METHOD = re.compile(r"^[A-Z][A-Z_]{0,31}$")


def _method(text: str) -> str | None:
    """How the money moved: UPPER_SNAKE, at most 32 characters; empty: not said."""
    method = text.strip().upper()
    if not method:
        return None
    if not _METHOD.match(method):
        raise _invalid(
            "method must be an UPPER_SNAKE name such as BANK_TRANSFER",
            Reason.INVALID_METHOD,
            "method",
        )
    return method


def ledger_type_to_proto(entry_type: str) -> Any:
    return types_pb2.LedgerEntryType.Value(f"LEDGER_ENTRY_TYPE_{entry_type}")


def ledger_to_proto(row: LedgerRow) -> types_pb2.LedgerEntry:
    return types_pb2.LedgerEntry(
        ledger_id=str(row.ledger_id),
        account_id=str(row.account_id),
        type=ledger_type_to_proto(row.type),
        amount=fmt(row.amount),
        balance_before=fmt(row.balance_before),
        balance_after=fmt(row.balance_after),
        currency=row.currency,
        deal_id=str(row.deal_id) if row.deal_id is not None else "",
        reference=row.reference or "",
        note=row.note or "",
        create_time=convert.timestamp(row.created_at),
        method=row.method or "",
    )


# --- accounts ------------------------------------------------------------------------------------


def _leverage(value: int) -> int:
    if not 1 <= value <= 500:
        raise _invalid(f"leverage must be 1..500, got {value}", Reason.INVALID_LEVERAGE, "leverage")
    return value


def parse_create_account(req: oms_pb2.CreateAccountRequest) -> NewAccount:
    login = req.login.strip()
    if not login:
        raise _invalid("login is required", Reason.MISSING_FIELD, "login")
    if len(login) > 64 or any(c.isspace() for c in login):
        raise _invalid("login must be 1..64 characters without spaces", "INVALID_LOGIN", "login")
    if not 8 <= len(req.password) <= 128:
        raise _invalid("password must be 8..128 characters", "INVALID_PASSWORD", "password")
    if req.type == types_pb2.ACCOUNT_TYPE_UNSPECIFIED:
        raise _invalid("type is required (DEMO or LIVE)", Reason.MISSING_FIELD, "type")
    currency = req.currency.strip()
    if not currency:
        raise _invalid("currency is required", Reason.MISSING_FIELD, "currency")
    mode = "HEDGING"
    if req.margin_mode != types_pb2.MARGIN_MODE_UNSPECIFIED:
        mode = _enum_name(types_pb2.MarginMode, req.margin_mode, "MARGIN_MODE_")
    deposit = _optional_decimal(req.initial_deposit, "initial_deposit", positive=True)
    return NewAccount(
        login=login,
        password=req.password,
        type=_enum_name(types_pb2.AccountType, req.type, "ACCOUNT_TYPE_"),
        currency=currency,
        leverage=_leverage(req.leverage),
        margin_mode=mode,
        client_group=req.client_group.strip() or "retail",
        initial_deposit=deposit,
        request_id=_optional_request_id(req.request_id),
        email=_email(req.email),
        name=_text(req.name, "name", 128),
    )


def _text(value: str, field: str, longest: int) -> str | None:
    text = " ".join(value.split())
    if len(text) > longest:
        raise _invalid(
            f"{field} is longer than {longest} characters", "INVALID_" + field.upper(), field
        )
    return text or None


def _email(value: str) -> str | None:
    email = _text(value, "email", 254)
    if email is not None and (" " in email or email.count("@") != 1 or email.startswith("@")):
        raise _invalid("email is not an address", "INVALID_EMAIL", "email")
    return email


def parse_account_search(req: oms_pb2.ListAccountsRequest) -> AccountSearch:
    """ListAccounts' filters; the page token is the last account id of the previous page."""
    token = req.page_token.strip()
    if token and not token.isdigit():
        raise _invalid(
            "page_token is not one ListAccounts gave", Reason.INVALID_PAGE_TOKEN, "page_token"
        )
    return AccountSearch(
        text=" ".join(req.query.split()) or None,
        type=_enum_name(types_pb2.AccountType, req.type, "ACCOUNT_TYPE_") if req.type else None,
        status=(
            _enum_name(types_pb2.AccountStatus, req.status, "ACCOUNT_STATUS_")
            if req.status
            else None
        ),
        client_group=req.client_group.strip() or None,
        after_id=int(token) if token else 0,
    )


def _optional_request_id(text: str) -> str | None:
    request_id = text.strip()
    if len(request_id) > 64:
        raise _invalid(
            "request_id is longer than 64 characters", Reason.INVALID_REQUEST_ID, "request_id"
        )
    return request_id or None


def parse_update_account(req: oms_pb2.UpdateAccountRequest) -> tuple[AccountId, AccountChanges]:
    """The account and the changes asked for; unset / empty fields keep their value."""
    account_id = convert.parse_account_id(req.account_id)
    status = None
    if req.status != types_pb2.ACCOUNT_STATUS_UNSPECIFIED:
        status = _enum_name(types_pb2.AccountStatus, req.status, "ACCOUNT_STATUS_")
    nbp: bool | None = None
    flag = req.negative_balance_protection.strip().lower()
    if flag:
        if flag not in ("true", "false"):
            raise _invalid(
                "negative_balance_protection must be true or false",
                "INVALID_FLAG",
                "negative_balance_protection",
            )
        nbp = flag == "true"
    if req.max_open_positions < -1:
        raise _invalid(
            "max_open_positions must be -1 (keep), 0 (no limit) or positive",
            Reason.INVALID_LIMIT,
            "max_open_positions",
        )
    daily = _optional_decimal(req.max_daily_volume, "max_daily_volume", max_places=8)
    if daily is not None and daily < 0:
        raise _invalid(
            "max_daily_volume must not be negative", Reason.INVALID_LIMIT, "max_daily_volume"
        )
    call = _optional_decimal(req.margin_call_level, "margin_call_level", positive=True)
    stop_out = _optional_decimal(req.stop_out_level, "stop_out_level", max_places=4)
    if stop_out is not None and stop_out < 0:
        raise _invalid("stop_out_level must not be negative", "INVALID_LEVEL", "stop_out_level")
    return account_id, AccountChanges(
        status=status,
        leverage=_leverage(req.leverage) if req.leverage else None,
        client_group=req.client_group.strip() or None,
        margin_call_level=call,
        stop_out_level=stop_out,
        negative_balance_protection=nbp,
        max_open_positions=None if req.max_open_positions == -1 else req.max_open_positions,
        max_daily_volume=daily if daily else None,
        clear_max_daily_volume=daily == 0,
    )


# --- time windows and pages ----------------------------------------------------------------------


def _window(req: Any) -> tuple[datetime | None, datetime | None]:
    start, end = convert.time_of(req, "from_time"), convert.time_of(req, "to_time")
    if start is not None and end is not None and start >= end:
        raise _invalid("from_time must be before to_time", Reason.INVALID_TIME_RANGE, "from_time")
    return start, end


def parse_page(req: oms_pb2.ListDealsRequest | oms_pb2.ListLedgerRequest) -> PageRequest:
    if req.page_size < 0:
        raise _invalid("page_size must not be negative", "INVALID_PAGE_SIZE", "page_size")
    start, end = _window(req)
    size = min(req.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    token = req.page_token.strip()
    return PageRequest(start, end, size, decode_token(token) if token else None)


def parse_statement_window(
    req: oms_pb2.GetStatementRequest, now: datetime
) -> tuple[datetime, datetime]:
    """[from, to) of a statement; to defaults to now."""
    start, end = _window(req)
    if start is None:
        raise _invalid("from_time is required", Reason.MISSING_FIELD, "from_time")
    end = end or now
    if start >= end:
        raise _invalid("from_time must be before to_time", Reason.INVALID_TIME_RANGE, "from_time")
    return start, end


# --- risk ----------------------------------------------------------------------------------------


def _symbol(value: str) -> str:
    symbol = value.strip().upper()
    if not symbol:
        raise _invalid("symbol is required", Reason.MISSING_FIELD, "symbol")
    return symbol


def parse_calculate_lot(req: oms_pb2.CalculateLotRequest) -> LotQuery:
    account_id = convert.parse_account_id(req.account_id)
    symbol = _symbol(req.symbol)
    side = parse_side(req.side)
    amount = _optional_decimal(req.risk_amount, "risk_amount", positive=True)
    percent = _optional_decimal(req.risk_percent, "risk_percent", positive=True, max_places=4)
    if amount is None and percent is None:
        raise _invalid("give risk_amount or risk_percent", "RISK_REQUIRED", "risk_amount")
    if amount is not None and percent is not None:
        raise _invalid(
            "give risk_amount or risk_percent, not both", "RISK_AMBIGUOUS", "risk_amount"
        )
    if percent is not None and percent > 100:
        raise _invalid("risk_percent must be at most 100", "INVALID_RISK", "risk_percent")
    if req.stop_loss_points < 0:
        raise _invalid(
            "stop_loss_points must be positive", Reason.INVALID_STOP_LOSS, "stop_loss_points"
        )
    points = req.stop_loss_points or None
    stop = _optional_decimal(req.stop_loss, "stop_loss", positive=True)
    if points is None and stop is None:
        raise _invalid("give stop_loss_points or stop_loss", "STOP_LOSS_REQUIRED", "stop_loss")
    if points is not None and stop is not None:
        raise _invalid(
            "give stop_loss_points or stop_loss, not both", "STOP_LOSS_AMBIGUOUS", "stop_loss"
        )
    entry = _optional_decimal(req.entry_price, "entry_price", positive=True)
    return LotQuery(account_id, symbol, side, amount, percent, points, stop, entry)


def parse_preview_margin(req: oms_pb2.PreviewMarginRequest) -> MarginQuery:
    return MarginQuery(
        convert.parse_account_id(req.account_id),
        _symbol(req.symbol),
        parse_side(req.side),
        parse_decimal(req.volume, "volume", positive=True, max_places=8),
        _optional_decimal(req.price, "price", positive=True),
    )


# --- replies -------------------------------------------------------------------------------------


def _token(cursor: Cursor | None) -> str:
    return encode_token(cursor) if cursor is not None else ""


def ledger_page_to_proto(page: Page[LedgerRow]) -> oms_pb2.ListLedgerResponse:
    return oms_pb2.ListLedgerResponse(
        entries=[ledger_to_proto(r) for r in page.items], next_page_token=_token(page.next_cursor)
    )


def deal_page_to_proto(page: Page[DealRow]) -> oms_pb2.ListDealsResponse:
    return oms_pb2.ListDealsResponse(
        deals=[convert.deal_to_proto(d) for d in page.items],
        next_page_token=_token(page.next_cursor),
    )


def statement_to_proto(st: Statement) -> oms_pb2.GetStatementResponse:
    return oms_pb2.GetStatementResponse(
        account=convert.account_to_proto(st.account),
        from_time=convert.timestamp(st.start),
        to_time=convert.timestamp(st.end),
        opening_balance=fmt(st.opening_balance),
        closing_balance=fmt(st.closing_balance),
        totals=[
            oms_pb2.LedgerTotal(type=ledger_type_to_proto(t), amount=fmt(amount), count=n)
            for t, amount, n in st.totals
        ],
        deals=[convert.deal_to_proto(d) for d in st.deals],
        open_positions=[convert.position_to_proto(v) for v in st.positions],
        summary=convert.account_summary_to_proto(st.account, st.figures, st.at),
    )


def lot_to_proto(r: LotResult) -> oms_pb2.CalculateLotResponse:
    return oms_pb2.CalculateLotResponse(
        volume=fmt(r.volume),
        risk_amount=fmt(r.risk_amount),
        margin=fmt(r.margin),
        entry_price=fmt(r.entry_price),
        stop_loss=fmt(r.stop_loss),
    )


def preview_to_proto(p: MarginPreview) -> oms_pb2.PreviewMarginResponse:
    return oms_pb2.PreviewMarginResponse(
        margin=fmt(p.margin),
        commission=fmt(p.commission),
        free_margin_before=fmt(p.free_margin_before),
        free_margin_after=fmt(p.free_margin_after),
        margin_level_after=fmt(p.margin_level_after),
        sufficient=p.sufficient,
        currency=p.currency,
    )
