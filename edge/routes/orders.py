"""Orders of the authenticated account: place (market, limit, stop, stop-limit), read, modify, cancel.

The account always comes from the token, never from the request, so one account's token cannot
touch another account (oms answers ``ORDER_NOT_FOUND`` for an id of another account). A business
reject (status REJECTED + rejectReason) is a 200 with data, as MetaTrader's retcodes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from edge.calls import call_json, call_order
from edge.convert import (
    decimal_text,
    modify_level_text,
    side_from_json,
    stop_level_text,
    time_in_force_from_json,
    timestamp_pb,
    to_json,
)
from edge.deps import Client, Resources
from edge.openapi import responses
from edge.schemas import (
    MarketOrderRequest,
    ModifyOrderRequest,
    OrderIdPath,
    PendingOrderRequest,
    StopLimitOrderRequest,
)
from fxmesh.v1 import oms_pb2, types_pb2

router = APIRouter(prefix="/api/orders", tags=["orders"])
_PLACED = responses(oms_pb2.PlaceOrderResponse)
_ORDER = responses(oms_pb2.GetOrderResponse)


async def _place(
    request: oms_pb2.PlaceOrderRequest, res: Resources, response: Response
) -> JSONResponse:
    retry_with = ("client_order_id", request.client_order_id)
    reply = await call_order(res, res.oms.PlaceOrder, request, retry_with=retry_with)
    # ``to_json`` already gives JSON types: returned as a dict, FastAPI would walk it again with
    # ``jsonable_encoder`` to render the same bytes. The headers the dependencies set on
    # ``response`` (RateLimit-*) are carried over as FastAPI does for a returned dict.
    answer = JSONResponse(to_json(reply))
    answer.headers.raw.extend(response.headers.raw)
    return answer


@router.post("/market", summary="Place a market order", response_model=None, responses=_PLACED)
async def place_market_order(
    body: MarketOrderRequest, client: Client, res: Resources, response: Response
) -> JSONResponse:
    """Buy at the ask or sell at the bid now. A retry with the same clientOrderId returns the
    first order (``replayed: true``); a reject is a 200 with status REJECTED and rejectReason."""
    request = oms_pb2.PlaceOrderRequest(
        account_id=client.subject,
        client_order_id=body.client_order_id,
        symbol=body.symbol,
        side=side_from_json(body.side),
        type=types_pb2.ORDER_TYPE_MARKET,
        volume=decimal_text(body.volume, "volume"),
        requested_price=decimal_text(body.requested_price, "requestedPrice"),
        deviation_points=body.deviation_points or 0,
        stop_loss=stop_level_text(body.stop_loss, "stopLoss"),
        take_profit=stop_level_text(body.take_profit, "takeProfit"),
        time_in_force=time_in_force_from_json(body.time_in_force),
    )
    return await _place(request, res, response)


def _pending(
    body: PendingOrderRequest,
    order_type: types_pb2.OrderType.ValueType,
    client: Client,
    stop_limit_price: str = "",
) -> oms_pb2.PlaceOrderRequest:
    request = oms_pb2.PlaceOrderRequest(
        account_id=client.subject,
        client_order_id=body.client_order_id,
        symbol=body.symbol,
        side=side_from_json(body.side),
        type=order_type,
        volume=decimal_text(body.volume, "volume"),
        price=decimal_text(body.price, "price"),
        stop_limit_price=stop_limit_price,
        stop_loss=stop_level_text(body.stop_loss, "stopLoss"),
        take_profit=stop_level_text(body.take_profit, "takeProfit"),
        time_in_force=time_in_force_from_json(body.time_in_force),
    )
    if body.expire_time is not None:
        request.expire_time.CopyFrom(timestamp_pb(body.expire_time))
    return request


@router.post(
    "/limit", summary="Place a buy/sell limit order", response_model=None, responses=_PLACED
)
async def place_limit_order(
    body: PendingOrderRequest, client: Client, res: Resources, response: Response
) -> JSONResponse:
    """Works (status WORKING) until the ask falls to ``price`` (buy) or the bid rises to it (sell)."""
    return await _place(_pending(body, types_pb2.ORDER_TYPE_LIMIT, client), res, response)


@router.post("/stop", summary="Place a buy/sell stop order", response_model=None, responses=_PLACED)
async def place_stop_order(
    body: PendingOrderRequest, client: Client, res: Resources, response: Response
) -> JSONResponse:
    """Works until the ask rises to ``price`` (buy) or the bid falls to it (sell), then fills at
    the market."""
    return await _place(_pending(body, types_pb2.ORDER_TYPE_STOP, client), res, response)


@router.post(
    "/stop-limit",
    summary="Place a buy/sell stop-limit order",
    response_model=None,
    responses=_PLACED,
)
async def place_stop_limit_order(
    body: StopLimitOrderRequest, client: Client, res: Resources, response: Response
) -> JSONResponse:
    """When ``price`` (the stop) is reached, a limit order at ``stopLimitPrice`` starts working."""
    stop_limit = decimal_text(body.stop_limit_price, "stopLimitPrice")
    request = _pending(body, types_pb2.ORDER_TYPE_STOP_LIMIT, client, stop_limit)
    return await _place(request, res, response)


@router.get("/{order_id}", summary="Read one order", response_model=None, responses=_ORDER)
async def get_order(order_id: OrderIdPath, client: Client, res: Resources) -> dict[str, Any]:
    """One order of the token's account (404 ORDER_NOT_FOUND for anyone else's)."""
    request = oms_pb2.GetOrderRequest(account_id=client.subject, order_id=order_id)
    return await call_json(res, res.oms.GetOrder, request)


@router.put(
    "/{order_id}/modify",
    summary="Modify a working order",
    response_model=None,
    responses=responses(oms_pb2.ModifyOrderResponse),
)
async def modify_order(
    order_id: OrderIdPath, body: ModifyOrderRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Change price, stopLimitPrice, stopLoss, takeProfit or expireTime; omitted fields keep their
    value and ``"0"`` removes SL or TP. An order that is no longer working is a 409."""
    request = oms_pb2.ModifyOrderRequest(
        account_id=client.subject,
        order_id=order_id,
        price=decimal_text(body.price, "price"),
        stop_limit_price=decimal_text(body.stop_limit_price, "stopLimitPrice"),
        stop_loss=modify_level_text(body.stop_loss, "stopLoss"),
        take_profit=modify_level_text(body.take_profit, "takeProfit"),
    )
    if body.expire_time is not None:
        request.expire_time.CopyFrom(timestamp_pb(body.expire_time))
    return await call_json(res, res.oms.ModifyOrder, request)


@router.delete(
    "/{order_id}",
    summary="Cancel a working order",
    response_model=None,
    responses=responses(oms_pb2.CancelOrderResponse),
)
async def cancel_order(order_id: OrderIdPath, client: Client, res: Resources) -> dict[str, Any]:
    """Cancel a pending order; the answer is the order in status CANCELLED."""
    request = oms_pb2.CancelOrderRequest(account_id=client.subject, order_id=order_id)
    return await call_json(res, res.oms.CancelOrder, request)
