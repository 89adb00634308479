"""Wiring: pool, Redis, B-book engine, fixgw channel, A-book desk, router service and its gRPC
server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc
import redis.asyncio as aioredis

from bbook import BBookEngine
from fxmesh.db import create_pool
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import router_pb2_grpc
from router.abook_desk import AbookDesk
from router.config import RouterSettings
from router.fixgw_client import FixgwClient
from router.house import House
from router.lphealth import LpHealthMonitor
from router.service import RouterService
from router.servicer import RouterServicer

SERVICE_NAME = "fxmesh.v1.RouterService"


@dataclass
class RouterApp:
    """A started router: its service, gRPC server (``server.port`` is the bound port) and clients."""

    service: RouterService
    server: GrpcServer
    pool: Any
    redis: Any
    fixgw_channel: grpc.aio.Channel

    async def stop(self, grace: float = 0) -> None:
        await self.server.stop(grace)
        await self.service.stop()
        await self.fixgw_channel.close()
        await self.pool.close()
        await self.redis.aclose()


async def start_router(settings: RouterSettings) -> RouterApp:
    """Open the pool, Redis and the fixgw channel, rebuild the house book, and serve on
    ``settings.router_addr``."""
    pool = await create_pool(settings.postgres_dsn, "router")
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    fixgw_channel = open_channel(settings.fixgw_addr)
    engine = BBookEngine(redis, max_quote_age_ms=settings.router_max_quote_age_ms)
    house = House(engine)
    fixgw = FixgwClient(fixgw_channel)
    abook = AbookDesk(
        pool,
        fixgw,
        engine.quote,
        deadline_margin_seconds=settings.router_fixgw_deadline_margin_seconds,
        default_timeout_seconds=settings.router_fixgw_timeout_seconds,
        house=house,
    )
    poll = settings.router_lp_health_poll_seconds
    lp_health = LpHealthMonitor(
        lambda: fixgw.list_sessions(deadline_seconds=min(poll, 2.0)),
        interval=poll,
        stale_ms=settings.router_lp_health_stale_ms,
    )
    service = RouterService(
        pool,
        engine,
        abook,
        reload_seconds=settings.router_config_reload_seconds,
        house=house,
        lp_health=lp_health,
    )
    try:
        await service.start()
        server = GrpcServer("router", settings.router_addr)
        server.add(
            router_pb2_grpc.add_RouterServiceServicer_to_server,
            RouterServicer(service),
            SERVICE_NAME,
        )
        await server.start()
    except BaseException:
        await service.stop()
        await fixgw_channel.close()
        await pool.close()
        await redis.aclose()
        raise
    return RouterApp(service, server, pool, redis, fixgw_channel)
