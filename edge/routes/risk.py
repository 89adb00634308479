"""Pre-trade tools for the authenticated account: lot size by risk, margin preview.

Both are read-only questions to oms about the token's account at the current quotes.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from edge.convert import decimal_text, side_from_json, to_json
from edge.deps import Client, Resources
from edge.openapi import responses
from edge.schemas import CalculateLotRequest, MarginPreviewRequest
from fxmesh.v1 import oms_pb2

router = APIRouter(prefix="/api/risk", tags=["risk"])


@router.post(
    "/calculate-lot",
    summary="Volume for a given risk",
    response_model=None,
    responses=responses(oms_pb2.CalculateLotResponse),
)
async def calculate_lot(
    body: CalculateLotRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """The volume whose loss at the stop is riskAmount (or riskPercent of equity), rounded down
    to the symbol's volume step; ``"0"`` when even the minimum volume risks more."""
    reply = await res.oms.CalculateLot(
        oms_pb2.CalculateLotRequest(
            account_id=client.subject,
            symbol=body.symbol,
            side=side_from_json(body.side),
            risk_amount=decimal_text(body.risk_amount, "riskAmount"),
            risk_percent=decimal_text(body.risk_percent, "riskPercent"),
            stop_loss_points=body.stop_loss_points or 0,
            stop_loss=decimal_text(body.stop_loss, "stopLoss"),
            entry_price=decimal_text(body.entry_price, "entryPrice"),
        ),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return to_json(reply)


@router.post(
    "/margin-preview",
    summary="Margin an order would need",
    response_model=None,
    responses=responses(oms_pb2.PreviewMarginResponse),
)
async def margin_preview(
    body: MarginPreviewRequest, client: Client, res: Resources
) -> dict[str, Any]:
    """Margin and commission of the order, free margin before and after, the margin level after,
    and whether free margin covers it."""
    reply = await res.oms.PreviewMargin(
        oms_pb2.PreviewMarginRequest(
            account_id=client.subject,
            symbol=body.symbol,
            side=side_from_json(body.side),
            volume=decimal_text(body.volume, "volume"),
            price=decimal_text(body.price, "price"),
        ),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return to_json(reply)
