"""Typed dependencies: the lifespan's resources and the authenticated client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import grpc
from fastapi import Depends, Request
from redis.asyncio import Redis

from edge.config import EdgeSettings
from edge.feeds import AccountEventFeed, TickFeed
from edge.hub import Hub
from fxmesh.auth import TokenClaims, bearer_token, verify_token
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


# Both dependencies are async although they never await: FastAPI runs a plain ``def`` dependency
# in its thread pool, two thread hops per request for a dict lookup and a JWT check.
async def get_resources(request: Request) -> EdgeResources:
    resources: EdgeResources = request.app.state.resources
    return resources


Resources = Annotated[EdgeResources, Depends(get_resources)]


async def current_client(request: Request, res: Resources) -> TokenClaims:
    """The client the bearer token names; 401 UNAUTHENTICATED otherwise."""
    token = bearer_token(request.headers.get("authorization"))
    return verify_token(res.settings.jwt_secret, token, expected_type="client")


Client = Annotated[TokenClaims, Depends(current_client)]
