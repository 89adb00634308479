"""Wiring of the quotes process (``QuotesApp``): PostgreSQL settings, Redis, the pricing engine,
the tick store and the gRPC server."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from fxmesh.db import Pool, create_pool
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import quotes_pb2_grpc
from quotes.config import QuotesSettings
from quotes.domain import PricingEngine, SymbolSettings
from quotes.history import MarketHistory
from quotes.markups import GroupMarkups
from quotes.service import Clock, QuotesService, wall_clock_ms
from quotes.servicer import QuotesServicer
from quotes.settings_sync import SettingsSync
from quotes.tickstore import TickStore


class QuotesApp:
    """Everything quotes runs: ``start`` returns the bound gRPC port, ``stop`` undoes it in
    reverse order.

    ``pool``: the tests pass their own (and close it); without one the app opens its own.
    ``GrpcServer`` registers this process's RPC metrics, so start one per process.
    """

    service: QuotesService  # set by start
    history: MarketHistory  # set by start
    sync: SettingsSync  # set by start
    server: GrpcServer  # set by start

    def __init__(
        self, settings: QuotesSettings, *, pool: Pool | None = None, clock: Clock = wall_clock_ms
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.clock = clock
        self._own_pool = pool is None
        self.store: TickStore | None = None
        self.redis: Any = None

    @property
    def port(self) -> int:
        return self.server.port

    async def start(self) -> int:
        """Load settings, connect Redis and serve on ``settings.quotes_addr`` (port 0: any free
        port)."""
        settings = self.settings
        if self.pool is None:
            self.pool = await create_pool(settings.postgres_dsn, "quotes")
        pool = self.pool
        clock = self.clock
        self.redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
        engine = PricingEngine(
            lp_priority=settings.lp_priority,
            spike_window_ms=int(settings.quotes_spike_window_seconds * 1000),
        )

        def settings_of(symbol: str) -> SymbolSettings | None:
            return engine.config.get(symbol)

        def has_own_markup(group: str, symbol: str) -> bool:
            return (group, symbol) in engine.config.group_markups

        def digits_of(symbol: str) -> int | None:
            found = engine.config.get(symbol)
            return found.digits if found is not None else None

        if settings.quotes_store_ticks:
            self.store = TickStore(
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
        self.service = QuotesService(
            engine,
            self.redis,
            clock=clock,
            refresh_ms=int(settings.quotes_refresh_seconds * 1000),
            sink=self.store,
        )
        self.sync = SettingsSync(
            pool,
            settings.postgres_dsn,
            self.service.update_config,
            period=settings.quotes_settings_reload_seconds,
        )
        await self.sync.start()
        if self.store is not None:
            await self.store.start()
        self.history = MarketHistory(pool, settings_of, self.store, has_own_markup=has_own_markup)
        self.server = GrpcServer("quotes", settings.quotes_addr)
        self.server.add(
            quotes_pb2_grpc.add_QuotesServiceServicer_to_server,
            QuotesServicer(self.service, self.history, GroupMarkups(pool)),
            "fxmesh.v1.QuotesService",
        )
        return await self.server.start()

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving (in-flight RPCs get ``grace`` s, default the settings'), then close."""
        await self.server.stop(self.settings.shutdown_grace_seconds if grace is None else grace)
        await self.sync.stop()
        await self.service.close()
        if self.store is not None:
            await self.store.stop()
        await self.redis.aclose()
        if self._own_pool and self.pool is not None:
            await self.pool.close()


async def start_quotes(
    settings: QuotesSettings, pool: Pool, *, clock: Clock = wall_clock_ms
) -> QuotesApp:
    """A started ``QuotesApp`` on ``pool`` (how the tests start one)."""
    app = QuotesApp(settings, pool=pool, clock=clock)
    await app.start()
    return app
