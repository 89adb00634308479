"""Wiring of the router process (``RouterApp``): pool, Redis, B-book engine, fixgw channel, A-book
desk, router service and its gRPC server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
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
from router.hedging import Hedger
from router.house import FillNumbers, House
from router.leader import LEADER, Leadership, take_epoch
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
        self.leadership: Leadership | None = None
        # Called when this replica loses the lead (``python -m router`` exits then, so that its
        # clients reconnect to the new leader).
        self.on_demoted: Callable[[], None] | None = None
        self._leader_task: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Open the pool, Redis and the fixgw channel, rebuild the house book, and serve on
        ``settings.router_addr``."""
        settings = self.settings
        pool = self.pool = await create_pool(settings.postgres_dsn, "router")
        self.redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        fixgw_channel = self.fixgw_channel = open_channel(settings.fixgw_addr)
        engine = BBookEngine(self.redis, max_quote_age_ms=settings.router_max_quote_age_ms)
        house = House(engine, FillNumbers(pool))
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
        holder = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        service: RouterService
        hedger = Hedger(
            pool,
            fixgw,
            house,
            epoch=lambda: service.epoch,
            limits=lambda: engine.limits,
            lot_step=lambda symbol: service.config.symbol(symbol).lot_step,
            interval=settings.router_hedge_interval_seconds,
            backoff_seconds=settings.router_hedge_backoff_seconds,
            backoff_max_seconds=settings.router_hedge_backoff_max_seconds,
            timeout_seconds=settings.router_hedge_timeout_seconds,
        )
        service = self.service = RouterService(
            pool,
            engine,
            abook,
            reload_seconds=settings.router_config_reload_seconds,
            house=house,
            lp_health=lp_health,
            hedger=hedger,
            flow_feed=flow_feed,
        )
        election = settings.router_leader_election
        try:
            await service.start(rebuild=not election)
            if not election:
                async with pool.acquire() as conn:
                    service.epoch = await take_epoch(conn, holder)
                LEADER.set(1)
            self.server = GrpcServer("router", settings.router_addr)
            self.server.add(
                router_pb2_grpc.add_RouterServiceServicer_to_server,
                RouterServicer(self.service),
                SERVICE_NAME,
            )
            port = await self.server.start()
            if election:
                await self.server.set_serving(SERVICE_NAME, False)
                self.leadership = Leadership(
                    settings.postgres_dsn,
                    key=settings.router_leader_lock_key,
                    holder=holder,
                    check_seconds=settings.router_leader_check_seconds,
                    promote=self._promote,
                    demote=self._demote,
                )
                await self.leadership.round()
                self._leader_task = asyncio.get_running_loop().create_task(self.leadership.run())
            return port
        except BaseException:
            await self._close()
            raise

    async def _promote(self, epoch: int) -> None:
        """Lead: rebuild the house book (others may have traded since), then serve and hedge."""
        await self.service.rebuild_book()
        await self.service.start_flow()
        self.service.epoch = epoch
        await self.server.set_serving(SERVICE_NAME, True)
        if self.service.hedger is not None:
            self.service.hedger.wake()

    async def _demote(self) -> None:
        self.service.epoch = None
        await self.server.set_serving(SERVICE_NAME, False)
        await self.service.stop_flow()
        if self.on_demoted is not None:
            self.on_demoted()

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving (in-flight RPCs get ``grace`` s, default the settings'), then close."""
        await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        await self._close()

    async def _close(self) -> None:
        if self._leader_task is not None:
            self._leader_task.cancel()
            with contextlib.suppress(BaseException):
                await self._leader_task
            self._leader_task = None
        if self.leadership is not None:
            await self.leadership.stop()
        if self.service.epoch is not None:
            LEADER.set(0)
        self.service.epoch = None
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
