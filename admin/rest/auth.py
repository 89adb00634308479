"""POST /admin/login."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from admin.documents import iso
from admin.rest.deps import Body, Service

router = APIRouter(prefix="/admin", tags=["auth"])


class LoginBody(Body):
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


@router.post(
    "/login",
    responses={429: {"description": "Too many failed logins (LOGIN_THROTTLED, Retry-After)."}},
)
async def login(body: LoginBody, request: Request, service: Service) -> dict[str, Any]:
    """Exchange admin credentials for a short-lived bearer token carrying the role."""
    result = await service.login(
        body.username,
        body.password,
        source_ip=request.client.host if request.client else "",
        user_agent=request.headers.get("user-agent", ""),
    )
    return {
        "accessToken": result.access_token,
        "tokenType": "Bearer",
        "expiresAt": iso(result.expires_at),
        "role": result.role.value,
    }
