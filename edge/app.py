"""The edge ASGI app: one lifespan opens oms, quotes, Redis and RabbitMQ; routes per resource."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from typing import Any, cast

import grpc
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis
from redis.exceptions import RedisError

from edge.admission import AdmissionMiddleware
from edge.config import EdgeSettings
from edge.deps import EdgeResources, client_guards
from edge.feeds import AccountEventFeed, TickFeed
from edge.groups import ClientGroups
from edge.hub import Hub
from edge.limits import BodyLimitMiddleware, RateLimited, on_rate_limited
from edge.marks import AccountMarksFeed
from edge.metrics import SERVICE
from edge.routes import account, auth, market, orders, positions, risk, trade, ws
from edge.schemas import VALIDATION_CODES
from edge.sessions import RevocationFeed
from fxmesh.auth import TokenVerifier
from fxmesh.grpcclient import open_channel
from fxmesh.http import NATIVE_TELEMETRY_OFF, install_error_handlers, instrument
from fxmesh.v1 import oms_pb2_grpc, quotes_pb2_grpc

log = structlog.stdlib.get_logger(__name__)
OMS_SERVICE = "fxmesh.v1.OmsService"
READY_CHECK_TIMEOUT = 1.0


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: EdgeSettings = app.state.settings
    async with contextlib.AsyncExitStack() as stack:
        channel = open_channel(settings.oms_addr)
        stack.push_async_callback(channel.close)
        # Market history only: quotes being down fails /api/ticks and /api/ohlc with 503, never
        # readiness (trading goes on).
        quotes_channel = open_channel(settings.quotes_addr)
        stack.push_async_callback(quotes_channel.close)
        redis = Redis.from_url(settings.redis_url, decode_responses=True)
        stack.push_async_callback(redis.aclose)
        hub = Hub()
        events = AccountEventFeed(hub, settings.amqp_url, settings.events_exchange)
        await events.start()
        stack.push_async_callback(events.close)
        oms = oms_pb2_grpc.OmsServiceStub(channel)
        groups = ClientGroups(oms)
        ticks = TickFeed(hub, redis)
        ticks.start()
        stack.push_async_callback(ticks.close)
        marks = AccountMarksFeed(hub, oms)
        stack.push_async_callback(marks.close)
        sessions, guard, logins, sockets = client_guards(settings, redis)
        revocations = RevocationFeed(redis, sessions.channel, hub.close_session)
        revocations.start()
        stack.push_async_callback(revocations.close)
        app.state.resources = EdgeResources(
            settings=settings,
            channel=channel,
            oms=oms,
            quotes_channel=quotes_channel,
            quotes=quotes_pb2_grpc.QuotesServiceStub(quotes_channel),
            redis=redis,
            hub=hub,
            events=events,
            ticks=ticks,
            marks=marks,
            sessions=sessions,
            guard=guard,
            logins=logins,
            sockets=sockets,
            groups=groups,
            tokens=TokenVerifier(settings.jwt_secret, "client"),
        )
        stack.push_async_callback(_close_sockets, hub)
        log.info("edge_ready", oms=settings.oms_addr, quotes=settings.quotes_addr)
        yield


async def _close_sockets(hub: Hub) -> None:
    for conn in hub.connections():
        await conn.stop()


async def _oms_ready(channel: grpc.aio.Channel) -> bool:
    try:
        stub: Any = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(
            health_pb2.HealthCheckRequest(service=OMS_SERVICE), timeout=READY_CHECK_TIMEOUT
        )
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


async def _redis_ready(redis: Redis) -> bool:
    try:
        return bool(
            await asyncio.wait_for(cast(Awaitable[bool], redis.ping()), READY_CHECK_TIMEOUT)
        )
    except (RedisError, TimeoutError, OSError):
        return False


def create_app(settings: EdgeSettings) -> FastAPI:
    """Build the app; resources open when the ASGI server runs its lifespan."""
    app = FastAPI(
        title="fxmesh edge",
        lifespan=_lifespan,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        telemetry=NATIVE_TELEMETRY_OFF,
    )
    app.state.settings = settings
    install_error_handlers(app, validation_codes=VALIDATION_CODES)
    app.add_exception_handler(RateLimited, on_rate_limited)
    for module in (auth, orders, positions, account, risk, market, trade, ws):
        app.include_router(module.router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        res: EdgeResources | None = getattr(request.app.state, "resources", None)
        checks: dict[str, Any] = {"oms": False, "redis": False, "amqp": False, "ticks": False}
        if res is not None:
            checks["oms"] = await _oms_ready(res.channel)
            checks["redis"] = await _redis_ready(res.redis)
            checks["amqp"] = res.events.ready()
            checks["ticks"] = res.ticks.ready()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "unavailable", "checks": checks},
            status_code=200 if ok else 503,
        )

    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    instrument(app, service=SERVICE, tracer_name="edge.http")
    # Added last, so outermost: a refusal costs no span, log line or encoding (edge/admission.py).
    app.add_middleware(AdmissionMiddleware, policy=settings.admission_policy())
    return app
