"""Keep the running pricing settings in step with ``quotes.symbol_settings`` and
``quotes.group_markups``.

A trigger on each table sends NOTIFY on ``quotes_settings``; a dedicated connection LISTENs and the
settings are reloaded right away. A periodic reload is the safety net for a lost notification or a
dropped LISTEN connection (which is reopened on the next round).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

from fxmesh.background import BackgroundLoop
from fxmesh.db import Pool
from quotes import metrics, repository
from quotes.domain import PricingConfig

log = structlog.stdlib.get_logger(__name__)

CHANNEL = "quotes_settings"


class SettingsSync:
    """Load settings at start, then reload on NOTIFY and every ``period`` seconds."""

    def __init__(
        self,
        pool: Pool,
        dsn: str,
        apply: Callable[[PricingConfig], None],
        *,
        period: float = 5.0,
    ) -> None:
        self._pool = pool
        self._dsn = dsn
        self._apply = apply
        self._period = period
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._loop = BackgroundLoop("quotes-settings-sync", self._run)
        self.reloads = 0

    async def start(self) -> None:
        """Load once (failing loudly if the schema is missing), then watch in the background."""
        await self._listen()
        await self.reload()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self._close_listener()

    async def reload(self) -> PricingConfig:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            symbols = await repository.load_symbol_settings(conn)
            groups = await repository.load_group_markups(conn)
        config = PricingConfig.of(symbols, {(g, s): m for g, s, m, _ in groups})
        self._apply(config)
        self.reloads += 1
        metrics.SETTINGS_RELOADS.labels("ok").inc()
        log.debug(
            "settings_reloaded",
            symbols=len(config.symbols),
            group_markups=len(config.group_markups),
        )
        return config

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        conn = await asyncpg.connect(
            self._dsn, server_settings={"application_name": "fxmesh-quotes-listen"}
        )
        await conn.add_listener(CHANNEL, self._notified)
        self._listener = conn

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                await conn.close(timeout=2)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._period)
            self._wake.clear()
            try:
                if self._listener is None or self._listener.is_closed():
                    await self._close_listener()
                    await self._listen()
                await self.reload()
            except Exception as exc:
                metrics.SETTINGS_RELOADS.labels("error").inc()
                log.warning("settings_reload_failed", error=str(exc))
