"""Per-request server span, X-Trace-Id header, one canonical log line and HTTP metrics.

A pure ASGI middleware (no BaseHTTPMiddleware) so the span is the current context while the route
runs: the gRPC client interceptor then carries the same trace to oms.

Kept identical to edge's module of the same name (services share no code outside fxmesh); a
candidate for the shared runtime.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = structlog.stdlib.get_logger("fxmesh.http")
UNMATCHED_ROUTE = "(unmatched)"
_QUIET_ROUTES = frozenset({"/metrics", "/healthz", "/readyz"})


class RequestObservability:
    """Wrap every HTTP request of ``app`` in a span, a log line and request metrics."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_name: str,
        requests: Counter,
        seconds: Histogram,
        on_unhandled: Callable[[], object],
    ) -> None:
        self.app = app
        self.tracer = trace.get_tracer(tracer_name)
        self.requests = requests
        self.seconds = seconds
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
