"""Execution pages: execution mode, client overrides, group routing rules, routing thresholds
(router's configuration) and the A/B/C book split (oms's deals)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from pydantic import Field

from admin.execution import (
    ClientOverride,
    ExposureThreshold,
    FlowThresholdRow,
    GroupRule,
    SymbolMode,
    VolatilityThresholdRow,
    VolumeThreshold,
    account_id_of,
    book_of,
    book_split_json,
    execution_mode_json,
    fallback_of,
    over_limit_of,
    override_json,
    rule_json,
    thresholds_json,
)
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, query_time, read_body
from fxmesh.errors import InvalidArgument
from fxmesh.reasons import Reason

router = APIRouter(prefix="/admin", tags=["execution"])
ZERO = Decimal(0)
T = TypeVar("T")
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"description": "CONFIG_VERSION_CHANGED: expectedVersion is stale"}
}


class Versioned(Body):
    expected_version: int | None = Field(
        None, ge=1, description="Apply only if the configuration is still at this version."
    )
    request_id: str | None = Field(None, max_length=64)


class ExecutionModeBody(Versioned):
    mode: str = Field(description="A, B or C; B for the global mode removes the global rule.")
    symbol: str | None = Field(None, max_length=32, description="Absent: the global mode.")
    hedge_ratio: Decimal | None = Field(None, description="C only: share sent to the LPs.")
    max_volume: Decimal | None = Field(None, description="The symbol's B-book maximum (lots).")
    over_limit: str | None = Field(None, description="A or SPLIT (default) above maxVolume.")
    priority_lps: list[str] | None = Field(None, max_length=8, description="LPs tried first.")
    fallback_mode: str | None = Field(None, description="B or REJECT when no LP is healthy.")


class OverrideBody(Versioned):
    account_id: str | int
    mode: str
    hedge_ratio: Decimal | None = None
    reason: str | None = Field(
        None, max_length=64, description="UPPER_SNAKE; default ADMIN_<mode>_BOOK."
    )
    enabled: bool = True


class RuleBody(Versioned):
    client_group: str = Field(max_length=64)
    symbol: str | None = Field(None, max_length=32)
    mode: str
    hedge_ratio: Decimal | None = None
    priority: int = Field(100, description="Lower is tried first (symbol modes: 500000).")
    reason: str | None = Field(
        None, max_length=64, description="UPPER_SNAKE; default GROUP_<mode>_BOOK."
    )
    enabled: bool = True


class VolumeLimitBody(Body):
    client_group: str | None = Field(None, max_length=64)
    symbol: str | None = Field(None, max_length=32)
    max_volume: Decimal | None = Field(description="null removes this scope's maximum.")
    over_limit: str = "SPLIT"


class ExposureLimitBody(Body):
    symbol: str = Field(max_length=32)
    max_net_volume: Decimal | None = Field(description="null removes the symbol's limit.")


_COUNT = 2**31 - 1


class FlowThresholdBody(Body):
    client_group: str | None = Field(None, max_length=64, description="null: any client group.")
    min_closed_deals: int = Field(1, ge=0, le=_COUNT)
    net_profit_min: Decimal | None = Field(None, description="Profitable: net profit above.")
    win_rate_min: Decimal | None = Field(None, description="Profitable: win rate (0..1) above.")
    min_markout_fills: int = Field(1, ge=0, le=_COUNT)
    toxicity_min_bps: Decimal | None = Field(None, description="Toxic: score (bps) at or above.")
    latency_arb_share_min: Decimal | None = Field(
        None, description="Toxic: latency-arbitrage share (0..1) at or above."
    )
    remove: bool = Field(False, description="true removes this client group's row.")


class VolatilityThresholdBody(Body):
    symbol: str | None = Field(None, max_length=32, description="null: any symbol.")
    max_bps: Decimal | None = Field(
        None, description="Volatility (bps per square root of a minute) at or above which it acts."
    )
    mode: str = Field("A", description="A, B or C.")
    hedge_ratio: Decimal | None = Field(None, description="C only: share sent to the LPs.")
    remove: bool = Field(False, description="true removes this symbol's row.")


class ThresholdsBody(Versioned):
    volume_limits: list[VolumeLimitBody] = Field(default_factory=list, max_length=100)
    exposure_limits: list[ExposureLimitBody] = Field(default_factory=list, max_length=100)
    flow_thresholds: list[FlowThresholdBody] = Field(default_factory=list, max_length=100)
    volatility_thresholds: list[VolatilityThresholdBody] = Field(
        default_factory=list, max_length=100
    )


def _ratio(book: str, ratio: Decimal | None) -> Decimal:
    return ratio if ratio is not None else ZERO


def _mode(body: ExecutionModeBody) -> SymbolMode:
    book = book_of(body.mode)
    symbol = body.symbol.strip().upper() if body.symbol is not None else None
    if symbol is None and (
        body.max_volume is not None
        or body.priority_lps is not None
        or body.fallback_mode is not None
        or body.over_limit is not None
    ):
        raise InvalidArgument(
            "maxVolume, overLimit, priorityLps and fallbackMode belong to a symbol's mode",
            reason="SYMBOL_REQUIRED",
            metadata={"field": "symbol"},
        )
    return SymbolMode(
        symbol=symbol,
        book=book,
        hedge_ratio=_ratio(book, body.hedge_ratio),
        max_volume=body.max_volume,
        over_limit=over_limit_of(body.over_limit or "SPLIT"),
        fallback=fallback_of(body.fallback_mode) if body.fallback_mode is not None else None,
        priority_lps=tuple(lp.strip() for lp in body.priority_lps or ()),
    )


@router.get("/execution-mode")
async def get_execution_mode(ctx: Ctx, service: Service) -> dict[str, Any]:
    """The global execution mode and each symbol's own (mode, maxVolume, overLimit,
    fallbackMode, priorityLps), with the routing configuration version."""
    return execution_mode_json(await service.execution.execution_mode(ctx))


@router.post(
    "/execution-mode",
    openapi_extra=body_schema(ExecutionModeBody),
    responses={400: {"description": "INVALID_BOOK, INVALID_HEDGE_RATIO, ..."}, **_CONFLICT},
)
async def set_execution_mode(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Set the global mode (no ``symbol``; B removes the global rule) or one symbol's rule with
    its maxVolume, priorityLps and fallbackMode. Applies to the next order; audited."""
    body = await read_body(
        request, service, ctx, Op.EXECUTION_MODE_SET, "execution_mode", ExecutionModeBody
    )
    ctx = ctx.with_request_id(body.request_id or "")
    mode = await service.execution.checked(
        ctx, Op.EXECUTION_MODE_SET, "execution_mode", lambda: _mode(body)
    )
    changed = await service.execution.set_execution_mode(ctx, mode, body.expected_version)
    return execution_mode_json(changed)


@router.delete("/execution-mode/symbols/{symbol}", responses=_CONFLICT)
async def remove_symbol_mode(
    symbol: str,
    ctx: Ctx,
    service: Service,
    expected_version: Annotated[int | None, Query(alias="expectedVersion", ge=1)] = None,
) -> dict[str, Any]:
    """Remove a symbol's own mode (404 SYMBOL_RULE_NOT_FOUND): the global mode applies to it."""
    changed = await service.execution.remove_symbol_mode(ctx, symbol.upper(), expected_version)
    return execution_mode_json(changed)


@router.get("/client-overrides")
async def list_overrides(ctx: Ctx, service: Service) -> dict[str, Any]:
    """Every client account forced to a book."""
    version, overrides = await service.execution.overrides(ctx)
    return {"configVersion": version, "overrides": [override_json(o) for o in overrides]}


@router.post(
    "/client-overrides",
    openapi_extra=body_schema(OverrideBody),
    responses={404: {"description": "ACCOUNT_NOT_FOUND"}, **_CONFLICT},
)
async def set_override(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Force one client to A, B or C (C with a hedgeRatio), above every routing rule; the next
    order of the account follows it."""
    body = await read_body(request, service, ctx, Op.CLIENT_OVERRIDE_SET, "account:?", OverrideBody)
    ctx = ctx.with_request_id(body.request_id or "")
    override = await service.execution.checked(
        ctx, Op.CLIENT_OVERRIDE_SET, f"account:{body.account_id}", lambda: _override(body)
    )
    version, stored = await service.execution.set_override(ctx, override, body.expected_version)
    return {"configVersion": version, "override": override_json(stored)}


def _override(body: OverrideBody) -> ClientOverride:
    book = book_of(body.mode)
    return ClientOverride(
        account_id=account_id_of(str(body.account_id)),
        book=book,
        hedge_ratio=_ratio(book, body.hedge_ratio),
        reason=(body.reason or f"ADMIN_{book}_BOOK").strip(),
        enabled=body.enabled,
    )


@router.delete("/client-overrides/{account_id}", responses=_CONFLICT)
async def delete_override(
    account_id: str,
    ctx: Ctx,
    service: Service,
    expected_version: Annotated[int | None, Query(alias="expectedVersion", ge=1)] = None,
) -> dict[str, Any]:
    """Remove a client's override (404 OVERRIDE_NOT_FOUND when it has none)."""
    version = await service.execution.delete_override(ctx, account_id, expected_version)
    return {"configVersion": version}


def _rule(body: RuleBody, rule_id: int = 0) -> GroupRule:
    book = book_of(body.mode)
    return GroupRule(
        rule_id=rule_id,
        priority=body.priority,
        client_group=body.client_group.strip(),
        symbol=body.symbol.strip().upper() if body.symbol else None,
        book=book,
        hedge_ratio=_ratio(book, body.hedge_ratio),
        reason=(body.reason or f"GROUP_{book}_BOOK").strip(),
        enabled=body.enabled,
    )


@router.get("/routing-rules")
async def list_rules(ctx: Ctx, service: Service) -> dict[str, Any]:
    """The group routing rules in the order they are tried (lowest priority, then id)."""
    version, rules = await service.execution.rules(ctx)
    return {"configVersion": version, "rules": [rule_json(r) for r in rules]}


@router.post("/routing-rules", status_code=201, openapi_extra=body_schema(RuleBody))
async def create_rule(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Add a group rule: orders of ``clientGroup`` (and ``symbol``, if given) go to ``mode``."""
    body = await read_body(
        request, service, ctx, Op.ROUTING_RULE_CREATE, "routing_rule:new", RuleBody
    )
    ctx = ctx.with_request_id(body.request_id or "")
    rule = await service.execution.checked(
        ctx, Op.ROUTING_RULE_CREATE, "routing_rule:new", lambda: _rule(body)
    )
    version, created = await service.execution.create_rule(ctx, rule, body.expected_version)
    return {"configVersion": version, "rule": rule_json(created)}


@router.put(
    "/routing-rules/{rule_id}",
    openapi_extra=body_schema(RuleBody),
    responses={404: {"description": "RULE_NOT_FOUND"}, **_CONFLICT},
)
async def update_rule(rule_id: int, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Replace a group rule."""
    target = f"routing_rule:{rule_id}"
    body = await read_body(request, service, ctx, Op.ROUTING_RULE_UPDATE, target, RuleBody)
    ctx = ctx.with_request_id(body.request_id or "")
    rule = await service.execution.checked(
        ctx, Op.ROUTING_RULE_UPDATE, target, lambda: _rule(body, rule_id)
    )
    version, stored = await service.execution.update_rule(ctx, rule, body.expected_version)
    return {"configVersion": version, "rule": rule_json(stored)}


@router.delete(
    "/routing-rules/{rule_id}", responses={404: {"description": "RULE_NOT_FOUND"}, **_CONFLICT}
)
async def delete_rule(
    rule_id: int,
    ctx: Ctx,
    service: Service,
    expected_version: Annotated[int | None, Query(alias="expectedVersion", ge=1)] = None,
) -> dict[str, Any]:
    """Remove a group rule."""
    return {"configVersion": await service.execution.delete_rule(ctx, rule_id, expected_version)}


@router.get("/routing-thresholds")
async def get_thresholds(ctx: Ctx, service: Service) -> dict[str, Any]:
    """B-book volume maxima (per group+symbol, symbol, group or global), house exposure
    limits per symbol, and the flow (per client group) and volatility (per symbol) threshold rows
    of the routing levels 3a to 3c (``null`` scope: any)."""
    return thresholds_json(await service.execution.thresholds(ctx))


@router.put("/routing-thresholds", openapi_extra=body_schema(ThresholdsBody), responses=_CONFLICT)
async def set_thresholds(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Set the listed thresholds (``null`` removes a volume or exposure limit, ``remove: true`` a
    flow or volatility row); those not listed stay as they are. One configuration version,
    applied to the next order; audited with the thresholds before and after."""
    body = await read_body(
        request, service, ctx, Op.ROUTING_THRESHOLDS_SET, "routing_thresholds", ThresholdsBody
    )
    ctx = ctx.with_request_id(body.request_id or "")
    volumes, exposures = await service.execution.checked(
        ctx, Op.ROUTING_THRESHOLDS_SET, "routing_thresholds", lambda: _thresholds(body)
    )
    flows, vols = await service.execution.checked(
        ctx, Op.ROUTING_THRESHOLDS_SET, "routing_thresholds", lambda: _flow_levels(body)
    )
    changed = await service.execution.set_thresholds(
        ctx, volumes, exposures, body.expected_version, flows, vols
    )
    return thresholds_json(changed)


def _flow_levels(
    body: ThresholdsBody,
) -> tuple[list[FlowThresholdRow], list[VolatilityThresholdRow]]:
    flows = [
        FlowThresholdRow(f.client_group.strip() or None if f.client_group else None, remove=True)
        if f.remove
        else FlowThresholdRow(
            client_group=f.client_group.strip() or None if f.client_group else None,
            min_closed_deals=f.min_closed_deals,
            net_profit_min=f.net_profit_min,
            win_rate_min=f.win_rate_min,
            min_markout_fills=f.min_markout_fills,
            toxicity_min_bps=f.toxicity_min_bps,
            latency_arb_share_min=f.latency_arb_share_min,
        )
        for f in body.flow_thresholds
    ]
    vols = []
    for v in body.volatility_thresholds:
        symbol = v.symbol.strip().upper() or None if v.symbol else None
        if v.remove:
            vols.append(VolatilityThresholdRow(symbol, ZERO, remove=True))
            continue
        if v.max_bps is None:
            raise InvalidArgument(
                "maxBps is required (or remove: true)",
                reason=Reason.MISSING_FIELD,
                metadata={"field": "maxBps"},
            )
        book = book_of(v.mode)
        vols.append(VolatilityThresholdRow(symbol, v.max_bps, book, _ratio(book, v.hedge_ratio)))
    return flows, vols


def _thresholds(body: ThresholdsBody) -> tuple[list[VolumeThreshold], list[ExposureThreshold]]:
    volumes = [
        VolumeThreshold(
            v.client_group.strip() if v.client_group else None,
            v.symbol.strip().upper() if v.symbol else None,
            v.max_volume,
            over_limit_of(v.over_limit),
        )
        for v in body.volume_limits
    ]
    exposures = [
        ExposureThreshold(e.symbol.strip().upper(), e.max_net_volume) for e in body.exposure_limits
    ]
    return volumes, exposures


@router.get(
    "/risk/book-split", responses={400: {"description": "INVALID_TIME, INVALID_TIME_RANGE"}}
)
async def book_split(
    ctx: Ctx,
    service: Service,
    start: Annotated[str, Query(alias="from", description="RFC 3339; default 00:00 UTC")] = "",
    end: Annotated[str, Query(alias="to", description="RFC 3339; default now")] = "",
) -> dict[str, Any]:
    """The A/B/C split of [from, to): per book (the router's choice for the order) deals, lots,
    share of lots, clients' realized P&L, commission, swap and net, and each venue's part."""
    report = await service.execution.book_split(
        ctx, query_time(start, "from"), query_time(end, "to")
    )
    return book_split_json(report)
