"""Positions of the authenticated account: close, partial close, close-all, close-by, modify.

Closing is an order at the market: a close that cannot be done (market closed, price moved past
the deviation, ...) is a 200 whose order is REJECTED with a reason, as for a new order. A position
id of another account is 404 POSITION_NOT_FOUND (oms only looks in the token's account).
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from edge.calls import call_json, call_order
from edge.convert import decimal_text, modify_level_text, to_json
from edge.deps import Client, Resources
from edge.openapi import responses
from edge.schemas import (
    CloseAllRequest,
    CloseByRequest,
    ClosePositionRequest,
    ModifyPositionRequest,
    PartialCloseRequest,
    PositionIdPath,
)
from fxmesh.v1 import oms_pb2

router = APIRouter(prefix="/api/positions", tags=["positions"])
_CLOSED = responses(oms_pb2.ClosePositionResponse)
# ModifyPositionRequest: -1 keeps the trailing stop setting.
_KEEP_POINTS = -1
# close-all is one market close per position: give it several order deadlines.
CLOSE_ALL_DEADLINES = 4


async def _close(
    position_id: str, volume: str, body: ClosePositionRequest, client: Client, res: Resources
) -> dict[str, Any]:
    request = oms_pb2.ClosePositionRequest(
        account_id=client.subject,
        position_id=position_id,
        volume=volume,
        client_order_id=body.client_order_id,
        requested_price=decimal_text(body.requested_price, "requestedPrice"),
        deviation_points=body.deviation_points or 0,
    )
    retry_with = ("client_order_id", request.client_order_id)
    reply = await call_order(res, res.oms.ClosePosition, request, retry_with=retry_with)
    return to_json(reply)


@router.post(
    "/close-all",
    summary="Close every open position",
    response_model=None,
    responses=responses(oms_pb2.CloseAllPositionsResponse, requestId=(str, ...)),
)
async def close_all_positions(
    body: CloseAllRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Close all open positions (or those of ``symbol``) at the market, one result per position.
    Send the answer's requestId again to retry without closing anything twice."""
    request_id = body.request_id or uuid.uuid4().hex
    request = oms_pb2.CloseAllPositionsRequest(
        account_id=client.subject, symbol=body.symbol or "", request_id=request_id
    )
    reply = await call_order(
        res,
        res.oms.CloseAllPositions,
        request,
        retry_with=("request_id", request_id),
        deadlines=CLOSE_ALL_DEADLINES,
    )
    return {"requestId": request_id, **to_json(reply)}


@router.post(
    "/{position_id}/close", summary="Close a position", response_model=None, responses=_CLOSED
)
async def close_position(
    position_id: PositionIdPath, body: ClosePositionRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Close the whole position at the market (idempotent per clientOrderId)."""
    return await _close(position_id, "", body, client, res)


@router.post(
    "/{position_id}/close-partial",
    summary="Close part of a position",
    response_model=None,
    responses=_CLOSED,
)
async def close_position_partially(
    position_id: PositionIdPath, body: PartialCloseRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Close ``volume`` lots of the position at the market; the rest stays open."""
    volume = decimal_text(body.volume, "volume")
    return await _close(position_id, volume, body, client, res)


@router.post(
    "/{position_id}/close-by",
    summary="Close a position by an opposite one",
    response_model=None,
    responses=responses(oms_pb2.CloseByResponse),
)
async def close_position_by(
    position_id: PositionIdPath, body: CloseByRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Hedging accounts: offset the position against an opposite position of the same symbol
    (both OUT_BY deals, no market spread paid)."""
    request = oms_pb2.CloseByRequest(
        account_id=client.subject,
        position_id=position_id,
        opposite_position_id=body.opposite_position_id,
    )
    return await call_json(res, res.oms.CloseBy, request)


@router.put(
    "/{position_id}/modify",
    summary="Modify a position's SL, TP or trailing stop",
    response_model=None,
    responses=responses(oms_pb2.ModifyPositionResponse),
)
async def modify_position(
    position_id: PositionIdPath, body: ModifyPositionRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Omitted fields keep their value; stopLoss/takeProfit ``"0"`` removes it and
    trailingDistancePoints 0 turns the trailing stop off."""
    request = oms_pb2.ModifyPositionRequest(
        account_id=client.subject,
        position_id=position_id,
        stop_loss=modify_level_text(body.stop_loss, "stopLoss"),
        take_profit=modify_level_text(body.take_profit, "takeProfit"),
        trailing_distance_points=_points(body.trailing_distance_points),
        trailing_step_points=_points(body.trailing_step_points),
    )
    return await call_json(res, res.oms.ModifyPosition, request)


def _points(value: int | None) -> int:
    return _KEEP_POINTS if value is None else value
