"""Keep a running oms in step with ``oms.symbols`` and ``oms.risk_settings``.

Triggers on both tables NOTIFY ``oms_settings`` at commit (migration 0012). A dedicated connection
LISTENs: on each notification the symbol cache is dropped and the risk settings are reloaded, so
the next order of every oms process sees the change without a restart and without a query per
order. A periodic reload is the safety net for a lost notification or a dropped LISTEN connection
(reopened on the next round). The process that wrote a change does not wait for its own
notification: ``OmsService`` refreshes its caches right after the commit.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import structlog

from fxmesh.background import BackgroundLoop
from oms.store import settings as settings_store
from oms.trading.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)


class SettingsSync:
    """Load the risk settings at start, then reload (and drop cached symbols) on NOTIFY and
    every ``period`` seconds."""

    def __init__(self, uow: UnitOfWork, dsn: str, *, period: float = 30.0) -> None:
        self._uow = uow
        self._dsn = dsn
        self._period = period
        self._wake = asyncio.Event()
        self._listener: Any = None
        self._loop = BackgroundLoop("oms-settings-sync", self._run)
        self.reloads = 0

    async def start(self) -> None:
        """Listen, load once (failing loudly if the schema is missing), then watch."""
        await self._listen()
        await self.reload()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self._close_listener()

    async def reload(self) -> None:
        self._uow.forget_symbols()
        await self._uow.reload_risk()
        self.reloads += 1
        log.debug("oms_settings_reloaded", groups=len(self._uow.risk.groups))

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        self._listener = await settings_store.listen(self._dsn, self._notified)

    async def _close_listener(self) -> None:
        conn, self._listener = self._listener, None
        await settings_store.close(conn)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._period)
            self._wake.clear()
            try:
                if not settings_store.is_open(self._listener):
                    await self._close_listener()
                    await self._listen()
                await self.reload()
            except Exception as exc:
                log.warning("oms_settings_reload_failed", error=str(exc))
