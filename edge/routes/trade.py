"""MetaTrader 5 compatibility: ``order_send`` as ``POST /api/trade``, ``order_check`` as
``POST /api/trade/check``.

A bot written for MetaTrader 5's ``order_send`` ports by changing only its transport: the request
is MT5's ``MqlTradeRequest`` with MT5's own field names (snake_case, the exception to the client
API's camelCase), and the answer is MT5's ``MqlTradeResult`` with its ``retcode``. Each action
maps onto one oms RPC:

| action | oms RPC |
|---|---|
| DEAL (no ``position``) | PlaceOrder, type MARKET (``type_filling`` FOK / IOC; RETURN is 10030) |
| DEAL with ``position`` | ClosePosition (``volume`` of it, at the market) |
| PENDING | PlaceOrder, LIMIT / STOP / STOP_LIMIT (``price`` the trigger, ``stoplimit`` the limit) |
| SLTP | ModifyPosition (``sl`` / ``tp`` as MT5 sends them: 0 removes) |
| MODIFY | ModifyOrder (``order``; ``price``, ``stoplimit``, ``sl``, ``tp``, expiry) |
| REMOVE | CancelOrder (``order``) |
| CLOSE_BY | CloseBy (``position``, ``position_by``) |

Everything oms answers about the trade is a 200 with a ``retcode`` (``RETCODE_BY_REASON``, the one
table from oms's reject reasons to MT5's codes); so is a request edge cannot map (10013, the
``comment`` naming the field). What is not about the trade stays an HTTP error in the house shape:
401 (token), 429 (rate limit), 503 ``OVERLOADED``, 504 ``ORDER_OUTCOME_UNKNOWN`` (send the same
request again with the ``client_order_id`` it names).

Values: enums as MT5's numbers (``"action": 1``) or names (``"DEAL"`` or ``"TRADE_ACTION_DEAL"``);
prices and volumes as JSON numbers (read exactly, as decimals, never through a binary float) or
decimal strings; 0 means "not set", as in MT5's zero-initialised struct. ``expiration`` is epoch
seconds (MT5's datetime) or ISO-8601 UTC. Answers carry decimals as strings (exact) and tickets as
integers (0: none). ``magic`` and ``comment`` are kept on the order (DEAL, PENDING, a close) and
on its deals, and come back in history (``/api/account/orders``, ``/api/account/trades``) and in
the echoed ``request``. ``client_order_id`` is an optional extension: the idempotency
key of a DEAL or PENDING (generated when omitted).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import grpc
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from redis.exceptions import RedisError

from edge.calls import call, call_order
from edge.convert import timestamp_pb
from edge.deps import Client, Resources
from edge.mt5 import (
    ACTIONS,
    CHECK_DONE,
    DESCRIPTIONS,
    DONE,
    DONE_PARTIAL,
    INVALID,
    INVALID_EXPIRATION,
    INVALID_PRICE,
    INVALID_STOPS,
    INVALID_VOLUME,
    LIMIT_POSITIONS,
    LIMIT_VOLUME,
    LOCKED,
    MARKET_CLOSED,
    NO_CHANGES,
    NO_MONEY,
    ORDER_CHANGED,
    PLACED,
    POSITION_CLOSED,
    PRICE_OFF,
    REJECT,
    REQUOTE,
    TRADE_DISABLED,
    Refused,
    TradeCheckResult,
    TradeRequest,
    TradeResult,
    enum_value,
    expiry_of,
    filling_of,
    modify_level,
    place_request,
    price_text,
    required_ticket,
    ticket_text,
)
from edge.openapi import responses
from fxmesh.errors import FxError
from fxmesh.money import fmt
from fxmesh.quotecache import read_quote
from fxmesh.reasons import Reason
from fxmesh.v1 import oms_pb2, types_pb2

# The one table from oms's reasons (a REJECTED order's rejectReason, or the reason of an error oms
# answered) to MT5's retcode. A reason not listed: 10006 for a rejected order, 10013 for a request
# oms refused. INVALID_DECIMAL / INVALID_PRECISION go by the field they name (``_FIELD_RETCODES``).
# Keys are ``fxmesh.reasons.Reason`` members but PRICE_CHANGED and ORDER_NOT_WORKING: no fxmesh
# service raises those today (only edge's test double of oms does), so they stay local here.
RETCODE_BY_REASON: Final[Mapping[str, int]] = {
    # the price moved past the deviation (bbook, A-book desk)
    Reason.PRICE_DEVIATION_EXCEEDED: REQUOTE,
    "PRICE_CHANGED": REQUOTE,
    Reason.LIMIT_NOT_REACHED: REQUOTE,
    # the venue refused or could not execute
    Reason.EXECUTION_REJECTED: REJECT,
    Reason.EXECUTION_UNAVAILABLE: REJECT,
    Reason.NOT_EXECUTED: REJECT,
    Reason.LP_REJECTED: REJECT,
    Reason.LP_EXPIRED: REJECT,
    Reason.LP_CANCELLED: REJECT,
    Reason.LP_TIMEOUT: REJECT,
    Reason.LP_UNAVAILABLE: REJECT,
    Reason.BOOK_UNAVAILABLE: REJECT,
    # the request itself
    Reason.MISSING_FIELD: INVALID,
    Reason.INVALID_FIELD: INVALID,
    Reason.INVALID_SIDE: INVALID,
    Reason.INVALID_SYMBOL: INVALID,
    Reason.UNKNOWN_SYMBOL: INVALID,
    Reason.INVALID_ORDER_ID: INVALID,
    Reason.ORDER_NOT_FOUND: INVALID,
    Reason.POSITION_NOT_FOUND: INVALID,
    Reason.SAME_POSITION: INVALID,
    Reason.INVALID_CLIENT_ORDER_ID: INVALID,
    Reason.CLIENT_ORDER_ID_REUSED: INVALID,
    Reason.IDEMPOTENCY_KEY_REUSED: INVALID,
    Reason.INVALID_DEVIATION: INVALID,
    Reason.VOLUME_TOO_SMALL: INVALID_VOLUME,
    Reason.VOLUME_TOO_LARGE: INVALID_VOLUME,
    Reason.VOLUME_STEP: INVALID_VOLUME,
    Reason.INVALID_PRICE: INVALID_PRICE,
    Reason.INVALID_STOPS: INVALID_STOPS,
    Reason.INVALID_STOP_LOSS: INVALID_STOPS,
    Reason.STOP_LOSS_WRONG_SIDE: INVALID_STOPS,
    Reason.INVALID_EXPIRATION: INVALID_EXPIRATION,
    # the account, the symbol, the market
    Reason.SYMBOL_DISABLED: TRADE_DISABLED,
    Reason.ORDERS_DISABLED: TRADE_DISABLED,
    Reason.ACCOUNT_NOT_ACTIVE: TRADE_DISABLED,
    Reason.ACCOUNT_CLOSED: TRADE_DISABLED,
    Reason.CLOSE_BY_NOT_ALLOWED: TRADE_DISABLED,
    Reason.MARKET_CLOSED: MARKET_CLOSED,
    Reason.NOT_ENOUGH_MONEY: NO_MONEY,
    Reason.NOT_ENOUGH_FREE_MARGIN: NO_MONEY,
    Reason.NO_QUOTE: PRICE_OFF,
    Reason.QUOTE_STALE: PRICE_OFF,
    Reason.NO_LIQUIDITY: PRICE_OFF,
    Reason.MAX_DAILY_VOLUME: LIMIT_VOLUME,
    Reason.MAX_POSITIONS: LIMIT_POSITIONS,
    Reason.MAX_POSITION_SIZE: LIMIT_VOLUME,
    # the order or position as it stands
    "ORDER_NOT_WORKING": ORDER_CHANGED,
    Reason.ORDER_NOT_MODIFIABLE: ORDER_CHANGED,
    Reason.ORDER_NOT_CANCELLABLE: ORDER_CHANGED,
    Reason.NO_CHANGES: NO_CHANGES,
    Reason.POSITION_CLOSING: LOCKED,
    Reason.POSITION_NOT_OPEN: POSITION_CLOSED,
}
_FIELD_RETCODES: Final[Mapping[str, int]] = {
    "volume": INVALID_VOLUME,
    "price": INVALID_PRICE,
    "requested_price": INVALID_PRICE,
    "stoplimit": INVALID_PRICE,
    "stop_limit_price": INVALID_PRICE,
    "sl": INVALID_STOPS,
    "tp": INVALID_STOPS,
    "stop_loss": INVALID_STOPS,
    "take_profit": INVALID_STOPS,
}
_FIELD_REASONS: Final = frozenset({Reason.INVALID_DECIMAL, Reason.INVALID_PRECISION})
# oms errors that are not about the trade: the house HTTP error, never a retcode.
_TRANSPORT_CODES: Final = frozenset(
    {
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.DATA_LOSS,
    }
)


def retcode_of(reason: str, *, rejected_order: bool, field: str | None = None) -> int:
    """MT5's retcode for oms's ``reason`` (a rejected order's, or an error's)."""
    if reason in _FIELD_REASONS and field is not None:
        return _FIELD_RETCODES.get(field, INVALID)
    return RETCODE_BY_REASON.get(reason, REJECT if rejected_order else INVALID)


# --- answers -------------------------------------------------------------------------------------


def _int(ticket: str) -> int:
    return int(ticket) if ticket else 0


class _Answer:
    """The result being built for one request."""

    def __init__(self, body: TradeRequest) -> None:
        self.doc: dict[str, Any] = {
            "retcode": DONE,
            "deal": 0,
            "order": 0,
            "volume": "0",
            "price": "0",
            "bid": "0",
            "ask": "0",
            "comment": DESCRIPTIONS[DONE],
            "request_id": secrets.randbits(31) or 1,
            "retcode_external": 0,
            "request": body.model_dump(exclude={"client_order_id"}),
        }

    def code(self, retcode: int, detail: str = "") -> dict[str, Any]:
        description = DESCRIPTIONS.get(retcode, "")
        self.doc["retcode"] = retcode
        self.doc["comment"] = f"{description}: {detail}" if detail else description
        return self.doc

    def order(self, order: types_pb2.Order, deal_id: str = "") -> dict[str, Any]:
        """The result of an order oms answered with (placed, filled or rejected)."""
        self.doc["order"] = _int(order.order_id)
        self.doc["deal"] = _int(deal_id)
        status = order.status
        if status == types_pb2.ORDER_STATUS_REJECTED or (
            status in (types_pb2.ORDER_STATUS_CANCELLED, types_pb2.ORDER_STATUS_EXPIRED)
            and not _filled(order)
        ):
            retcode = retcode_of(order.reject_reason, rejected_order=True)
            return self.code(retcode, order.reject_message or order.reject_reason)
        if _filled(order):
            self.doc["volume"] = order.filled_volume
            self.doc["price"] = order.average_fill_price or "0"
            partial = Decimal(order.filled_volume) < Decimal(order.volume or "0")
            return self.code(DONE_PARTIAL if partial else DONE)
        self.doc["volume"] = order.volume or "0"
        self.doc["price"] = order.price or "0"
        if status == types_pb2.ORDER_STATUS_WORKING:
            return self.code(PLACED)
        # ACCEPTED / FILLING: oms is executing it; its outcome comes in history and events.
        return self.code(PLACED, "the order is being executed")

    def error(self, err: FxError) -> dict[str, Any]:
        field = err.metadata.get("field")
        return self.code(retcode_of(err.reason, rejected_order=False, field=field), err.message)


def _filled(order: types_pb2.Order) -> bool:
    return bool(order.filled_volume) and Decimal(order.filled_volume) > 0


async def _quote(res: Resources, answer: _Answer, symbol: str, account_id: str) -> None:
    if not symbol:
        return
    group = await res.groups.of(account_id)
    try:
        quote = await read_quote(res.redis, symbol, group)
    except RedisError:
        return  # bid / ask are informative; the trade does not depend on them
    if quote is not None:
        answer.doc["bid"], answer.doc["ask"] = fmt(quote.bid), fmt(quote.ask)


def _first_deal_id(deals: Sequence[types_pb2.Deal]) -> str:
    return deals[0].deal_id if deals else ""


async def _send(
    body: TradeRequest, account_id: str, res: Resources, answer: _Answer
) -> dict[str, Any]:
    """Send the request as its action's oms RPC and answer what oms did. A request that cannot
    be mapped raises ``Refused``; what oms refuses is raised as the ``FxError`` it sent."""
    action = enum_value(body.action, ACTIONS, "TRADE_ACTION_", "action")
    position = ticket_text(body.position, "position")
    if action == "PENDING" or (action == "DEAL" and not position):
        request = place_request(account_id, body)
        retry_with = ("client_order_id", request.client_order_id)
        placed = await call_order(res, res.oms.PlaceOrder, request, retry_with=retry_with)
        return answer.order(placed.order, _first_deal_id(placed.deals))
    if action == "DEAL":  # with a position: close (part of) it at the market
        filling_of(body, market=True)
        close = oms_pb2.ClosePositionRequest(
            account_id=account_id,
            position_id=position,
            volume=price_text(body.volume, "volume", required=True, retcode=INVALID_VOLUME),
            client_order_id=body.client_order_id or f"mt5-{uuid.uuid4().hex}",
            requested_price=price_text(body.price, "price", required=False, retcode=INVALID_PRICE),
            deviation_points=body.deviation,
            magic=body.magic,
            comment=body.comment,
        )
        retry_with = ("client_order_id", close.client_order_id)
        closed = await call_order(res, res.oms.ClosePosition, close, retry_with=retry_with)
        return answer.order(closed.order, _first_deal_id(closed.deals))
    if action == "SLTP":
        modify_position = oms_pb2.ModifyPositionRequest(
            account_id=account_id,
            position_id=required_ticket(body.position, "position"),
            stop_loss=modify_level(body.sl, "sl"),
            take_profit=modify_level(body.tp, "tp"),
            trailing_distance_points=-1,
            trailing_step_points=-1,
        )
        await call(res, res.oms.ModifyPosition, modify_position)
        return answer.code(DONE)
    if action == "MODIFY":
        modify = oms_pb2.ModifyOrderRequest(
            account_id=account_id,
            order_id=required_ticket(body.order, "order"),
            price=price_text(body.price, "price", required=False, retcode=INVALID_PRICE),
            stop_limit_price=price_text(
                body.stoplimit, "stoplimit", required=False, retcode=INVALID_PRICE
            ),
            stop_loss=modify_level(body.sl, "sl"),
            take_profit=modify_level(body.tp, "tp"),
        )
        expiry = expiry_of(body)
        if expiry is not None:
            modify.expire_time.CopyFrom(timestamp_pb(expiry))
        modified = await call(res, res.oms.ModifyOrder, modify)
        answer.doc["order"] = _int(modified.order.order_id)
        return answer.code(DONE)
    if action == "REMOVE":
        cancel = oms_pb2.CancelOrderRequest(
            account_id=account_id, order_id=required_ticket(body.order, "order")
        )
        cancelled = await call(res, res.oms.CancelOrder, cancel)
        answer.doc["order"] = _int(cancelled.order.order_id)
        return answer.code(DONE)
    # CLOSE_BY
    close_by = oms_pb2.CloseByRequest(
        account_id=account_id,
        position_id=required_ticket(body.position, "position"),
        opposite_position_id=required_ticket(body.position_by, "position_by"),
    )
    closed_by = await call(res, res.oms.CloseBy, close_by)
    if closed_by.deals:
        answer.doc["deal"] = _int(closed_by.deals[0].deal_id)
        answer.doc["order"] = _int(closed_by.deals[0].order_id)
        answer.doc["volume"] = closed_by.deals[0].volume or "0"
        answer.doc["price"] = closed_by.deals[0].price or "0"
    return answer.code(DONE)


# --- the routes ----------------------------------------------------------------------------------


class _Mt5Request(Request):
    """JSON numbers read as Decimals: MT5 sends doubles, and 0.1 must stay 0.1."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), parse_float=Decimal)
        return self._json


def _validation_detail(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "the request could not be read"
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    if first.get("type") == "json_invalid":
        return "the body is not JSON"
    if first.get("type") == "extra_forbidden" and loc:
        return f"unknown field {loc[0]}"
    where = ".".join(loc) or "body"
    return f"{where}: {first.get('msg', 'invalid')}"


def _shape_refusal(path: str, detail: str) -> dict[str, Any]:
    """The whole result shape of the route (``order_check`` or ``order_send``), retcode 10013."""
    comment = f"{DESCRIPTIONS[INVALID]}: {detail}"
    if path.endswith("/check"):
        figures = ("balance", "equity", "profit", "margin", "margin_free", "margin_level")
        return {
            "retcode": INVALID,
            **dict.fromkeys(figures, "0"),
            "comment": comment,
            "request": {},
        }
    return {
        "retcode": INVALID,
        "deal": 0,
        "order": 0,
        **dict.fromkeys(("volume", "price", "bid", "ask"), "0"),
        "comment": comment,
        "request_id": 0,
        "retcode_external": 0,
        "request": {},
    }


class _Mt5Route(APIRoute):
    """Reads numbers exactly, and answers a request of the wrong shape as MT5 does (10013)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def mt5_handler(request: Request) -> Response:
            try:
                return await handler(_Mt5Request(request.scope, request.receive))
            except RequestValidationError as exc:
                return JSONResponse(_shape_refusal(request.url.path, _validation_detail(exc)))

        return mt5_handler


router = APIRouter(prefix="/api/trade", tags=["metatrader"], route_class=_Mt5Route)


@router.post(
    "",
    summary="MetaTrader 5 order_send",
    response_model=None,
    responses=responses(TradeResult),
)
async def order_send(body: TradeRequest, client: Client, res: Resources) -> dict[str, Any]:
    """Send MT5's ``MqlTradeRequest``; the answer is MT5's ``MqlTradeResult``: ``retcode``
    10009 done, 10008 placed, 10010 partial, else why not (10004 requote, 10006 rejected, 10013
    invalid request, 10014 volume, 10015 price, 10016 stops, 10017 trade disabled, 10018 market
    closed, 10019 no money, 10021 no prices, 10022 expiration, 10030 filling, ...). Actions: DEAL
    (with ``position``: close it), PENDING, SLTP, MODIFY, REMOVE, CLOSE_BY.

    Field names are MetaTrader 5's own, snake_case as in MQL5 and its Python package: this route
    and ``/api/trade/check`` are the one exception to the client API's camelCase. Numbers may be
    JSON numbers (read exactly) or decimal strings; answers carry decimals as strings."""
    answer = _Answer(body)
    try:
        result = await _send(body, client.subject, res, answer)
    except Refused as refused:
        result = answer.code(refused.retcode, refused.detail)
    except FxError as err:
        # oms's refusals about the trade become a retcode; the rest stays an HTTP error.
        if err.code in _TRANSPORT_CODES:
            raise
        result = answer.error(err)
    await _quote(res, answer, body.symbol.strip(), client.subject)
    return result


@router.post(
    "/check",
    summary="MetaTrader 5 order_check",
    response_model=None,
    responses=responses(TradeCheckResult),
)
async def order_check(body: TradeRequest, client: Client, res: Resources) -> dict[str, Any]:
    """Check an opening DEAL or a PENDING order without sending it (MT5's ``order_check``):
    ``retcode`` 0 when free margin covers it (10019 when not, or why the request is invalid),
    with the margin it needs and the free margin and margin level after it.

    Field names are MetaTrader 5's own (snake_case), as for ``/api/trade``."""
    doc: dict[str, Any] = {
        "retcode": CHECK_DONE,
        "balance": "0",
        "equity": "0",
        "profit": "0",
        "margin": "0",
        "margin_free": "0",
        "margin_level": "0",
        "comment": DESCRIPTIONS[CHECK_DONE],
        "request": body.model_dump(exclude={"client_order_id"}),
    }

    def code(retcode: int, detail: str = "") -> dict[str, Any]:
        description = DESCRIPTIONS.get(retcode, "")
        doc["retcode"] = retcode
        doc["comment"] = f"{description}: {detail}" if detail else description
        return doc

    try:
        if ticket_text(body.position, "position"):
            raise Refused(INVALID, "position: order_check covers opening orders only")
        place = place_request(client.subject, body)
    except Refused as refused:
        return code(refused.retcode, refused.detail)
    preview_request = oms_pb2.PreviewMarginRequest(
        account_id=client.subject,
        symbol=place.symbol,
        side=place.side,
        volume=place.volume,
        price=place.price,
    )
    summary_request = oms_pb2.GetAccountSummaryRequest(account_id=client.subject)
    try:
        preview, summary = await asyncio.gather(
            call(res, res.oms.PreviewMargin, preview_request),
            call(res, res.oms.GetAccountSummary, summary_request),
        )
    except FxError as err:
        if err.code in _TRANSPORT_CODES:
            raise
        field = err.metadata.get("field")
        return code(retcode_of(err.reason, rejected_order=False, field=field), err.message)
    commission = Decimal(preview.commission or "0")
    doc.update(
        balance=fmt(Decimal(summary.balance or "0") - commission),
        equity=fmt(Decimal(summary.equity or "0") - commission),
        profit=summary.unrealized_pnl or "0",
        margin=preview.margin or "0",
        margin_free=preview.free_margin_after or "0",
        margin_level=preview.margin_level_after or "0",
    )
    if not preview.sufficient:
        return code(NO_MONEY, f"free margin after the trade would be {doc['margin_free']}")
    return doc
