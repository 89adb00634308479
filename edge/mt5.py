"""MetaTrader 5's trade vocabulary for ``edge.routes.trade``: return codes, the request and result
shapes (MT5's own snake_case field names), MT5's enum numbers and names, and the reading of one
``MqlTradeRequest`` into oms's requests.

A request that cannot be mapped raises ``Refused`` with the retcode MT5 would give (10013 invalid
request, 10014 volume, 10015 price, 10016 stops, 10022 expiration, 10030 filling) and a comment
naming the field; nothing here does I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from edge.convert import timestamp_pb
from edge.schemas import EARLIEST, LATEST
from fxmesh.money import fmt
from fxmesh.v1 import oms_pb2, types_pb2

# --- MT5 return codes (MQL5 "Return Codes of the Trade Server") --------------------------------

CHECK_DONE: Final = 0  # order_check: the request would pass
REQUOTE: Final = 10004
REJECT: Final = 10006
PLACED: Final = 10008
DONE: Final = 10009
DONE_PARTIAL: Final = 10010
INVALID: Final = 10013
INVALID_VOLUME: Final = 10014
INVALID_PRICE: Final = 10015
INVALID_STOPS: Final = 10016
TRADE_DISABLED: Final = 10017
MARKET_CLOSED: Final = 10018
NO_MONEY: Final = 10019
PRICE_OFF: Final = 10021
INVALID_EXPIRATION: Final = 10022
ORDER_CHANGED: Final = 10023
NO_CHANGES: Final = 10025
LOCKED: Final = 10028
INVALID_FILL: Final = 10030
LIMIT_VOLUME: Final = 10034
POSITION_CLOSED: Final = 10036
LIMIT_POSITIONS: Final = 10040

DESCRIPTIONS: Final[Mapping[int, str]] = {
    CHECK_DONE: "Done",
    REQUOTE: "Requote",
    REJECT: "Request rejected",
    PLACED: "Order placed",
    DONE: "Request completed",
    DONE_PARTIAL: "Only part of the request was completed",
    INVALID: "Invalid request",
    INVALID_VOLUME: "Invalid volume in the request",
    INVALID_PRICE: "Invalid price in the request",
    INVALID_STOPS: "Invalid stops in the request",
    TRADE_DISABLED: "Trade is disabled",
    MARKET_CLOSED: "Market is closed",
    NO_MONEY: "There is not enough money to complete the request",
    PRICE_OFF: "There are no quotes to process the request",
    INVALID_EXPIRATION: "Invalid order expiration date in the request",
    ORDER_CHANGED: "Order state changed",
    NO_CHANGES: "No changes in request",
    LOCKED: "Request locked for processing",
    INVALID_FILL: "Invalid order filling type",
    LIMIT_VOLUME: "The volume of orders and positions for the symbol has reached the limit",
    POSITION_CLOSED: "Position with the specified identifier has already been closed",
    LIMIT_POSITIONS: "The number of open positions has reached the limit",
}

# --- MT5 enums: numbers as in the MetaTrader5 Python package, names with or without prefix -----

ACTIONS: Final[Mapping[str, int]] = {
    "DEAL": 1,
    "PENDING": 5,
    "SLTP": 6,
    "MODIFY": 7,
    "REMOVE": 8,
    "CLOSE_BY": 10,
}
ORDER_TYPES: Final[Mapping[str, int]] = {
    "BUY": 0,
    "SELL": 1,
    "BUY_LIMIT": 2,
    "SELL_LIMIT": 3,
    "BUY_STOP": 4,
    "SELL_STOP": 5,
    "BUY_STOP_LIMIT": 6,
    "SELL_STOP_LIMIT": 7,
}
FILLINGS: Final[Mapping[str, int]] = {"FOK": 0, "IOC": 1, "RETURN": 2}
TIMES: Final[Mapping[str, int]] = {"GTC": 0, "DAY": 1, "SPECIFIED": 2, "SPECIFIED_DAY": 3}
_PENDING_TYPES: Final[Mapping[str, types_pb2.OrderType.ValueType]] = {
    "LIMIT": types_pb2.ORDER_TYPE_LIMIT,
    "STOP": types_pb2.ORDER_TYPE_STOP,
    "STOP_LIMIT": types_pb2.ORDER_TYPE_STOP_LIMIT,
}


class Refused(Exception):
    """A request edge answers itself with ``retcode`` (nothing reached oms)."""

    def __init__(self, retcode: int, detail: str) -> None:
        super().__init__(detail)
        self.retcode = retcode
        self.detail = detail


def enum_value(
    value: int | str | None,
    table: Mapping[str, int],
    prefix: str,
    field: str,
    retcode: int = INVALID,
) -> str:
    """The short name of an MT5 enum given as its number or (prefixed) name."""
    if isinstance(value, str):
        name = value.strip().upper().removeprefix(prefix)
        if name in table:
            return name
    elif isinstance(value, int):
        for name, number in table.items():
            if number == value:
                return name
    allowed = ", ".join(f"{name} ({number})" for name, number in table.items())
    shown = "missing" if value is None else f"{value!r} is not one of {allowed}"
    raise Refused(retcode, f"{field}: {shown}")


# --- the request -------------------------------------------------------------------------------


def _mt5_number(value: Any) -> Any:
    # Decimal: a JSON number, read exactly (``_Mt5Request``). Text stays text: parsed later, so
    # that a bad volume is 10014 and a bad price 10015, not a shape error.
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, Decimal | int):
        return format(value, "f") if isinstance(value, Decimal) else str(value)
    return value


# The length bound on the text only: on ``str | None`` pydantic would apply it to None too (a 500).
Mt5Number = Annotated[
    Annotated[str, Field(max_length=40)] | None,
    BeforeValidator(_mt5_number),
    Field(default=None, examples=["0.10"]),
]
Mt5Enum = Annotated[int | str | None, Field(default=None)]
Ticket = Annotated[
    int | str,
    Field(default=0, description="A ticket (order or position number); 0: none."),
]


class TradeRequest(BaseModel):
    """MT5's ``MqlTradeRequest``, field names as MT5 writes them; unknown fields refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Mt5Enum = Field(
        default=None,
        description="TRADE_ACTION_: DEAL 1, PENDING 5, SLTP 6, MODIFY 7, REMOVE 8, "
        "CLOSE_BY 10 (number or name).",
    )
    magic: int = Field(
        default=0, ge=0, le=2**63 - 1, description="Expert Advisor id, kept on the order and deals."
    )
    order: Ticket = 0
    symbol: str = Field(default="", max_length=32)
    volume: Mt5Number = None
    price: Mt5Number = None
    stoplimit: Mt5Number = None
    sl: Mt5Number = None
    tp: Mt5Number = None
    deviation: int = Field(default=0, ge=0, le=100_000, description="Maximum slippage, points.")
    type: Mt5Enum = Field(
        default=None,
        description="ORDER_TYPE_: BUY 0, SELL 1, BUY_LIMIT 2, SELL_LIMIT 3, "
        "BUY_STOP 4, SELL_STOP 5, BUY_STOP_LIMIT 6, SELL_STOP_LIMIT 7.",
    )
    type_filling: Mt5Enum = Field(
        default=None, description="ORDER_FILLING_: FOK 0 (default), IOC 1, RETURN 2."
    )
    type_time: Mt5Enum = Field(
        default=None,
        description="ORDER_TIME_: GTC 0 (default), DAY 1, SPECIFIED 2, SPECIFIED_DAY 3.",
    )
    expiration: int | str | None = Field(
        default=None, description="Epoch seconds or ISO-8601 UTC; SPECIFIED(_DAY) only."
    )
    comment: str = Field(default="", max_length=255, description="Kept on the order and its deals.")
    position: Ticket = 0
    position_by: Ticket = 0
    client_order_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Extension: idempotency key of a DEAL or PENDING; generated when omitted.",
    )


class TradeResult(BaseModel):
    """MT5's ``MqlTradeResult`` (plus the request echoed, as the Python package's result)."""

    retcode: int = Field(examples=[DONE])
    deal: int = Field(description="Deal ticket; 0 when none is known.")
    order: int = Field(description="Order ticket; 0 when none.")
    volume: str = Field(examples=["0.10"])
    price: str = Field(examples=["1.08452"])
    bid: str
    ask: str
    comment: str
    request_id: int
    retcode_external: int
    request: dict[str, Any]


class TradeCheckResult(BaseModel):
    """MT5's ``MqlTradeCheckResult``: the account if the trade were done."""

    retcode: int = Field(examples=[CHECK_DONE])
    balance: str
    equity: str
    profit: str
    margin: str = Field(description="Margin the trade needs.")
    margin_free: str = Field(description="Free margin after the trade.")
    margin_level: str = Field(description="Margin level after the trade, percent; 0 if none.")
    comment: str
    request: dict[str, Any]


# --- parsing one request ---------------------------------------------------------------------


def price_text(value: str | None, field: str, *, required: bool, retcode: int) -> str:
    """``value`` as oms's text; ``""`` for not set (None or 0, MT5's zero)."""
    if value is None or value.strip() in ("", "0"):
        if required:
            raise Refused(retcode, f"{field} is required")
        return ""
    try:
        number = Decimal(value.strip())
    except ArithmeticError:
        raise Refused(retcode, f"{field}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise Refused(retcode, f"{field} must be a positive number")
    if number == 0:
        if required:
            raise Refused(retcode, f"{field} is required")
        return ""
    return fmt(number)


def ticket_text(value: int | str, field: str) -> str:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise Refused(INVALID, f"{field}: a ticket is a number of up to 18 digits")
    return "" if int(text) == 0 else str(int(text))


def required_ticket(value: int | str, field: str) -> str:
    ticket = ticket_text(value, field)
    if not ticket:
        raise Refused(INVALID, f"{field} is required")
    return ticket


def expiry_of(body: TradeRequest) -> datetime | None:
    """When a SPECIFIED / SPECIFIED_DAY order expires (None for GTC and DAY)."""
    kind = enum_value(
        body.type_time if body.type_time is not None else 0,
        TIMES,
        "ORDER_TIME_",
        "type_time",
        INVALID_EXPIRATION,
    )
    if kind in ("GTC", "DAY"):
        return None
    raw = body.expiration
    if raw is None or raw == 0 or raw == "":
        raise Refused(INVALID_EXPIRATION, f"expiration is required with type_time {kind}")
    try:
        if isinstance(raw, int):
            moment = datetime.fromtimestamp(raw, UTC)
        else:
            moment = datetime.fromisoformat(raw)
            if moment.tzinfo is None:
                raise ValueError(raw)
            moment = moment.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise Refused(
            INVALID_EXPIRATION, "expiration: epoch seconds or ISO-8601 with an offset"
        ) from None
    if not EARLIEST <= moment < LATEST - timedelta(days=1):
        raise Refused(INVALID_EXPIRATION, "expiration is out of range")
    if kind == "SPECIFIED_DAY":
        # MT5: "till 23:59:59 of the specified day" (server time, UTC here).
        moment = datetime.combine(moment.date(), time(23, 59, 59), UTC)
    return moment


def _order_type(body: TradeRequest) -> tuple[types_pb2.Side.ValueType, str]:
    """Side and kind ("" for market, LIMIT, STOP, STOP_LIMIT) of ``type``."""
    name = enum_value(body.type, ORDER_TYPES, "ORDER_TYPE_", "type")
    side_name, _, kind = name.partition("_")
    return types_pb2.Side.Value(f"SIDE_{side_name}"), kind


def _time_in_force(body: TradeRequest) -> types_pb2.TimeInForce.ValueType:
    kind = enum_value(
        body.type_time if body.type_time is not None else 0,
        TIMES,
        "ORDER_TIME_",
        "type_time",
        INVALID_EXPIRATION,
    )
    return {
        "GTC": types_pb2.TIME_IN_FORCE_GTC,
        "DAY": types_pb2.TIME_IN_FORCE_DAY,
    }.get(kind, types_pb2.TIME_IN_FORCE_GTD)


def filling_of(body: TradeRequest, *, market: bool) -> types_pb2.TimeInForce.ValueType:
    filling = enum_value(
        body.type_filling if body.type_filling is not None else 0,
        FILLINGS,
        "ORDER_FILLING_",
        "type_filling",
        INVALID_FILL,
    )
    if not market:
        return types_pb2.TIME_IN_FORCE_UNSPECIFIED  # pending orders: type_time decides
    if filling == "RETURN":
        # oms never leaves a market order's remainder working.
        raise Refused(INVALID_FILL, "type_filling: market orders are FOK or IOC")
    return types_pb2.TimeInForce.Value(f"TIME_IN_FORCE_{filling}")


def _symbol(body: TradeRequest) -> str:
    if not body.symbol.strip():
        raise Refused(INVALID, "symbol is required")
    return body.symbol.strip()


def place_request(account_id: str, body: TradeRequest) -> oms_pb2.PlaceOrderRequest:
    """DEAL (opening) or PENDING as oms's PlaceOrder."""
    action = enum_value(body.action, ACTIONS, "TRADE_ACTION_", "action")
    side, kind = _order_type(body)
    market = action == "DEAL"
    if market and kind:
        raise Refused(INVALID, f"type: a DEAL is BUY or SELL, not {body.type!r}")
    if not market and not kind:
        raise Refused(INVALID, "type: a PENDING order is *_LIMIT, *_STOP or *_STOP_LIMIT")
    request = oms_pb2.PlaceOrderRequest(
        account_id=account_id,
        client_order_id=body.client_order_id or f"mt5-{uuid.uuid4().hex}",
        symbol=_symbol(body),
        side=side,
        type=_PENDING_TYPES[kind] if kind else types_pb2.ORDER_TYPE_MARKET,
        volume=price_text(body.volume, "volume", required=True, retcode=INVALID_VOLUME),
        stop_loss=price_text(body.sl, "sl", required=False, retcode=INVALID_STOPS),
        take_profit=price_text(body.tp, "tp", required=False, retcode=INVALID_STOPS),
        time_in_force=filling_of(body, market=market),
        magic=body.magic,
        comment=body.comment,
    )
    if market:
        request.requested_price = price_text(
            body.price, "price", required=False, retcode=INVALID_PRICE
        )
        request.deviation_points = body.deviation
        return request
    request.price = price_text(body.price, "price", required=True, retcode=INVALID_PRICE)
    if kind == "STOP_LIMIT":
        request.stop_limit_price = price_text(
            body.stoplimit, "stoplimit", required=True, retcode=INVALID_PRICE
        )
    request.time_in_force = _time_in_force(body)
    expiry = expiry_of(body)
    if expiry is not None:
        request.expire_time.CopyFrom(timestamp_pb(expiry))
    return request


def modify_level(value: str | None, field: str) -> str:
    # MT5 sends the full state: 0 (or omitted) removes the level.
    return price_text(value, field, required=False, retcode=INVALID_STOPS) or "0"
