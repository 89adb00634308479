"""Sessions: POST /api/login (credentials checked by oms), /api/token/refresh, /api/logout.

A login answers an access token (``client_token_ttl_seconds``) and a refresh token; the refresh
route rotates the refresh token on every use, and a reused one revokes the session
(``edge.sessions``). Failed logins are throttled per login and per source address
(``edge.limits.LoginThrottle``) and every attempt is logged with the address and user agent (never
the password or a token).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import grpc
import structlog
from fastapi import APIRouter, Request, Response

from edge.calls import call
from edge.deps import Client, Resources
from edge.limits import LoginThrottled
from edge.openapi import ERROR_STATUSES, ErrorBody, LoginResponse, responses
from edge.schemas import LoginRequest, RefreshRequest
from fxmesh.auth import issue_token
from fxmesh.errors import FxError
from fxmesh.v1 import oms_pb2

log = structlog.stdlib.get_logger(__name__)
router = APIRouter(prefix="/api", tags=["auth"])
USER_AGENT_MAX = 256


def _source(request: Request) -> tuple[str, str]:
    ip = request.client.host if request.client is not None else ""
    return ip, request.headers.get("user-agent", "")[:USER_AGENT_MAX]


def _tokens(
    res: Resources, account_id: str, login: str, session_id: str, refresh_token: str
) -> dict[str, Any]:
    token, claims = issue_token(
        res.settings.jwt_secret,
        subject=account_id,
        token_type="client",
        ttl=timedelta(seconds=res.settings.client_token_ttl_seconds),
        login=login,
        session_id=session_id,
    )
    return {
        "accessToken": token,
        "tokenType": "Bearer",
        "expiresAt": claims.expires_at.isoformat().replace("+00:00", "Z"),
        "accountId": account_id,
        "refreshToken": refresh_token,
        "refreshExpiresIn": res.settings.client_refresh_ttl_seconds,
    }


@router.post("/login", summary="Log in", response_model=None, responses=responses(LoginResponse))
async def login(body: LoginRequest, request: Request, res: Resources) -> dict[str, Any]:
    """Exchange a login and password for an access token and a refresh token of that account.

    After too many failures of a login (or from one address) within the window: 429
    ``LOGIN_THROTTLED`` with ``Retry-After``, whether the login exists or not."""
    ip, agent = _source(request)
    attempt = log.bind(login=body.login[:128], source_ip=ip, user_agent=agent)
    try:
        await res.logins.check(body.login, ip)
    except LoginThrottled:
        attempt.warning("client_login", outcome="throttled")
        raise
    credentials = oms_pb2.AuthenticateClientRequest(login=body.login, password=body.password)
    try:
        reply = await call(res, res.oms.AuthenticateClient, credentials)
    except FxError as err:
        if err.code == grpc.StatusCode.UNAUTHENTICATED:
            await res.logins.failed(body.login, ip)
            attempt.warning("client_login", outcome="failure", reason=err.reason)
        else:
            attempt.warning("client_login", outcome="error", reason=err.reason)
        raise
    await res.logins.succeeded(body.login)
    login_name = reply.login or body.login
    session_id, refresh_token = await res.sessions.start(reply.account_id, login_name)
    attempt.info(
        "client_login", outcome="success", account_id=reply.account_id, session_id=session_id
    )
    return _tokens(res, reply.account_id, login_name, session_id, refresh_token)


@router.post(
    "/token/refresh",
    summary="New tokens for a refresh token",
    response_model=None,
    responses=responses(LoginResponse),
)
async def refresh(body: RefreshRequest, request: Request, res: Resources) -> dict[str, Any]:
    """Exchange a refresh token (once) for a new access token and a new refresh token.

    A refresh token used a second time revokes its whole session (401, cause
    ``REFRESH_TOKEN_REUSED``): it has been copied."""
    ip, agent = _source(request)
    try:
        rotated = await res.sessions.rotate(body.refresh_token)
    except FxError as exc:
        log.warning(
            "client_token_refresh",
            outcome="refused",
            cause=exc.metadata.get("cause"),
            source_ip=ip,
            user_agent=agent,
        )
        raise
    log.info(
        "client_token_refresh",
        outcome="success",
        account_id=rotated.account_id,
        session_id=rotated.session_id,
        source_ip=ip,
    )
    return _tokens(
        res, rotated.account_id, rotated.login, rotated.session_id, rotated.refresh_token
    )


@router.post(
    "/logout",
    summary="Log out",
    status_code=204,
    response_class=Response,
    responses={401: {"model": ErrorBody, "description": ERROR_STATUSES[401]}},
)
async def logout(client: Client, res: Resources) -> Response:
    """Revoke the access token and its session (its refresh token too) on every edge replica,
    and close the session's open WebSockets."""
    await res.sessions.revoke(client)
    log.info("client_logout", account_id=client.subject, session_id=client.session_id)
    return Response(status_code=204)
