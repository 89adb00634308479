"""Typed dependencies: the lifespan's resources and the authenticated client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Request, Response
from redis.asyncio import Redis
from redis.exceptions import RedisError

from edge.config import EdgeSettings
from edge.feeds import AccountEventFeed, TickFeed
from edge.groups import ClientGroups
from edge.hub import Hub
from edge.limits import LoginThrottle, RateLimited, RequestGuard, SocketLeases, route_class
from edge.marks import AccountMarksFeed
from edge.sessions import SessionStore, revocation_keys, token_revoked
from fxmesh.auth import TokenClaims, TokenVerifier, bearer_token
from fxmesh.errors import FxError
from fxmesh.v1 import oms_pb2_grpc, quotes_pb2_grpc


@dataclass(slots=True)
class EdgeResources:
    """Everything the lifespan opened; routes reach it through ``Resources``."""

    settings: EdgeSettings
    channel: grpc.aio.Channel
    oms: oms_pb2_grpc.OmsServiceAsyncStub
    quotes_channel: grpc.aio.Channel
    quotes: quotes_pb2_grpc.QuotesServiceAsyncStub
    redis: Redis
    hub: Hub
    events: AccountEventFeed
    ticks: TickFeed
    marks: AccountMarksFeed
    sessions: SessionStore
    guard: RequestGuard
    logins: LoginThrottle
    sockets: SocketLeases
    groups: ClientGroups
    tokens: TokenVerifier


# Both dependencies are async although they never await: FastAPI runs a plain ``def`` dependency
# in its thread pool, two thread hops per request for a dict lookup and a JWT check.
async def get_resources(request: Request) -> EdgeResources:
    resources: EdgeResources = request.app.state.resources
    return resources


Resources = Annotated[EdgeResources, Depends(get_resources)]


async def current_client(request: Request, response: Response, res: Resources) -> TokenClaims:
    """The client the bearer token names; 401 UNAUTHENTICATED otherwise (also once revoked).

    Counts the request against the account's rate limit of its route class (``edge.limits``):
    the answer carries the ``RateLimit-*`` headers, and over the limit it is a 429."""
    token = bearer_token(request.headers.get("authorization"))
    claims = res.tokens.verify(token)
    try:
        revoked, window = await res.guard.check(
            revocation_keys(claims), claims.subject, route_class(request.method, request.url.path)
        )
    except RedisError as exc:
        # Revocation cannot be checked: refuse (503) rather than let a logged-out token in.
        raise FxError(str(exc), reason="UNAVAILABLE", code=grpc.StatusCode.UNAVAILABLE) from exc
    if revoked:
        raise token_revoked()
    if window.count > window.limit:
        raise RateLimited(window)
    response.headers.update(window.headers())
    return claims


Client = Annotated[TokenClaims, Depends(current_client)]


def client_guards(
    settings: EdgeSettings, redis: Redis
) -> tuple[SessionStore, RequestGuard, LoginThrottle, SocketLeases]:
    """Sessions, request limits, login throttle and socket leases on edge's Redis."""
    sessions = SessionStore(
        redis,
        access_ttl_seconds=settings.client_token_ttl_seconds,
        refresh_ttl_seconds=settings.client_refresh_ttl_seconds,
    )
    guard = RequestGuard(
        redis,
        window_seconds=settings.rate_limit_window_seconds,
        limits={"orders": settings.rate_limit_orders, "reads": settings.rate_limit_reads},
    )
    logins = LoginThrottle(
        redis,
        max_failures=settings.login_max_failures,
        max_failures_per_ip=settings.login_max_failures_per_ip,
        window_seconds=settings.login_window_seconds,
        lockout_seconds=settings.login_lockout_seconds,
    )
    # A lease outlives two missed heartbeats.
    sockets = SocketLeases(
        redis,
        limit=settings.ws_max_sockets_per_account,
        lease_seconds=3 * settings.ws_heartbeat_seconds,
    )
    return sessions, guard, logins, sockets
