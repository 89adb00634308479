"""REST routes under /admin: login, client accounts, audit log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from admin.convert import account_to_json, audit_to_json, iso
from admin.rest.deps import Reader, Service

router = APIRouter(prefix="/admin", tags=["admin"])
PageSize = Annotated[int, Query(alias="pageSize", ge=0, le=1000)]


class LoginBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=256)


@router.post("/login")
async def login(body: LoginBody, service: Service) -> dict[str, Any]:
    """Exchange admin credentials for a bearer token carrying the role."""
    result = await service.login(body.username, body.password)
    return {
        "accessToken": result.access_token,
        "tokenType": "Bearer",
        "expiresAt": iso(result.expires_at),
        "role": result.role.value,
    }


@router.get("/accounts")
async def list_accounts(admin: Reader, service: Service, page_size: PageSize = 0) -> dict[str, Any]:
    """Client accounts (any role)."""
    accounts = await service.list_client_accounts(admin, page_size)
    return {"accounts": [account_to_json(a) for a in accounts]}


@router.get("/audit")
async def list_audit(admin: Reader, service: Service, page_size: PageSize = 0) -> dict[str, Any]:
    """The audit log, newest first (any role)."""
    entries = await service.list_audit_entries(admin, page_size)
    return {"entries": [audit_to_json(e) for e in entries]}
