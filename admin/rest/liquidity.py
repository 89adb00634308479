"""LPs, FIX sessions and the house exposure."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from admin.documents import (
    exposure_to_json,
    fix_session_to_json,
    lp_feed_to_json,
    lp_to_json,
    margin_watch_to_json,
    routing_to_json,
    top_traders_to_json,
    trading_summary_to_json,
)
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, query_time, read_body

router = APIRouter(prefix="/admin", tags=["liquidity"])


class RequestIdBody(Body):
    request_id: str | None = Field(None, max_length=64)


class FixSwitchBody(Body):
    lp_id: str | None = Field(None, max_length=64, description="One LP; absent: every session.")
    request_id: str | None = Field(None, max_length=64)


@router.get("/lps")
async def list_lps(ctx: Ctx, service: Service) -> dict[str, Any]:
    """Every LP with its session state, latency, last quote and symbols."""
    return {"lps": [lp_to_json(s) for s in await service.liquidity.list_lps(ctx)]}


async def _switch_lp(
    op: Op, lp_id: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    body = await read_body(request, service, ctx, op, f"lp:{lp_id}", RequestIdBody)
    session = await service.liquidity.switch_lp(
        ctx.with_request_id(body.request_id or ""), op, lp_id
    )
    return {"lp": lp_to_json(session)}


_OPTIONAL = {"description": "Optional body: {requestId}.", **body_schema(RequestIdBody)}


@router.post("/lps/{lp_id}/connect", openapi_extra=_OPTIONAL)
async def connect_lp(lp_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Enable the LP's session (404 LP_NOT_FOUND for an unknown LP)."""
    return await _switch_lp(Op.LP_CONNECT, lp_id, request, ctx, service)


@router.post("/lps/{lp_id}/disconnect", openapi_extra=_OPTIONAL)
async def disconnect_lp(lp_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Log out the LP's session and keep it down (it takes no orders from then on)."""
    return await _switch_lp(Op.LP_DISCONNECT, lp_id, request, ctx, service)


@router.post("/lps/{lp_id}/reconnect", openapi_extra=_OPTIONAL)
async def reconnect_lp(lp_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Log out the LP's session and log it on again."""
    return await _switch_lp(Op.LP_RECONNECT, lp_id, request, ctx, service)


@router.get("/fix/status")
async def fix_status(ctx: Ctx, service: Service) -> dict[str, Any]:
    """Every FIX session: state, sequence numbers, message counts, heartbeat round trip."""
    sessions = await service.liquidity.list_lps(ctx, Op.FIX_STATUS)
    return {"sessions": [fix_session_to_json(s) for s in sessions]}


async def _switch_fix(op: Op, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    body = await read_body(request, service, ctx, op, "lp:*", FixSwitchBody)
    sessions = await service.liquidity.switch_fix(
        ctx.with_request_id(body.request_id or ""), op, body.lp_id or ""
    )
    return {"sessions": [fix_session_to_json(s) for s in sessions]}


_FIX_BODY = {"description": "Optional body: {lpId, requestId}.", **body_schema(FixSwitchBody)}


@router.post("/fix/connect", openapi_extra=_FIX_BODY)
async def fix_connect(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Connect every FIX session, or the one of ``lpId``."""
    return await _switch_fix(Op.FIX_CONNECT, request, ctx, service)


@router.post("/fix/disconnect", openapi_extra=_FIX_BODY)
async def fix_disconnect(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Disconnect every FIX session, or the one of ``lpId``."""
    return await _switch_fix(Op.FIX_DISCONNECT, request, ctx, service)


@router.get("/lps/statistics")
async def lp_board(
    ctx: Ctx,
    service: Service,
    lp_id: Annotated[str, Query(alias="lpId", description="One LP's feeds only")] = "",
    symbol: Annotated[str, Query(description="One symbol's feeds only")] = "",
) -> dict[str, Any]:
    """The LP board: per LP and symbol, ticks in the last minute, drops by reason, quote latency
    p50 / p99 (LP SendingTime to the Redis write), last tick and since when it streams (null:
    silent); 503 when quotes does not answer."""
    feeds = await service.liquidity.lp_board(ctx, lp_id, symbol)
    return {"feeds": [lp_feed_to_json(f) for f in feeds]}


@router.get("/orders/{order_id}/routing")
async def order_routing(order_id: str, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Why an order went where it went: the book and venues, the rule or level that decided, every
    input the router saw, each precedence level and the config version (404 ORDER_NOT_ROUTED)."""
    return routing_to_json(await service.liquidity.order_routing(ctx, order_id))


@router.get("/summary/today", responses={400: {"description": "INVALID_TIME"}})
async def today(ctx: Ctx, service: Service, since: str = "") -> dict[str, Any]:
    """Today's activity: orders placed / filled / rejected, trades, volume in lots, active clients
    since 00:00 UTC (or ``since``, RFC 3339); open positions and pending orders now."""
    return trading_summary_to_json(await service.system.today(ctx, query_time(since, "since")))


@router.get("/risk/top-traders", responses={400: {"description": "INVALID_TIME, INVALID_LIMIT"}})
async def top_traders(
    ctx: Ctx,
    service: Service,
    since: str = "",
    limit: Annotated[int, Query(ge=0, le=100, description="Of each; 0: 10")] = 0,
) -> dict[str, Any]:
    """The best and worst net results (realized P&L + commission + swap) since 00:00 UTC (or
    ``since``), ranked in USD at the current quotes."""
    return top_traders_to_json(
        await service.system.top_traders(ctx, query_time(since, "since"), limit)
    )


@router.get("/risk/margin-watch")
async def margin_watch(ctx: Ctx, service: Service, within: str = "") -> dict[str, Any]:
    """Accounts with open positions at most ``within`` percentage points (default 50) above
    their margin-call level, lowest margin level first."""
    watched = await service.system.margin_watch(ctx, within)
    return {"accounts": [margin_watch_to_json(e) for e in watched]}


@router.get("/exposure")
async def exposure(ctx: Ctx, service: Service) -> dict[str, Any]:
    """The house's net position per symbol: net lots, notional in USD, average price, P&L."""
    return {"exposures": [exposure_to_json(e) for e in await service.liquidity.exposure(ctx)]}
