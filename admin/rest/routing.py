"""Routing what-if: a period's recorded orders replayed through a proposed configuration."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from admin.permissions import Op
from admin.rest.deps import Ctx, Service
from fxmesh.errors import InvalidArgument
from fxmesh.reasons import Reason

router = APIRouter(prefix="/admin", tags=["routing"])

_BODY = {
    "description": (
        "RouterService.WhatIfRequest in its JSON form (camelCase): startTime, endTime (RFC 3339), "
        "config {routingRules: {rows: [...]}, accountOverrides, bbookVolumeLimits, "
        "exposureLimits, flowThresholds, volatilityThresholds} (each table given replaces the "
        "live one for the replay), maxChangedOrders; and an optional requestId."
    ),
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
}


def _body(raw: bytes) -> tuple[dict[str, Any], str]:
    try:
        doc = json.loads(raw or b"{}")
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        raise InvalidArgument("the body must be a JSON object", reason=Reason.WHATIF_INVALID)
    request_id = doc.pop("requestId", "") or ""
    if not isinstance(request_id, str) or len(request_id) > 64:
        raise InvalidArgument(
            "requestId must be a string of at most 64 characters",
            reason=Reason.WHATIF_INVALID,
            metadata={"field": "requestId"},
        )
    return doc, request_id


@router.post("/routing/what-if", openapi_extra=_BODY)
async def routing_what_if(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Replay the routing decisions recorded in [startTime, endTime) through a proposed
    configuration (nothing live changes): venue mix, house P&L, exposure peaks, hedge volume and
    the orders routed differently, recorded against proposed. 400 WHATIF_INVALID for a body that
    is not a what-if request or a proposal the configuration tables would refuse, 400
    INVALID_TIME_RANGE when startTime is not before endTime."""
    try:
        doc, request_id = _body(await request.body())
    except InvalidArgument as exc:
        async with service.gate.guard(ctx, Op.ROUTING_WHAT_IF, "routing:what-if"):
            raise exc from None
        raise AssertionError("unreachable") from None  # pragma: no cover
    return await service.liquidity.routing_what_if(
        ctx.with_request_id(request_id) if request_id else ctx, doc
    )
