"""LPs, FIX sessions and the house exposure."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
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
from admin.domain import LpDefinition
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


class LpFields(Body):
    """How an LP is reached and traded with (fixgw validates the values: 400 INVALID_LP_CONFIG)."""

    host: str | None = Field(None, max_length=255)
    port: int | None = Field(None, ge=0, le=65535)
    sender_comp_id: str | None = Field(None, max_length=64, description="Default FXMESH.")
    target_comp_id: str | None = Field(None, max_length=64)
    symbols: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None, max_length=1000, description="Empty: fixgw's default symbols."
    )
    symbol_map: (
        dict[Annotated[str, Field(max_length=32)], Annotated[str, Field(max_length=64)]] | None
    ) = Field(None, max_length=1000, description="Broker symbol -> LP symbol.")
    order_style: str | None = Field(
        None, max_length=16, description="MARKET, LIMIT_IOC or LIMIT_FOK."
    )
    qty_unit: str | None = Field(None, max_length=16, description="UNITS or LOTS.")
    limit_slippage: Decimal | None = Field(None, ge=0, lt=1, allow_inf_nan=False)
    order_timeout_seconds: Decimal | None = Field(None, gt=0, le=3600, allow_inf_nan=False)
    reset_on_logon: bool | None = None
    market_depth: int | None = Field(None, ge=0, le=1000)
    heartbeat_seconds: int | None = Field(None, ge=0, le=3600)
    request_id: str | None = Field(None, max_length=64)

    def changes(self) -> dict[str, Any]:
        """The fields sent, as ``LpDefinition`` fields."""
        out: dict[str, Any] = {}
        for name in self.model_fields_set & set(LpFields.model_fields) - {"request_id"}:
            value = getattr(self, name)
            if name == "order_timeout_seconds":
                out["order_timeout"] = None if value is None else timedelta(seconds=float(value))
            elif name == "symbols":
                out[name] = tuple(value or ())
            elif name == "symbol_map":
                out[name] = dict(value or {})
            elif name in ("order_style", "qty_unit"):
                out[name] = (value or "").upper()
            elif name in ("sender_comp_id", "host", "target_comp_id"):
                out[name] = value or ""
            elif name in ("reset_on_logon",):
                out[name] = bool(value)
            elif name == "heartbeat_seconds":
                out[name] = value or 0
            else:
                out[name] = value
        return out


class CreateLpBody(LpFields):
    id: str = Field(..., min_length=1, max_length=64, description="The LP id (its name).")
    enabled: bool = Field(True, description="False: created disabled (no session, no orders).")

    def definition(self) -> LpDefinition:
        blank = LpDefinition(name=self.id, host="", port=0, sender_comp_id="", target_comp_id="")
        fields = {k: v for k, v in self.changes().items() if k not in ("id", "enabled")}
        return LpDefinition(**{**_definition_fields(blank), **fields})


def _definition_fields(d: LpDefinition) -> dict[str, Any]:
    return {name: getattr(d, name) for name in LpDefinition.__dataclass_fields__}


@router.post(
    "/lps",
    status_code=201,
    openapi_extra=body_schema(CreateLpBody),
    responses={409: {"description": "LP_EXISTS, LP_SESSION_IN_USE"}},
)
async def create_lp(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Add an LP: its own FIX session starts at once (no other session is touched) and it is kept
    across restarts; 400 INVALID_LP_CONFIG names the field."""
    body = await read_body(request, service, ctx, Op.LP_CREATE, "lp:", CreateLpBody)
    session = await service.liquidity.create_lp(
        ctx.with_request_id(body.request_id or ""), body.definition(), body.enabled
    )
    return {"lp": lp_to_json(session)}


@router.put("/lps/{lp_id}", openapi_extra=body_schema(LpFields))
async def update_lp(lp_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Change an LP's definition (the fields sent; the others stay): its session restarts with
    it; 404 LP_NOT_FOUND; 409 LP_SESSION_IN_USE."""
    body = await read_body(request, service, ctx, Op.LP_UPDATE, f"lp:{lp_id}", LpFields)
    session = await service.liquidity.update_lp(
        ctx.with_request_id(body.request_id or ""), lp_id, body.changes()
    )
    return {"lp": lp_to_json(session)}


@router.delete("/lps/{lp_id}")
async def delete_lp(lp_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Delete an LP: its session stops, and it stays deleted across restarts (the LP as it was
    is answered); 409 LP_SESSION_IN_USE while orders sent to it are unresolved."""
    session = await service.liquidity.delete_lp(ctx, lp_id)
    return {"lp": lp_to_json(session)}


async def _enable_lp(
    enabled: bool, lp_id: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    op = Op.LP_ENABLE if enabled else Op.LP_DISABLE
    body = await read_body(request, service, ctx, op, f"lp:{lp_id}", RequestIdBody)
    session = await service.liquidity.set_lp_enabled(
        ctx.with_request_id(body.request_id or ""), lp_id, enabled
    )
    return {"lp": lp_to_json(session)}


@router.post("/lps/{lp_id}/enable", openapi_extra=_OPTIONAL)
async def enable_lp(lp_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Enable the LP: its session starts."""
    return await _enable_lp(True, lp_id, request, ctx, service)


@router.post("/lps/{lp_id}/disable", openapi_extra=_OPTIONAL)
async def disable_lp(lp_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Disable the LP: its session stops, it takes no orders (connect answers 409 LP_DISABLED)."""
    return await _enable_lp(False, lp_id, request, ctx, service)


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
