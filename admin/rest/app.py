"""The admin ASGI app; the process (server.py) owns the service and its resources."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from admin.logins import LoginThrottled
from admin.rest import (
    accounts,
    audit,
    auth,
    execution,
    liquidity,
    money,
    system,
    users,
    withdrawals,
)
from admin.rest import markups as markups_routes
from admin.rest import routing as routing_what_if
from admin.rest import symbols as symbols_routes
from admin.rest.deps import BodyInvalid
from admin.service import AdminService
from admin.system import NotSupported
from fxmesh.http import (
    NATIVE_TELEMETRY_OFF,
    HttpMetrics,
    error_body,
    install_error_handlers,
    instrument,
)

SERVICE = "admin"
# fxmesh_admin_http_requests_total / fxmesh_admin_http_request_seconds (used by the request middleware).
HTTP = HttpMetrics(SERVICE)


async def _on_body_invalid(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, BodyInvalid)
    return JSONResponse(
        error_body(exc.reason, exc.message, {"errors": exc.errors}), status_code=422
    )


async def _on_throttled(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, LoginThrottled)
    return JSONResponse(
        error_body(exc.reason, exc.message, exc.metadata),
        status_code=429,
        headers={"Retry-After": str(exc.retry_after)},
    )


async def _on_not_supported(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NotSupported)
    return JSONResponse(error_body(exc.reason, exc.message, exc.metadata), status_code=501)


def create_app(service: AdminService) -> FastAPI:
    app = FastAPI(
        title="fxmesh admin",
        description=(
            "Back office: client accounts, money, LPs and FIX sessions, exposure, audit log, "
            "admin users, system health and metrics. "
            "Bearer admin token from POST /admin/login; each operation's roles are in "
            "docs/admin.md. Mutating calls take a request id (Idempotency-Key or X-Request-Id "
            "header, or requestId in the body)."
        ),
        docs_url="/admin/docs",
        openapi_url="/admin/openapi.json",
        redoc_url=None,
        telemetry=NATIVE_TELEMETRY_OFF,
    )
    app.state.service = service
    install_error_handlers(app)
    app.add_exception_handler(BodyInvalid, _on_body_invalid)
    app.add_exception_handler(LoginThrottled, _on_throttled)
    app.add_exception_handler(NotSupported, _on_not_supported)
    for module in (
        auth,
        accounts,
        money,
        withdrawals,
        liquidity,
        audit,
        users,
        system,
        routing_what_if,
    ):
        app.include_router(module.router)
    app.include_router(symbols_routes.router)
    app.include_router(execution.router)
    app.include_router(markups_routes.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        ok = await request.app.state.service.ready()
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "checks": {"postgres": ok}},
            status_code=200 if ok else 503,
        )

    instrument(app, service=SERVICE, tracer_name="admin.rest")
    return app
