"""Wiring of the oms process: pool, Redis, router channel, services, recovery, background tasks,
the gRPC server and the outbox relay.

Start order: dependencies, then recovery of the orders a previous process left in flight (before
anything is served), then the background tasks (periodic recovery, and whatever ``tasks`` adds,
e.g. the trigger watcher and the rollover job), then the gRPC server. ``stop`` undoes it in reverse.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import Any

import redis.asyncio as aioredis
import structlog

from fxmesh.admission import Admission
from fxmesh.background import BackgroundLoop, LoopBody, stop_all
from fxmesh.db import create_pool
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import oms_pb2_grpc
from oms.api.inprocess_router import InProcessRouter
from oms.api.router_client import RouterClient
from oms.api.servicer import OmsServicer
from oms.config import OmsSettings
from oms.store.outbox import OutboxPruner, OutboxRelay
from oms.trading.recovery import Recovery
from oms.trading.rollover import RolloverJob
from oms.trading.service import OmsService
from oms.trading.settings_sync import SettingsSync
from oms.trading.unit_of_work import Clock, utc_now
from oms.triggers.bridge import WatcherBridge
from oms.triggers.watcher import TriggerWatcher
from router import RouterApp, RouterSettings

log = structlog.stdlib.get_logger(__name__)

# A background task: given the started app (its service ready), run until cancelled.
BackgroundTask = Callable[["OmsApp"], Coroutine[Any, Any, None]]


class OmsApp:
    """Everything oms runs; ``start`` returns the bound gRPC port, ``stop`` undoes it in order."""

    def __init__(
        self,
        settings: OmsSettings,
        *,
        run_relay: bool = True,
        now: Clock = utc_now,
        tasks: Sequence[BackgroundTask] = (),
        recovery_interval_seconds: float = 5.0,
        router_settings: RouterSettings | None = None,
    ) -> None:
        """``router_settings``: run a router replica in this process (``InProcessRouter``)."""
        self.settings = settings
        self.router_app = RouterApp(router_settings) if router_settings is not None else None
        self._router_running = False
        self.run_relay = run_relay
        self.now = now
        self.tasks: list[BackgroundTask] = list(tasks)
        self.recovery_interval_seconds = recovery_interval_seconds
        self.pool: Any = None
        self.redis: Any = None
        self.channel: Any = None
        self.server: GrpcServer | None = None
        self.relay: OutboxRelay | None = None
        self.service: OmsService | None = None
        self.recovery: Recovery | None = None
        self.settings_sync: SettingsSync | None = None
        self._running: list[BackgroundLoop] = []

    async def start(self) -> int:
        s = self.settings
        self.pool = await create_pool(s.postgres_dsn, "oms")
        self.redis = aioredis.Redis.from_url(s.redis_url, decode_responses=True)
        self.channel = open_channel(s.router_addr)
        remote = RouterClient(self.channel, s.grpc_deadline_seconds)
        router: RouterClient | InProcessRouter = remote
        if self.router_app is not None:
            await self.router_app.start()
            self._router_running = True
            router = InProcessRouter(self.router_app.service, remote, s.grpc_deadline_seconds)
        self.service = OmsService(
            self.pool,
            self.redis,
            router,
            now=self.now,
            symbols_cache_seconds=s.symbols_cache_seconds,
            marks_interval_seconds=s.marks_interval_seconds,
            marks_max_accounts=s.marks_max_accounts,
            group_commit_max=s.group_commit_max,
            group_committers=s.group_committers,
        )
        self.settings_sync = SettingsSync(self.service.uow, s.postgres_dsn)
        await self.settings_sync.start()
        self.recovery = Recovery(
            self.service.uow,
            self.service.executor,
            self.service.orders,
            # A PlaceOrder still waiting for Execute's answer is younger than this.
            stuck_after=timedelta(seconds=2 * s.grpc_deadline_seconds + 5),
            interval_seconds=self.recovery_interval_seconds,
        )
        try:
            settled = await self.recovery.run_once(everything=True)
        except Exception:  # recovery must not keep oms down: the periodic pass retries
            log.exception("startup_recovery_failed")
        else:
            log.info("startup_recovery_done", settled=settled)
        if self.run_relay:
            self.relay = OutboxRelay(
                self.pool,
                s.amqp_url,
                s.events_exchange,
                poll_seconds=s.outbox_poll_seconds,
                execution_wait_seconds=s.outbox_execution_wait_seconds,
            )
            self.service.uow.outbox_listeners.append(self.relay.written)
            self.relay.start()
            if s.outbox_retention_hours > 0:
                pruner = OutboxPruner(
                    self.pool,
                    timedelta(hours=s.outbox_retention_hours),
                    period_seconds=s.outbox_prune_seconds,
                )
                self._spawn("oms-outbox-prune", pruner.run_forever)
        self._spawn("oms-recovery", self.recovery.run_forever)
        for task in self.tasks:
            self._spawn(getattr(task, "__name__", "oms-task"), functools.partial(task, self))
        self.server = GrpcServer("oms", s.oms_addr)
        self.server.add(
            oms_pb2_grpc.add_OmsServiceServicer_to_server,
            OmsServicer(self.service, Admission("oms", s.admission_policy())),
            "fxmesh.v1.OmsService",
        )
        return await self.server.start()

    def _spawn(self, name: str, run: LoopBody) -> None:
        # A task that fails is logged and stays down: oms keeps serving without it.
        loop = BackgroundLoop(name, run, log_failures=True)
        loop.start()
        self._running.append(loop)

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(self.settings.shutdown_grace_seconds)
        await stop_all(self._running)
        self._running.clear()
        if self.settings_sync is not None:
            await self.settings_sync.stop()
        if self.service is not None:
            await self.service.marks.stop()
        if self.relay is not None:
            await self.relay.stop()
        if self.router_app is not None and self._router_running:
            self._router_running = False
            await self.router_app.stop()
        if self.channel is not None:
            await self.channel.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.pool is not None:
            await self.pool.close()


# --- background tasks (``OmsApp(tasks=...)``; ``python -m oms`` picks them from the settings) -----


async def watcher_task(app: OmsApp) -> None:
    """Run the trigger watcher for ``app`` until cancelled."""
    assert app.service is not None
    bridge = WatcherBridge(app.service)
    watcher = TriggerWatcher(app.redis, bridge, bridge, now=app.now, levels=bridge.levels)
    bridge.attach(watcher)
    await watcher.start()
    try:
        await asyncio.Event().wait()
    finally:
        await watcher.stop()


async def rollover_task(app: OmsApp) -> None:
    """Charge swaps at every rollover for ``app`` until cancelled."""
    assert app.service is not None
    job = RolloverJob(app.service.uow, at=app.settings.rollover_time)
    job.start()
    try:
        await asyncio.Event().wait()
    finally:
        await job.stop()
