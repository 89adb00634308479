"""The one exception-handler table: FxError / gRPC errors / validation errors -> JSON.

Body: ``{"code": REASON, "message": ..., "details": {...}}``. The HTTP status follows the gRPC code;
anything unexpected is a 500 with a generic message (the traceback goes to the log only).

Kept identical to edge's module of the same name (services share no code outside fxmesh); a
candidate for the shared runtime.
"""

from __future__ import annotations

from typing import Any

import grpc
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from fxmesh.errors import FxError, from_rpc_error

log = structlog.stdlib.get_logger(__name__)

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
# Transport failures carry peer addresses in their text; clients get these instead.
_TRANSPORT_MESSAGES = {503: "service temporarily unavailable", 504: "upstream timed out"}
DECIMAL_MUST_BE_STRING = "DECIMAL_MUST_BE_STRING"


def error_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details or {}}


def fx_error_response(exc: FxError) -> JSONResponse:
    """Map one FxError to its HTTP response; unknown codes hide their message."""
    status = HTTP_STATUS_BY_GRPC.get(exc.code, 500)
    if status == 500:
        log.error("request_failed", code=exc.code.name, reason=exc.reason, error=exc.message)
        return JSONResponse(error_body("INTERNAL", GENERIC_MESSAGE), status_code=500)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    message = exc.message
    if status in _TRANSPORT_MESSAGES:
        log.warning("upstream_unavailable", code=exc.code.name, error=exc.message)
        message = _TRANSPORT_MESSAGES[status]
    return JSONResponse(
        error_body(exc.reason, message, exc.metadata), status_code=status, headers=headers
    )


def internal_error_response() -> JSONResponse:
    return JSONResponse(error_body("INTERNAL", GENERIC_MESSAGE), status_code=500)


def _validation_errors(exc: RequestValidationError) -> tuple[str, list[dict[str, Any]]]:
    errors: list[dict[str, Any]] = []
    code = "VALIDATION_ERROR"
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        kind = str(err.get("type", ""))
        if kind == DECIMAL_MUST_BE_STRING.lower():
            code = DECIMAL_MUST_BE_STRING
        errors.append({"field": ".".join(loc), "type": kind, "message": err.get("msg", "")})
    return code, errors


async def _on_fx_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FxError)
    return fx_error_response(exc)


async def _on_rpc_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, grpc.aio.AioRpcError)
    return fx_error_response(from_rpc_error(exc))


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    code, errors = _validation_errors(exc)
    return JSONResponse(
        error_body(code, "request is not valid", {"errors": errors}), status_code=422
    )


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 401: "UNAUTHENTICATED"}.get(
        exc.status_code, "HTTP_ERROR"
    )
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the table on ``app`` (unknown exceptions are handled by the request middleware)."""
    app.add_exception_handler(FxError, _on_fx_error)
    app.add_exception_handler(grpc.aio.AioRpcError, _on_rpc_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
