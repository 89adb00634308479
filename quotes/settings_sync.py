"""Keep the running pricing settings in step with ``quotes.symbol_settings`` and
``quotes.group_markups``.

A trigger on each table sends NOTIFY on ``quotes_settings``; a dedicated connection LISTENs and the
settings are reloaded right away. A periodic reload is the safety net for a lost notification or a
dropped LISTEN connection (which is reopened on the next round).
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from fxmesh.db import Pool, ReloadOnNotify
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
        self._apply = apply
        self._watch = ReloadOnNotify(
            "quotes-settings", dsn, CHANNEL, self.reload, period=period, on_error=_reload_failed
        )
        self.reloads = 0

    async def start(self) -> None:
        """Load once (failing loudly if the schema is missing), then watch in the background."""
        await self._watch.start()

    async def stop(self) -> None:
        await self._watch.stop()

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


def _reload_failed(exc: Exception) -> None:
    metrics.SETTINGS_RELOADS.labels("error").inc()
    log.warning("settings_reload_failed", error=str(exc))
