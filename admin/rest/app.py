"""The admin ASGI app; the process (server.py) owns the service and its resources."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from admin.rest.routes import router
from admin.service import AdminService
from fxmesh.http import NATIVE_TELEMETRY_OFF, HttpMetrics, install_error_handlers, instrument

SERVICE = "admin"
# fxmesh_admin_http_requests_total / fxmesh_admin_http_request_seconds (used by the request middleware).
HTTP = HttpMetrics(SERVICE)


def create_app(service: AdminService) -> FastAPI:
    app = FastAPI(
        title="fxmesh admin",
        docs_url="/admin/docs",
        openapi_url="/admin/openapi.json",
        redoc_url=None,
        telemetry=NATIVE_TELEMETRY_OFF,
    )
    app.state.service = service
    install_error_handlers(app)
    app.include_router(router)

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
