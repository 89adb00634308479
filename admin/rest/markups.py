"""Client group markups (quotes owns them; ``admin.markups``).

``GET /admin/markups`` (``?group=&symbol=`` filters), ``PUT /admin/markups/{group}/{symbol}`` with
``{unit: POINTS|PERCENT, markupBid, markupAsk, minSpreadPoints?, requestId?}`` (decimal strings
>= 0, at most 4 places; a percent below 100), ``DELETE /admin/markups/{group}/{symbol}``. A change
applies from the next tick. Errors: 404 ``UNKNOWN_SYMBOL`` / ``MARKUP_NOT_FOUND``; 422
``VALIDATION_ERROR`` for a body that does not fit (a negative markup among them); 400
``INVALID_MARKUP`` / ``INVALID_CLIENT_GROUP`` for what only quotes can judge.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from admin.markups import GroupMarkup, markup_doc
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, read_body

router = APIRouter(prefix="/admin", tags=["markups"])

_PART = r"^[0-9]{1,8}(\.[0-9]{1,4})?$"


class MarkupBody(Body):
    unit: Literal["POINTS", "PERCENT"]
    markup_bid: str = Field(pattern=_PART, description="Decimal string >= 0.")
    markup_ask: str = Field(pattern=_PART, description="Decimal string >= 0.")
    min_spread_points: int = Field(0, ge=0, le=1_000_000)
    request_id: str | None = Field(None, max_length=64)


@router.get("/markups")
async def list_markups(
    ctx: Ctx, service: Service, group: str = "", symbol: str = ""
) -> dict[str, Any]:
    """Every client group's own markups (by group and symbol), optionally of one group / symbol."""
    markups = await service.markups.list(ctx, group, symbol)
    return {"markups": [markup_doc(m) for m in markups]}


@router.put("/markups/{group}/{symbol}", openapi_extra=body_schema(MarkupBody))
async def set_markup(
    group: str, symbol: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    """Set the group's markup on the symbol (insert or replace); the next tick uses it."""
    target = f"markup:{group}/{symbol.upper()}"
    body = await read_body(request, service, ctx, Op.MARKUP_SET, target, MarkupBody)
    markup = GroupMarkup(
        client_group=group,
        symbol=symbol,
        unit=body.unit,
        markup_bid=body.markup_bid,
        markup_ask=body.markup_ask,
        min_spread_points=body.min_spread_points,
    )
    stored = await service.markups.set(ctx.with_request_id(body.request_id or ""), markup)
    return {"markup": markup_doc(stored)}


@router.delete("/markups/{group}/{symbol}")
async def delete_markup(group: str, symbol: str, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Remove the group's markup on the symbol: its clients get the symbol default again."""
    removed = await service.markups.delete(ctx, group, symbol)
    return {"markup": markup_doc(removed)}
