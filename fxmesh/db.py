"""asyncpg connection pools (NUMERIC comes back as Decimal; sessions run in UTC)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

import asyncpg

from fxmesh.background import BackgroundLoop


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release without asyncpg's reset query (a round trip per release, ~0.1 ms of each side's
    CPU, several times per order). asyncpg still rolls back a transaction left open and drops the
    connection's listeners; fxmesh sets no session state on pooled connections (no SET, no
    session advisory locks, no cursors), and remove_listener sends UNLISTEN itself."""


Pool = asyncpg.Pool
"""A pool of fxmesh connections (``create_pool``)."""
Conn = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy
"""A connection: a pooled one (``pool.acquire()``) or one of its own (``asyncpg.connect``)."""


async def create_pool(dsn: str, service: str, *, min_size: int = 2, max_size: int = 10) -> Pool:
    """Open a pool whose connections name the service in pg_stat_activity.

    A connection the pool opened stays open (no idle timeout, asyncpg's default closes it after
    5 minutes): opening one costs ~7 ms here and ~2 ms of the service's CPU, which the first
    orders of every spike after a quiet spell would pay again, at the moment CPU is short.
    """
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        max_inactive_connection_lifetime=0,
        init=_init_connection,
        reset=_keep_session,
        server_settings={"application_name": f"fxmesh-{service}", "timezone": "UTC"},
    )


class ReloadOnNotify:
    """Follow settings other processes change: ``reload`` at start, on every NOTIFY on ``channel``
    and at least every ``period`` seconds (the safety net for a lost notification).

    The LISTEN runs on a dedicated connection (a pooled one would lose its listener on release);
    a dropped one is reopened on the next round. A failed reload goes to ``on_error`` and is tried
    again on the next notification or period; only the first one, in ``start``, raises, so a
    missing schema stops the service loudly.
    """

    def __init__(
        self,
        name: str,
        dsn: str,
        channel: str,
        reload: Callable[[], Awaitable[object]],
        *,
        period: float,
        on_error: Callable[[Exception], None],
    ) -> None:
        self._name = name
        self._dsn = dsn
        self._channel = channel
        self._reload = reload
        self._period = period
        self._on_error = on_error
        self._wake = asyncio.Event()
        self._listener: asyncpg.Connection | None = None
        self._loop = BackgroundLoop(f"{name}-sync", self._run)

    async def start(self) -> None:
        """Listen, reload once (raising what fails), then watch in the background."""
        await self._listen()
        await self._reload()
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
        await self._close_listener()

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        conn = await asyncpg.connect(
            self._dsn, server_settings={"application_name": f"fxmesh-{self._name}-listen"}
        )
        await conn.add_listener(self._channel, self._notified)
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
                await self._reload()
            except Exception as exc:
                self._on_error(exc)
