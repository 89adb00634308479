"""Typed dependencies: the service, the caller's request context, and strict JSON bodies.

Authorization is not here: every route hands its ``RequestContext`` to the service, whose gate
checks the role (one place for REST and gRPC). Bodies are read here rather than by FastAPI so that
JSON numbers parse as ``Decimal`` (never float), and so that a bad body of a change is answered
only after the role check, with its FAILED audit row.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from admin.domain import RequestContext
from admin.permissions import Op
from admin.service import AdminService
from fxmesh.auth import bearer_token
from fxmesh.errors import InvalidArgument

M = TypeVar("M", bound=BaseModel)
REQUEST_ID_HEADERS = ("idempotency-key", "x-request-id")


class Body(BaseModel):
    """A request body: camelCase keys, unknown fields refused (422 UNKNOWN_FIELD)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=False
    )


class BodyInvalid(InvalidArgument):
    """A body that is not valid JSON or does not fit its schema (HTTP 422)."""

    default_reason = "VALIDATION_ERROR"

    def __init__(self, message: str, reason: str, errors: list[dict[str, str]]) -> None:
        super().__init__(message, reason=reason)
        self.errors = errors


def get_service(request: Request) -> AdminService:
    service: AdminService = request.app.state.service
    return service


Service = Annotated[AdminService, Depends(get_service)]


async def request_context(request: Request, service: Service) -> RequestContext:
    """The admin the bearer token names (401 for a missing, bad, revoked or client token, or a
    disabled admin), with where the request came from and its request id header."""
    principal = await service.authenticate(bearer_token(request.headers.get("authorization")))
    request_id = next((request.headers[h] for h in REQUEST_ID_HEADERS if h in request.headers), "")
    return RequestContext(
        principal,
        source_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
        request_id=request_id.strip(),
    )


Ctx = Annotated[RequestContext, Depends(request_context)]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _parse(raw: bytes, model: type[M]) -> M:
    try:
        data = json.loads(raw or b"{}", parse_float=Decimal, parse_constant=_reject_constant)
    except ValueError as exc:
        raise BodyInvalid(
            "body is not valid JSON", "INVALID_JSON", [{"field": "", "message": str(exc)}]
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]),
                "type": err["type"],
                "message": err["msg"],
            }
            for err in exc.errors()
        ]
        unknown = any(e["type"] == "extra_forbidden" for e in errors)
        raise BodyInvalid(
            "request is not valid", "UNKNOWN_FIELD" if unknown else "VALIDATION_ERROR", errors
        ) from None


async def read_body(
    request: Request,
    service: AdminService,
    ctx: RequestContext,
    op: Op,
    target: str,
    model: type[M],
) -> M:
    """``model`` from the request body; a bad body is audited (DENIED first if the role may not
    run ``op`` at all, else FAILED) and answered 403 / 422."""
    raw = await request.body()
    try:
        return _parse(raw, model)
    except BodyInvalid as exc:
        async with service.gate.guard(ctx, op, target):
            raise exc from None
    raise AssertionError("unreachable")  # pragma: no cover


def body_schema(model: type[BaseModel]) -> dict[str, Any]:
    """OpenAPI ``requestBody`` of a route that reads its body with ``read_body``."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema(by_alias=True)}},
        }
    }


def query_time(value: str, name: str) -> datetime | None:
    """An optional ISO-8601 time with a zone from the query string (400 INVALID_TIME)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise InvalidArgument(
            f"{name} must be an ISO-8601 time with a zone, e.g. 2025-01-31T00:00:00Z",
            reason="INVALID_TIME",
            metadata={"field": name},
        )
    return parsed
