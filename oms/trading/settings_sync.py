"""Keep a running oms in step with ``oms.symbols`` and ``oms.risk_settings``.

Triggers on both tables NOTIFY ``oms_settings`` at commit (migration 0012). A dedicated connection
LISTENs: on each notification the symbol cache is dropped and the risk settings are reloaded, so
the next order of every oms process sees the change without a restart and without a query per
order. A periodic reload is the safety net for a lost notification or a dropped LISTEN connection
(reopened on the next round). The process that wrote a change does not wait for its own
notification: ``OmsService`` refreshes its caches right after the commit.
"""

from __future__ import annotations

import structlog

from fxmesh.db import ReloadOnNotify
from oms.store import settings as settings_store
from oms.trading.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)


class SettingsSync:
    """Load the risk settings at start, then reload (and drop cached symbols) on NOTIFY and
    every ``period`` seconds."""

    def __init__(self, uow: UnitOfWork, dsn: str, *, period: float = 30.0) -> None:
        self._uow = uow
        self._watch = ReloadOnNotify(
            "oms-settings",
            dsn,
            settings_store.CHANNEL,
            self.reload,
            period=period,
            on_error=lambda exc: log.warning("oms_settings_reload_failed", error=str(exc)),
        )
        self.reloads = 0

    async def start(self) -> None:
        """Listen, load once (failing loudly if the schema is missing), then watch."""
        await self._watch.start()

    async def stop(self) -> None:
        await self._watch.stop()

    async def reload(self) -> None:
        self._uow.forget_symbols()
        await self._uow.reload_risk()
        self.reloads += 1
        log.debug("oms_settings_reloaded", groups=len(self._uow.risk.groups))
