"""Orders of the authenticated account: place a market order, read one order.

The account always comes from the token, never from the request, so one account's token cannot
touch another account. A business reject (status REJECTED + rejectReason) is a 200 with data.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from edge.convert import side_from_json, to_json
from edge.deps import Client, Resources
from edge.schemas import MarketOrderRequest
from fxmesh.money import parse_decimal
from fxmesh.v1 import oms_pb2, types_pb2

router = APIRouter(prefix="/api/orders", tags=["orders"])


@router.post("/market")
async def place_market_order(
    body: MarketOrderRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Place a market order; an idempotent retry (same clientOrderId) returns the first order."""
    volume = parse_decimal(body.volume, "volume", positive=True)
    requested_price = (
        format(parse_decimal(body.requested_price, "requestedPrice", positive=True), "f")
        if body.requested_price is not None
        else ""
    )
    reply = await res.oms.PlaceOrder(
        oms_pb2.PlaceOrderRequest(
            account_id=client.subject,
            client_order_id=body.client_order_id,
            symbol=body.symbol,
            side=side_from_json(body.side),
            type=types_pb2.ORDER_TYPE_MARKET,
            volume=format(volume, "f"),
            requested_price=requested_price,
            deviation_points=body.deviation_points or 0,
        ),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return {
        "order": to_json(reply.order),
        "fills": [to_json(f) for f in reply.fills],
        "positions": [to_json(p) for p in reply.positions],
        "replayed": reply.replayed,
    }


@router.get("/{order_id}")
async def get_order(order_id: str, client: Client, res: Resources) -> dict[str, Any]:
    """One order of the token's account (404 ORDER_NOT_FOUND for anyone else's)."""
    reply = await res.oms.GetOrder(
        oms_pb2.GetOrderRequest(account_id=client.subject, order_id=order_id),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return {"order": to_json(reply.order)}
