"""System health, key figures and service restarts."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from admin.documents import health_to_json, metrics_to_json
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, read_body

router = APIRouter(prefix="/admin/system", tags=["system"])


class RestartBody(Body):
    service: str = Field(min_length=1, max_length=32, description="oms, router, fixgw, ...")
    request_id: str | None = Field(None, max_length=64)


@router.get("/health")
async def health(ctx: Ctx, service: Service) -> dict[str, Any]:
    """Every service (gRPC health, edge /readyz) and dependency (PostgreSQL, Redis, RabbitMQ)
    with its latency, every LP session, and the overall status UP / DEGRADED / DOWN (always
    200: this is a report; admin's own probe is /readyz)."""
    return health_to_json(await service.system.health(ctx))


@router.get("/metrics")
async def metrics(ctx: Ctx, service: Service) -> dict[str, Any]:
    """The operator's key figures: house exposure, LP sessions, orders held for reconciliation,
    client accounts by status, locked logins; sources that did not answer in ``unavailable``."""
    return metrics_to_json(await service.system.metrics(ctx))


@router.post(
    "/restart",
    openapi_extra=body_schema(RestartBody),
    responses={
        400: {"description": "UNKNOWN_SERVICE"},
        501: {"description": "RESTART_NOT_SUPPORTED: this deployment has no process supervisor"},
    },
)
async def restart(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Restart a named service through the process supervisor. This deployment has none: 501
    RESTART_NOT_SUPPORTED (audited)."""
    body = await read_body(request, service, ctx, Op.SYSTEM_RESTART, "service:", RestartBody)
    await service.system.restart(ctx.with_request_id(body.request_id or ""), body.service)
    return {"restarted": body.service}
