"""Request models of the client API (camelCase JSON bodies and query strings).

Decimals must be JSON strings: FastAPI parses the body with ``json.loads``, so a JSON number would
reach us already as a binary float (``0.1`` is not 0.1, 1.00000000000000001 is 1.0); we cannot
guarantee exactness, so a number is refused with ``DECIMAL_MUST_BE_STRING`` instead of being rounded.
Whether a decimal string is a number (and positive) is checked by ``edge.convert`` with
``fxmesh.money.parse_decimal``: 400 ``INVALID_DECIMAL``, the same reason oms would give.

Shape errors found here are 422s whose ``code`` names the problem (``VALIDATION_CODES``); anything
not listed there is ``VALIDATION_ERROR``. The account is never part of a request: it comes from the
token, and ``extra="forbid"`` refuses a body that names one.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from fastapi import Path
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

from fxmesh.reasons import Reason

DECIMAL_MUST_BE_STRING = "DECIMAL_MUST_BE_STRING"
INVALID_TIMESTAMP = "INVALID_TIMESTAMP"
EXPIRE_TIME_REQUIRED = "EXPIRE_TIME_REQUIRED"
EXPIRE_TIME_NOT_ALLOWED = "EXPIRE_TIME_NOT_ALLOWED"
EXACTLY_ONE_OF = "EXACTLY_ONE_OF"
NOTHING_TO_MODIFY = "NOTHING_TO_MODIFY"
# The 422 ``code`` for edge's own validation error types (the rest are VALIDATION_ERROR).
VALIDATION_CODES = {
    code.lower(): code
    for code in (
        DECIMAL_MUST_BE_STRING,
        Reason.INVALID_ORDER_ID,
        Reason.INVALID_POSITION_ID,
        INVALID_TIMESTAMP,
        Reason.INVALID_TIME_RANGE,
        EXPIRE_TIME_REQUIRED,
        EXPIRE_TIME_NOT_ALLOWED,
        EXACTLY_ONE_OF,
        NOTHING_TO_MODIFY,
        Reason.INVALID_TIMEFRAME,
        Reason.LIMIT_OUT_OF_RANGE,
    )
}
# Bounds keep month arithmetic (statement defaults) and protobuf Timestamps in range.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 1, 1, tzinfo=UTC)
# oms ids are bigint identities.
ID_PATTERN = r"^[0-9]{1,18}$"


def _error(code: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(code.lower(), message)


def _decimal_string(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise _error(
            DECIMAL_MUST_BE_STRING,
            'decimals must be sent as JSON strings, e.g. "0.10", so that they stay exact',
        )
    return value


DecimalString = Annotated[
    str,
    BeforeValidator(_decimal_string),
    Field(min_length=1, max_length=40, examples=["0.10"]),
]


def _id_checker(code: str, what: str) -> Any:
    def check(value: Any) -> Any:
        # isdigit alone accepts non-ASCII digits ("٣") and superscripts.
        if not isinstance(value, str) or not (value.isascii() and value.isdigit()):
            raise _error(code, f"{what} is a number of up to 18 digits")
        if len(value) > 18:
            raise _error(code, f"{what} is a number of up to 18 digits")
        return value

    return check


_order_id = _id_checker(Reason.INVALID_ORDER_ID, "an order id")
_position_id = _id_checker(Reason.INVALID_POSITION_ID, "a position id")
# The validator comes last so that it wraps (runs before) the pattern: its code names the problem.
OrderIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, description="Order number."), BeforeValidator(_order_id)
]
PositionIdPath = Annotated[
    str, Path(pattern=ID_PATTERN, description="Position number."), BeforeValidator(_position_id)
]
PositionId = Annotated[str, Field(pattern=ID_PATTERN), BeforeValidator(_position_id)]


def _iso_timestamp(value: Any) -> datetime:
    """ISO-8601 with a UTC offset (``2026-03-02T10:00:00Z``) or a date (midnight UTC).

    A local time without an offset is refused rather than guessed; numbers (epoch?) too.
    """
    bad = _error(
        INVALID_TIMESTAMP,
        'expected ISO-8601 UTC, e.g. "2026-03-02T10:00:00Z" or "2026-03-02"',
    )
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            if len(value) == 10:
                parsed = datetime.combine(date.fromisoformat(value), time(), UTC)
            else:
                parsed = datetime.fromisoformat(value)
        except ValueError:
            raise bad from None
    else:
        raise bad
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise bad
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise bad from None
    if not EARLIEST <= parsed < LATEST:
        raise _error(INVALID_TIMESTAMP, "timestamps must lie in the years 1970 to 9998")
    return parsed


IsoTimestamp = Annotated[
    datetime,
    BeforeValidator(_iso_timestamp),
    Field(examples=["2026-03-02T10:00:00Z"]),
]


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise _error(Reason.INVALID_TIME_RANGE, "from must be before to")


def _exactly_one(model: BaseModel, *names: str) -> None:
    given = [n for n in names if getattr(model, n) is not None]
    if len(given) != 1:
        fields = " or ".join(to_camel(n) for n in names)
        raise _error(EXACTLY_ONE_OF, f"give exactly one of {fields}")


class ApiModel(BaseModel):
    """Base of every request body: camelCase, unknown fields refused, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


Symbol = Annotated[str, Field(min_length=1, max_length=32, examples=["EURUSD"])]
ClientOrderId = Annotated[
    str, Field(min_length=1, max_length=64, description="Idempotency key, unique per account.")
]
DeviationPoints = Annotated[
    int | None,
    Field(
        default=None,
        ge=0,
        le=100_000,
        strict=True,
        description="Maximum slippage from requestedPrice in points; omitted: symbol default.",
    ),
]
StopLevel = Annotated[
    DecimalString | None,
    Field(default=None, description='Price; omitted or "0": none.'),
]
KeepOrRemove = Annotated[
    DecimalString | None,
    Field(default=None, description='Omitted or null: keep; "0": remove; else the new price.'),
]
TrailingPoints = Annotated[
    int | None,
    Field(
        default=None,
        ge=0,
        le=1_000_000,
        strict=True,
        description="Points; omitted or null: keep; 0: trailing stop off.",
    ),
]


class LoginRequest(ApiModel):
    """Client credentials."""

    login: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


class RefreshRequest(ApiModel):
    """A refresh token from the last login or refresh."""

    refresh_token: str = Field(min_length=1, max_length=256)


class MarketOrderRequest(ApiModel):
    """A market order: filled now at the current quote (within the deviation) or rejected."""

    symbol: Symbol
    side: Literal["BUY", "SELL"]
    volume: DecimalString
    client_order_id: ClientOrderId
    requested_price: DecimalString | None = Field(
        default=None, description="The price the client saw; omitted: any price."
    )
    deviation_points: DeviationPoints = None
    stop_loss: StopLevel = None
    take_profit: StopLevel = None
    time_in_force: Literal["IOC", "FOK"] | None = Field(
        default=None,
        description="IOC fills what it can and cancels the rest; FOK all or nothing. "
        "Omitted: the server default (IOC).",
    )


class PendingOrderRequest(ApiModel):
    """A limit or stop order: works until its price is reached, it is cancelled or it expires."""

    symbol: Symbol
    side: Literal["BUY", "SELL"]
    volume: DecimalString
    price: DecimalString = Field(description="Limit or stop (trigger) price.")
    client_order_id: ClientOrderId
    stop_loss: StopLevel = None
    take_profit: StopLevel = None
    time_in_force: Literal["GTC", "DAY", "GTD"] = "GTC"
    expire_time: IsoTimestamp | None = Field(
        default=None, description="GTD only (required there): when the order expires."
    )

    @model_validator(mode="after")
    def _expiry_matches_time_in_force(self) -> PendingOrderRequest:
        if self.time_in_force == "GTD" and self.expire_time is None:
            raise _error(EXPIRE_TIME_REQUIRED, "a GTD order needs expireTime")
        if self.time_in_force != "GTD" and self.expire_time is not None:
            raise _error(EXPIRE_TIME_NOT_ALLOWED, "expireTime is only for GTD orders")
        return self


class StopLimitOrderRequest(PendingOrderRequest):
    """A stop-limit order: when ``price`` (the stop) is reached, a limit at stopLimitPrice works."""

    stop_limit_price: DecimalString = Field(description="Limit price placed on trigger.")


class ModifyOrderRequest(ApiModel):
    """New values for a working order; omitted fields keep their value."""

    price: DecimalString | None = Field(default=None, description="Omitted: keep.")
    stop_limit_price: DecimalString | None = Field(
        default=None, description="STOP_LIMIT only; omitted: keep."
    )
    stop_loss: KeepOrRemove = None
    take_profit: KeepOrRemove = None
    expire_time: IsoTimestamp | None = Field(default=None, description="GTD only; omitted: keep.")

    @model_validator(mode="after")
    def _something_to_modify(self) -> ModifyOrderRequest:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise _error(NOTHING_TO_MODIFY, "give at least one field to change")
        return self


class ClosePositionRequest(ApiModel):
    """Close a whole position at the market."""

    client_order_id: ClientOrderId
    requested_price: DecimalString | None = Field(
        default=None,
        description="The closing price the client saw (bid for a buy, ask for a sell).",
    )
    deviation_points: DeviationPoints = None


class PartialCloseRequest(ClosePositionRequest):
    """Close part of a position at the market."""

    volume: DecimalString = Field(description="Lots to close.")


class ModifyPositionRequest(ApiModel):
    """New protection for a position; omitted fields keep their value."""

    stop_loss: KeepOrRemove = None
    take_profit: KeepOrRemove = None
    trailing_distance_points: TrailingPoints = None
    trailing_step_points: TrailingPoints = None

    @model_validator(mode="after")
    def _something_to_modify(self) -> ModifyPositionRequest:
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise _error(NOTHING_TO_MODIFY, "give at least one field to change")
        return self


class CloseAllRequest(ApiModel):
    """Close every open position (optionally of one symbol) at the market."""

    symbol: Symbol | None = None
    request_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        description="Idempotency key of the whole close-all; omitted: the server makes one "
        "(returned as requestId, send it again to retry).",
    )


class CloseByRequest(ApiModel):
    """Close a position against an opposite position of the same symbol (hedging accounts)."""

    opposite_position_id: PositionId


class CalculateLotRequest(ApiModel):
    """Size a trade so that its stop loss loses a given amount (or percent of equity)."""

    symbol: Symbol
    side: Literal["BUY", "SELL"]
    risk_amount: DecimalString | None = Field(
        default=None, description="Money to risk, account currency (or riskPercent)."
    )
    risk_percent: DecimalString | None = Field(
        default=None, description="Percent of equity to risk (or riskAmount)."
    )
    stop_loss_points: int | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        strict=True,
        description="Stop distance in points (or stopLoss).",
    )
    stop_loss: DecimalString | None = Field(
        default=None, description="Stop loss price (or stopLossPoints)."
    )
    entry_price: DecimalString | None = Field(
        default=None, description="Omitted: the current quote."
    )

    @model_validator(mode="after")
    def _one_risk_one_stop(self) -> CalculateLotRequest:
        _exactly_one(self, "risk_amount", "risk_percent")
        _exactly_one(self, "stop_loss_points", "stop_loss")
        return self


class MarginPreviewRequest(ApiModel):
    """A hypothetical order whose margin and effect on the account to show."""

    symbol: Symbol
    side: Literal["BUY", "SELL"]
    volume: DecimalString
    price: DecimalString | None = Field(default=None, description="Omitted: the current quote.")


class QueryModel(BaseModel):
    """Base of query-string models: camelCase; unknown parameters are ignored (cache busters)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


class CalculateLotQuery(QueryModel):
    """The design's lot calculator: risk percent of equity, stop in pips (or points)."""

    symbol: Symbol
    risk: DecimalString = Field(description="Percent of equity to risk, e.g. 2.")
    sl_pips: DecimalString | None = Field(
        default=None,
        description="Stop distance in pips (10 points on 3- and 5-digit quotes), or slPoints.",
    )
    sl_points: int | None = Field(
        default=None, gt=0, le=1_000_000, description="Stop distance in points (or slPips)."
    )
    side: Literal["BUY", "SELL"] = "BUY"

    @model_validator(mode="after")
    def _one_stop(self) -> CalculateLotQuery:
        _exactly_one(self, "sl_pips", "sl_points")
        return self


class MarginPreviewQuery(QueryModel):
    """The design's margin preview of a hypothetical order."""

    symbol: Symbol
    volume: DecimalString
    side: Literal["BUY", "SELL"]
    price: DecimalString | None = Field(default=None, description="Omitted: the current quote.")


class TimeRangeQuery(QueryModel):
    """``[from, to)`` in UTC."""

    from_time: IsoTimestamp | None = Field(default=None, alias="from")
    to_time: IsoTimestamp | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _ordered(self) -> TimeRangeQuery:
        _check_range(self.from_time, self.to_time)
        return self


class PageQuery(TimeRangeQuery):
    """One page of a list, newest first."""

    page_size: int | None = Field(default=None, ge=1, le=1000, description="Omitted: 100.")
    page_token: str | None = Field(
        default=None, min_length=1, max_length=512, description="nextPageToken of the last page."
    )


class OrdersQuery(PageQuery):
    """Working orders (``open``) or every order created in [from, to) (``history``)."""

    view: Literal["open", "history"] = "open"


def _month_start(moment: datetime) -> datetime:
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    """Midnight UTC of the first day of the month after ``moment``'s month."""
    start = _month_start(moment)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def statement_period(query: TimeRangeQuery, now: datetime) -> tuple[datetime, datetime]:
    """The statement's ``[from, to)``; by default the calendar month (UTC) of ``now``.

    Only ``from`` given: to its month's end. Only ``to`` given: from the start of the month that
    ``to`` ends (``to=2026-03-01`` is February).
    """
    if query.from_time is None and query.to_time is None:
        start = _month_start(now)
        return start, next_month(start)
    if query.to_time is None:
        assert query.from_time is not None
        return query.from_time, next_month(query.from_time)
    if query.from_time is None:
        return _month_start(query.to_time - timedelta(microseconds=1)), query.to_time
    return query.from_time, query.to_time


# --- market data -------------------------------------------------------------------------------

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w")
"""Candle widths of ``GET /api/ohlc`` (quotes' ``Timeframe`` values)."""
MARKET_DEFAULT_LIMIT = 500
MARKET_MAX_LIMIT = 5000
"""A larger ``limit`` is refused (422 LIMIT_OUT_OF_RANGE), never silently cut."""


def _timeframe(value: Any) -> Any:
    if value not in TIMEFRAMES:
        raise _error(Reason.INVALID_TIMEFRAME, f"timeframe must be one of {', '.join(TIMEFRAMES)}")
    return value


def _market_limit(value: Any) -> Any:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _error(
            Reason.LIMIT_OUT_OF_RANGE, f"limit is a whole number from 1 to {MARKET_MAX_LIMIT}"
        ) from None
    if not 1 <= number <= MARKET_MAX_LIMIT or str(number) != str(value).strip():
        raise _error(
            Reason.LIMIT_OUT_OF_RANGE, f"limit is a whole number from 1 to {MARKET_MAX_LIMIT}"
        )
    return number


def _market_symbol(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


# Validators come last so that they wrap (run before) the constraints.
MarketSymbol = Annotated[
    str,
    Field(pattern=r"^[A-Za-z0-9._]{1,32}$", examples=["EURUSD"]),
    BeforeValidator(_market_symbol),
]
SymbolPath = Annotated[
    str,
    Path(pattern=r"^[A-Za-z0-9._-]{1,32}$", description="Symbol.", examples=["EURUSD"]),
    BeforeValidator(_market_symbol),
]
MarketLimit = Annotated[
    int,
    Field(
        ge=1,
        le=MARKET_MAX_LIMIT,
        description=f"How many, newest first in the window; at most {MARKET_MAX_LIMIT} (more is "
        "422 LIMIT_OUT_OF_RANGE).",
    ),
    BeforeValidator(_market_limit),
]
Timeframe = Annotated[
    Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d", "1w"],
    Field(description="Candle width (else 422 INVALID_TIMEFRAME listing these)."),
    BeforeValidator(_timeframe),
]


class TicksQuery(TimeRangeQuery):
    """Client ticks of one symbol in ``[from, to)``."""

    symbol: MarketSymbol
    limit: MarketLimit = MARKET_DEFAULT_LIMIT


class OhlcQuery(TicksQuery):
    """Candles of one symbol starting in ``[from, to)``."""

    timeframe: Timeframe
