"""Wiring of the router process (``RouterApp``): pool, Redis, B-book engine, fixgw channel, A-book
desk, router service and its gRPC server."""

from __future__ import annotations

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
from router.flow import FlowBook
from router.flowfeed import FlowFeed
from router.house import House
from router.lphealth import LpHealthMonitor
from router.service import RouterService
from router.servicer import RouterServicer

SERVICE_NAME = "fxmesh.v1.RouterService"


class RouterApp:
    """Everything the router runs: ``start`` returns the bound gRPC port (``server.port``),
    ``stop`` undoes it in reverse order."""

    service: RouterService  # set by start
    server: GrpcServer  # set by start

    def __init__(self, settings: RouterSettings) -> None:
        self.settings = settings
        self.pool: Any = None
        self.redis: Any = None
        self.fixgw_channel: grpc.aio.Channel | None = None

    async def start(self) -> int:
        """Open the pool, Redis and the fixgw channel, rebuild the house book, and serve on
        ``settings.router_addr``."""
        settings = self.settings
        pool = self.pool = await create_pool(settings.postgres_dsn, "router")
        self.redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        fixgw_channel = self.fixgw_channel = open_channel(settings.fixgw_addr)
        engine = BBookEngine(self.redis, max_quote_age_ms=settings.router_max_quote_age_ms)
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
        flow_feed = None
        if settings.router_flow_feed:
            flow_feed = FlowFeed(
                pool,
                FlowBook(settings.router_flow_volatility_window_seconds),
                self.redis,
                settings.amqp_url,
                settings.events_exchange,
                batch_seconds=settings.router_flow_batch_seconds,
                sample_seconds=settings.router_flow_sample_seconds,
            )
        self.service = RouterService(
            pool,
            engine,
            abook,
            reload_seconds=settings.router_config_reload_seconds,
            house=house,
            lp_health=lp_health,
            flow_feed=flow_feed,
        )
        try:
            await self.service.start()
            self.server = GrpcServer("router", settings.router_addr)
            self.server.add(
                router_pb2_grpc.add_RouterServiceServicer_to_server,
                RouterServicer(self.service),
                SERVICE_NAME,
            )
            return await self.server.start()
        except BaseException:
            await self._close()
            raise

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving (in-flight RPCs get ``grace`` s, default the settings'), then close."""
        await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        await self._close()

    async def _close(self) -> None:
        await self.service.stop()
        assert self.fixgw_channel is not None
        await self.fixgw_channel.close()
        await self.pool.close()
        await self.redis.aclose()


async def start_router(settings: RouterSettings) -> RouterApp:
    """A started ``RouterApp`` (how the tests start one)."""
    app = RouterApp(settings)
    await app.start()
    return app
