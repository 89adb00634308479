"""Wiring: PostgreSQL settings, Redis, the pricing engine and the gRPC server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from fxmesh.config import load_settings
from fxmesh.db import create_pool
from fxmesh.grpcserver import GrpcServer
from fxmesh.lifecycle import ServiceRuntime
from fxmesh.v1 import quotes_pb2_grpc
from quotes.config import QuotesSettings
from quotes.domain import PricingEngine, SymbolSettings
from quotes.history import MarketHistory
from quotes.service import Clock, QuotesService, wall_clock_ms
from quotes.servicer import QuotesServicer
from quotes.settings_sync import SettingsSync
from quotes.tickstore import TickStore


@dataclass
class QuotesApp:
    """A running quotes service; ``stop`` undoes ``start_quotes`` in reverse order."""

    service: QuotesService
    history: MarketHistory
    sync: SettingsSync
    store: TickStore | None
    server: GrpcServer
    redis: Any

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self, grace: float = 5.0) -> None:
        await self.server.stop(grace)
        await self.sync.stop()
        await self.service.close()
        if self.store is not None:
            await self.store.stop()
        await self.redis.aclose()


async def start_quotes(
    settings: QuotesSettings, pool: Any, *, clock: Clock = wall_clock_ms
) -> QuotesApp:
    """Load settings, connect Redis and serve on ``settings.quotes_addr`` (port 0: any free port).

    ``GrpcServer`` registers this process's RPC metrics, so call this once per process.
    """
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    engine = PricingEngine(
        lp_priority=settings.lp_priority,
        spike_window_ms=int(settings.quotes_spike_window_seconds * 1000),
    )

    def settings_of(symbol: str) -> SymbolSettings | None:
        return engine.config.get(symbol)

    def digits_of(symbol: str) -> int | None:
        found = engine.config.get(symbol)
        return found.digits if found is not None else None

    store: TickStore | None = None
    if settings.quotes_store_ticks:
        store = TickStore(
            pool,
            digits_of,
            clock=clock,
            interval=settings.quotes_tick_flush_seconds,
            max_buffer=settings.quotes_tick_buffer_max,
            store_raw=settings.quotes_store_raw_ticks,
            retention_days=settings.quotes_tick_retention_days,
            ahead_days=settings.quotes_tick_partitions_ahead_days,
            maintenance_seconds=settings.quotes_tick_maintenance_seconds,
        )
    service = QuotesService(
        engine,
        redis,
        clock=clock,
        refresh_ms=int(settings.quotes_refresh_seconds * 1000),
        sink=store,
    )
    sync = SettingsSync(
        pool,
        settings.postgres_dsn,
        service.update_config,
        period=settings.quotes_settings_reload_seconds,
    )
    await sync.start()
    if store is not None:
        await store.start()
    history = MarketHistory(pool, settings_of, store)
    server = GrpcServer("quotes", settings.quotes_addr)
    server.add(
        quotes_pb2_grpc.add_QuotesServiceServicer_to_server,
        QuotesServicer(service, history),
        "fxmesh.v1.QuotesService",
    )
    await server.start()
    return QuotesApp(service, history, sync, store, server, redis)


async def main() -> None:
    settings = load_settings(QuotesSettings)
    runtime = ServiceRuntime("quotes", settings, settings.metrics_port)
    pool = await create_pool(settings.postgres_dsn, "quotes")
    runtime.on_stop(pool.close)
    app = await start_quotes(settings, pool)
    runtime.on_stop(lambda: app.stop(settings.shutdown_grace_seconds))
    await runtime.run_until_stopped()
