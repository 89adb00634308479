"""Shared HTTP (FastAPI/ASGI) runtime: the error-handler table and the request middleware.

Errors: body ``{"code": REASON, "message": ..., "details": {...}}``. The HTTP status follows the
gRPC code; anything unexpected is a 500 with a generic message (the traceback goes to the log only).

Serving: ``http_server`` builds a uvicorn server that leaves signals to ServiceRuntime and
``HttpServing`` runs it as a task: ``start`` returns once it listens, ``stop`` ends it gracefully.

Observability: a pure ASGI middleware (no BaseHTTPMiddleware) so the request's server span is the
current context while the route runs: the gRPC channel (``fxmesh.grpcclient``) then carries the
same trace downstream. It adds an ``X-Trace-Id`` header, one canonical log line and the per-service metrics
``fxmesh_<service>_http_requests_total`` / ``fxmesh_<service>_http_request_seconds``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Generator, Mapping
from typing import Any, Literal

import grpc
import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.telemetry import TelemetryConfig
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fxmesh.admission import OVERLOADED, RETRY_AFTER_KEY
from fxmesh.errors import FxError, from_rpc_error
from fxmesh.metrics import LATENCY_BUCKETS

log = structlog.stdlib.get_logger(__name__)

# --- error table -------------------------------------------------------------------------------

HTTP_STATUS_BY_GRPC: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
GENERIC_MESSAGE = "internal error"
VALIDATION_ERROR = "VALIDATION_ERROR"
# Transport failures carry peer addresses in their text; clients get these instead.
_TRANSPORT_MESSAGES = {503: "service temporarily unavailable", 504: "upstream timed out"}
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHENTICATED"}


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details or {}}


def fx_error_response(exc: FxError) -> JSONResponse:
    """Map one FxError to its HTTP response; unknown codes hide their message.

    A service refusing work because it is overloaded (reason ``OVERLOADED``, see
    ``fxmesh.admission``) is a 503 whatever its gRPC code, with ``Retry-After`` from the error's
    ``retry_after_seconds``: the server is at capacity, not the client over a quota (429)."""
    status = HTTP_STATUS_BY_GRPC.get(exc.code, 500)
    if exc.reason == OVERLOADED:
        status = 503
    if status == 500:
        log.error("request_failed", code=exc.code.name, reason=exc.reason, error=exc.message)
        return internal_error_response()
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    retry_after = exc.metadata.get(RETRY_AFTER_KEY)
    if retry_after is not None and retry_after.isdigit():
        headers = {"Retry-After": retry_after}
    message = exc.message
    # Only a bare transport failure (reason = the code's name) carries peer addresses.
    if status in _TRANSPORT_MESSAGES and exc.reason == exc.code.name:
        log.warning("upstream_unavailable", code=exc.code.name, error=exc.message)
        message = _TRANSPORT_MESSAGES[status]
    return JSONResponse(
        error_body(exc.reason, message, exc.metadata), status_code=status, headers=headers
    )


def internal_error_response() -> JSONResponse:
    return JSONResponse(error_body("INTERNAL", GENERIC_MESSAGE), status_code=500)


def validation_error_response(
    exc: RequestValidationError, codes: Mapping[str, str] | None = None
) -> JSONResponse:
    """A 422 listing every field error; ``codes`` maps a pydantic error type to a specific code."""
    errors: list[dict[str, Any]] = []
    code = VALIDATION_ERROR
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        kind = str(err.get("type", ""))
        if codes and kind in codes:
            code = codes[kind]
        errors.append({"field": ".".join(loc), "type": kind, "message": err.get("msg", "")})
    return JSONResponse(
        error_body(code, "request is not valid", {"errors": errors}), status_code=422
    )


async def _on_fx_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FxError)
    return fx_error_response(exc)


async def _on_rpc_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    return fx_error_response(from_rpc_error(exc))


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(
    app: FastAPI, *, validation_codes: Mapping[str, str] | None = None
) -> None:
    """Register the table on ``app`` (unknown exceptions are handled by the request middleware).

    ``validation_codes`` maps a service's own pydantic error types (e.g. ``decimal_must_be_string``)
    to the ``code`` of the 422 body; otherwise it is ``VALIDATION_ERROR``.
    """
    codes = dict(validation_codes or {})

    async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return validation_error_response(exc, codes)

    app.add_exception_handler(FxError, _on_fx_error)
    app.add_exception_handler(grpc.aio.AioRpcError, _on_rpc_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)


# --- request observability ---------------------------------------------------------------------

UNMATCHED_ROUTE = "(unmatched)"
_QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})


@functools.cache
def _http_metrics(service: str) -> tuple[Counter, Histogram]:
    # Registered once per service name per process, so a process (a test) may build several apps.
    requests = Counter(
        f"fxmesh_{service}_http_requests_total",
        "HTTP requests handled, by route template and status.",
        ["route", "status"],
    )
    seconds = Histogram(
        f"fxmesh_{service}_http_request_seconds",
        "HTTP request handling time, by route template.",
        ["route"],
        buckets=LATENCY_BUCKETS,
    )
    return requests, seconds


class HttpMetrics:
    """Request count and latency of one service's HTTP server, by route template and status."""

    def __init__(self, service: str) -> None:
        self.requests, self.seconds = _http_metrics(service)


class RequestObservability:
    """Wrap every HTTP request of ``app`` in a span, a log line and ``service``'s request metrics."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str,
        tracer_name: str,
        on_unhandled: Callable[[], object] = internal_error_response,
    ) -> None:
        self.app = app
        self.tracer = trace.get_tracer(tracer_name)
        metrics = HttpMetrics(service)
        self.requests = metrics.requests
        self.seconds = metrics.seconds
        self.on_unhandled = on_unhandled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        started = time.perf_counter()
        status = 500
        response_started = False
        with self.tracer.start_as_current_span(
            f"{method} {scope['path']}", kind=SpanKind.SERVER, record_exception=False
        ) as span:
            ctx = span.get_span_context()
            trace_id = format(ctx.trace_id, "032x") if ctx.is_valid else None

            async def send_with_trace(message: Message) -> None:
                nonlocal status, response_started
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    response_started = True
                    if trace_id:
                        headers = list(message.get("headers", []))
                        headers.append((b"x-trace-id", trace_id.encode()))
                        message = {**message, "headers": headers}
                await send(message)

            try:
                await self.app(scope, receive, send_with_trace)
            except Exception as exc:
                log.error("unhandled_exception", method=method, exc_info=exc)
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                if response_started:
                    raise
                response = self.on_unhandled()
                await response(scope, receive, send_with_trace)  # type: ignore[operator]
            route_obj = scope.get("route")
            route = getattr(route_obj, "path", None) or UNMATCHED_ROUTE
            span.update_name(f"{method} {route}")
            span.set_attribute("http.request.method", method)
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            elapsed = time.perf_counter() - started
            self.requests.labels(route, str(status)).inc()
            self.seconds.labels(route).observe(elapsed)
            if route not in _QUIET_ROUTES:
                log.info(
                    "http_request",
                    method=method,
                    route=route,
                    status=status,
                    duration_ms=round(elapsed * 1e3, 3),
                )


# --- serving -----------------------------------------------------------------------------------


# Pass as ``FastAPI(telemetry=...)``. RequestObservability already opens each request's span,
# logs it and counts it; FastAPI's own OpenTelemetry telemetry would add a second server span
# plus a span per dependency, endpoint and serialization: ~150 us of CPU per request (a third of
# a small POST with two dependencies).
NATIVE_TELEMETRY_OFF: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
}


def instrument(app: FastAPI, *, service: str, tracer_name: str) -> None:
    """Serve ``/metrics`` and wrap every request in a span, a log line and request metrics."""

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.add_middleware(RequestObservability, service=service, tracer_name=tracer_name)


def split_addr(addr: str) -> tuple[str, int]:
    """``"127.0.0.1:8080"`` -> ``("127.0.0.1", 8080)``."""
    host, _, port = addr.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: ServiceRuntime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def http_server(
    app: object,
    addr: str,
    *,
    lifespan: Literal["on", "off"] = "on",
    ws_ping_interval: float = 20.0,
) -> EmbeddedServer:
    host, port = split_addr(addr)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan=lifespan,
        ws_ping_interval=ws_ping_interval,
        ws_ping_timeout=ws_ping_interval,
        proxy_headers=False,
    )
    return EmbeddedServer(config)


class HttpServing:
    """``server`` run as the task ``name``: ``start`` returns its port once it listens (the app's
    lifespan has started by then), ``stop`` lets open requests finish and runs the lifespan's end.

    ``on_exit`` is called when the server ends, whether stopped or on its own (``python -m``
    passes ``ServiceRuntime.request_stop``: a process whose HTTP server is gone stops).
    """

    def __init__(
        self, server: EmbeddedServer, name: str, *, on_exit: Callable[[], object] | None = None
    ) -> None:
        self.server = server
        self.name = name
        self._on_exit = on_exit
        self._serving: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Serve; the bound port once listening. uvicorn exits the process itself when the app's
        lifespan or the bind fails; a server that ended before listening otherwise raises."""
        serving = self._serving = asyncio.create_task(self.server.serve(), name=self.name)
        if self._on_exit is not None:
            on_exit = self._on_exit
            serving.add_done_callback(lambda _: on_exit())
        # uvicorn has no "listening" event to wait on: ``started`` turns true once it listens.
        while not self.server.started:
            if serving.done():
                serving.result()
                raise RuntimeError(f"{self.name} stopped before it listened")
            await asyncio.sleep(0.01)
        port: int = self.server.servers[0].sockets[0].getsockname()[1]
        return port

    async def stop(self) -> None:
        if self._serving is None:
            return
        self.server.should_exit = True
        await self._serving
