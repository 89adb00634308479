"""OpenAPI documentation of the client API's responses, derived from the fxmesh.v1 messages.

Routes answer ``edge.convert.to_json(reply)``; ``json_model`` builds the pydantic model of exactly
that shape from the message descriptor, so the document cannot drift from the contract. The models
only document: responses are not validated through them (no cost on the order path).
"""

from __future__ import annotations

from datetime import datetime
from types import GenericAlias
from typing import Any, Literal

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ConfigDict, Field, create_model
from pydantic.alias_generators import to_camel

from edge.convert import enum_prefix, is_repeated
from fxmesh.reasons import Reason

_MODELS: dict[str, type[BaseModel]] = {}
_STRINGS = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64)
_NULLABLE = (FieldDescriptor.TYPE_STRING, FieldDescriptor.TYPE_ENUM, FieldDescriptor.TYPE_MESSAGE)


class ErrorBody(BaseModel):
    """Every error: a machine-readable ``code`` (UPPER_SNAKE reason), a message and details."""

    code: str = Field(examples=[Reason.ORDER_NOT_FOUND])
    message: str
    details: dict[str, Any] = Field(
        description="Reason metadata; for 422s ``errors``: [{field, type, message}]."
    )


class LoginResponse(BaseModel):
    """A client access token."""

    model_config = ConfigDict(alias_generator=to_camel)

    access_token: str
    token_type: Literal["Bearer"]
    expires_at: datetime
    account_id: str
    refresh_token: str = Field(description="Single use: POST /api/token/refresh rotates it.")
    refresh_expires_in: int = Field(description="Seconds the refresh token stays valid unused.")


class TickJson(BaseModel):
    """One client tick (the price clients were quoted, markup applied)."""

    time: datetime
    bid: str = Field(examples=["1.08444"])
    ask: str = Field(examples=["1.08456"])


class TicksResponse(BaseModel):
    """Ticks of a symbol, newest first."""

    symbol: str
    ticks: list[TickJson]


class CandleJson(BaseModel):
    """One bar of the client bid."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    time: datetime = Field(description="Start of the bucket, UTC.")
    open: str = Field(description="First bid of the bucket.", examples=["1.08444"])
    high: str
    low: str
    close: str = Field(description="Last bid of the bucket (so far, for the current candle).")
    tick_volume: int = Field(description="Client ticks in the bucket.")
    spread: int = Field(description="The smallest spread (ask - bid) of the bucket, in points.")


class OhlcResponse(BaseModel):
    """Candles of a symbol, oldest first; the last one may be the current (live) candle."""

    symbol: str
    timeframe: str = Field(examples=["1h"])
    candles: list[CandleJson]


class SessionJson(BaseModel):
    """A trading window on one weekday, UTC, [from, to)."""

    model_config = ConfigDict(populate_by_name=True)

    day: Literal["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]
    from_: str = Field(alias="from", examples=["00:00"])
    to: str = Field(examples=["24:00"], description="24:00 is the end of the day.")


class SymbolJson(BaseModel):
    """A symbol's contract specification (oms) and current client quote (null without one)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    symbol: str = Field(examples=["EURUSD"])
    description: str = Field(examples=["Euro vs US Dollar"])
    type: Literal["FX", "METAL", "CRYPTO", "INDEX", "COMMODITY", "STOCK", "ENERGY"]
    base_currency: str = Field(examples=["EUR"])
    quote_currency: str = Field(description="Profit currency.", examples=["USD"])
    digits: int = Field(examples=[5])
    point: str = Field(description="10^-digits.", examples=["0.00001"])
    pip_size: str = Field(
        description="10 points on 3/5-digit symbols, else 1.", examples=["0.0001"]
    )
    contract_size: str = Field(description="Units in one lot.", examples=["100000"])
    volume_min: str = Field(examples=["0.01"])
    volume_max: str = Field(examples=["50"])
    volume_step: str = Field(examples=["0.01"])
    margin_percent: str = Field(description="Of the leverage-based margin.", examples=["100"])
    commission_per_lot: str = Field(description="Per lot per side.", examples=["3.50"])
    commission_currency: str
    swap_long_points: str = Field(description="Per lot per day, in points.", examples=["-6.50"])
    swap_short_points: str
    swap_triple_day: str | None = Field(
        description="Weekday whose rollover books three days.", examples=["WEDNESDAY"]
    )
    stops_level_points: int = Field(description="Minimum SL / TP / pending distance, points.")
    default_deviation_points: int
    sessions: list[SessionJson] = Field(description="Empty: always open.")
    session_open: bool = Field(description="Whether a session is open now.")
    enabled: bool
    bid: str | None
    ask: str | None
    spread: int | None = Field(description="ask - bid, in points.")
    quote_time: datetime | None


class SymbolsResponse(BaseModel):
    """Every symbol, by name."""

    symbols: list[SymbolJson]


def _element_type(field: Any) -> Any:
    """The type of one value of ``field`` in the client JSON (null aside)."""
    if field.type == FieldDescriptor.TYPE_ENUM:
        prefix = enum_prefix(field.enum_type)
        return Literal[
            tuple(v.name.removeprefix(prefix) for v in field.enum_type.values if v.number != 0)
        ]
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == Timestamp.DESCRIPTOR.full_name:
            return datetime
        return json_model(field.message_type)
    if field.type in _STRINGS:
        # int64 ids travel as strings (JavaScript numbers lose digits past 2**53).
        return str
    if field.type == FieldDescriptor.TYPE_BOOL:
        return bool
    return int


def json_model(descriptor: Any) -> type[BaseModel]:
    """The pydantic model of ``to_json`` of a message of type ``descriptor`` (cached)."""
    model = _MODELS.get(descriptor.full_name)
    if model is not None:
        return model
    fields: dict[str, Any] = {}
    for field in descriptor.fields:
        element = _element_type(field)
        if is_repeated(field):
            kind: Any = GenericAlias(list, (element,))
        elif field.type in _NULLABLE:
            # Unset messages, *_UNSPECIFIED enums and empty strings are null.
            kind = element | None
        else:
            kind = element
        fields[field.json_name] = (kind, ...)
    model = create_model(descriptor.name, __config__=ConfigDict(title=descriptor.name), **fields)
    _MODELS[descriptor.full_name] = model
    return model


ERROR_STATUSES = {
    400: "Malformed value (reason in ``code``, e.g. INVALID_DECIMAL) or refused by oms.",
    401: "Missing, invalid or expired token (UNAUTHENTICATED).",
    404: "Not found for this account (e.g. ORDER_NOT_FOUND, POSITION_NOT_FOUND), UNKNOWN_SYMBOL.",
    403: "Not allowed for this account (e.g. ACCOUNT_CLOSED, TRADE_DISABLED).",
    409: "Not possible in the current state (e.g. ORDER_NOT_WORKING).",
    413: "Request body larger than the limit (PAYLOAD_TOO_LARGE).",
    422: "Request shape refused (e.g. DECIMAL_MUST_BE_STRING, INVALID_TIMESTAMP).",
    429: "Over the account's rate limit of the route class (RATE_LIMITED, with Retry-After and "
    "RateLimit-* headers), too many failed logins (LOGIN_THROTTLED), or a limit of the server.",
    503: "oms (or, for market history, quotes) unavailable, or overloaded (with Retry-After). "
    "Send an order's retries with the same Idempotency-Key header as its first try (its "
    "clientOrderId will do): a retry then goes ahead of later first attempts, and the "
    "Retry-After of its refusals is when its turn in line comes.",
    504: "No answer in time; for an order, the details name the clientOrderId to retry with.",
}


def responses(
    reply: type[Message] | type[BaseModel], **extra: Any
) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route answering ``to_json(reply)`` (plus ``extra`` top-level fields),
    or the pydantic model ``reply``; with the error body for every error status."""
    model: type[BaseModel]
    if issubclass(reply, BaseModel):
        model = reply
    else:
        model = json_model(reply.DESCRIPTOR)
        if extra:
            name = reply.DESCRIPTOR.name.removesuffix("Response") + "Result"
            model = create_model(name, __base__=model, **extra)
    documented: dict[int | str, dict[str, Any]] = {200: {"model": model}}
    for status, description in ERROR_STATUSES.items():
        documented[status] = {"model": ErrorBody, "description": description}
    return documented
