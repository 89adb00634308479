"""POST /api/login: client credentials -> bearer token (checked by oms)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter

from edge.deps import Resources
from edge.openapi import LoginResponse, responses
from edge.schemas import LoginRequest
from fxmesh.auth import issue_token
from fxmesh.v1 import oms_pb2

router = APIRouter(prefix="/api", tags=["auth"])


@router.post("/login", summary="Log in", response_model=None, responses=responses(LoginResponse))
async def login(body: LoginRequest, res: Resources) -> dict[str, Any]:
    """Exchange a login and password for an access token of that account."""
    reply = await res.oms.AuthenticateClient(
        oms_pb2.AuthenticateClientRequest(login=body.login, password=body.password),
        timeout=res.settings.grpc_deadline_seconds,
    )
    token, claims = issue_token(
        res.settings.jwt_secret,
        subject=reply.account_id,
        token_type="client",
        ttl=timedelta(seconds=res.settings.client_token_ttl_seconds),
        login=reply.login or body.login,
    )
    return {
        "accessToken": token,
        "tokenType": "Bearer",
        "expiresAt": claims.expires_at.isoformat().replace("+00:00", "Z"),
        "accountId": reply.account_id,
    }
