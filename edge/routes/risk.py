"""Pre-trade tools for the authenticated account: lot size by risk, margin preview.

Both are read-only questions to oms about the token's account at the current quotes, as a POST
with a JSON body or as the design's GET with a query string
(``/api/risk/calculate-lot?risk=2&slPips=20&symbol=EURUSD``,
``/api/risk/margin-preview?symbol=EURUSD&volume=1.0&side=BUY``). A pip is 10 points when the
symbol's quote has 3 or 5 decimals (fractional pips, MetaTrader's convention), else 1 point; with
no current quote to tell, ``slPips`` is 409 ``NO_QUOTE`` (``slPoints`` always works).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from edge.calls import call_json
from edge.convert import decimal_text, side_from_json
from edge.deps import Client, Resources
from edge.openapi import responses
from edge.schemas import (
    CalculateLotQuery,
    CalculateLotRequest,
    MarginPreviewQuery,
    MarginPreviewRequest,
)
from fxmesh.errors import FailedPrecondition, InvalidArgument
from fxmesh.money import parse_decimal
from fxmesh.quotecache import read_quote
from fxmesh.reasons import Reason
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
    request = oms_pb2.CalculateLotRequest(
        account_id=client.subject,
        symbol=body.symbol,
        side=side_from_json(body.side),
        risk_amount=decimal_text(body.risk_amount, "riskAmount"),
        risk_percent=decimal_text(body.risk_percent, "riskPercent"),
        stop_loss_points=body.stop_loss_points or 0,
        stop_loss=decimal_text(body.stop_loss, "stopLoss"),
        entry_price=decimal_text(body.entry_price, "entryPrice"),
    )
    return await call_json(res, res.oms.CalculateLot, request)


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
    request = oms_pb2.PreviewMarginRequest(
        account_id=client.subject,
        symbol=body.symbol,
        side=side_from_json(body.side),
        volume=decimal_text(body.volume, "volume"),
        price=decimal_text(body.price, "price"),
    )
    return await call_json(res, res.oms.PreviewMargin, request)


async def _stop_points(query: CalculateLotQuery, res: Resources) -> int:
    if query.sl_points is not None:
        return query.sl_points
    assert query.sl_pips is not None
    pips = parse_decimal(query.sl_pips, "slPips", positive=True)
    quote = await read_quote(res.redis, query.symbol)
    if quote is None:
        raise FailedPrecondition(
            f"no current quote of {query.symbol} to size a pip; send slPoints",
            reason=Reason.NO_QUOTE,
            metadata={"symbol": query.symbol},
        )
    exponent = quote.bid.as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) else 0
    points = pips * (10 if digits in (3, 5) else 1)
    if points != points.to_integral_value() or not 0 < points <= 1_000_000:
        raise InvalidArgument(
            "slPips must be a whole number of points", metadata={"field": "slPips"}
        )
    return int(points)


@router.get(
    "/calculate-lot",
    summary="Volume for a given risk (query form)",
    response_model=None,
    responses=responses(oms_pb2.CalculateLotResponse),
)
async def calculate_lot_query(
    query: Annotated[CalculateLotQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """The volume whose loss at a stop ``slPips`` pips (or ``slPoints`` points) away is ``risk``
    percent of equity; as the POST form answers."""
    request = oms_pb2.CalculateLotRequest(
        account_id=client.subject,
        symbol=query.symbol,
        side=side_from_json(query.side),
        risk_percent=decimal_text(query.risk, "risk"),
        stop_loss_points=await _stop_points(query, res),
    )
    return await call_json(res, res.oms.CalculateLot, request)


@router.get(
    "/margin-preview",
    summary="Margin an order would need (query form)",
    response_model=None,
    responses=responses(oms_pb2.PreviewMarginResponse),
)
async def margin_preview_query(
    query: Annotated[MarginPreviewQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """As the POST form: margin, commission, free margin before and after, margin level after."""
    request = oms_pb2.PreviewMarginRequest(
        account_id=client.subject,
        symbol=query.symbol,
        side=side_from_json(query.side),
        volume=decimal_text(query.volume, "volume"),
        price=decimal_text(query.price, "price"),
    )
    return await call_json(res, res.oms.PreviewMargin, request)
