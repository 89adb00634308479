"""Single-writer leadership of the router replicas (``docs/routing.md``, "Two replicas").

Every replica competes for one PostgreSQL advisory lock (session-level, on a connection of its
own, outside the pool). The holder leads: it bumps the epoch in ``router.leader``, rebuilds the
house book from the database, and only then serves and hedges. The others stand by: they answer
UNAVAILABLE ``ROUTER_STANDBY`` and report NOT_SERVING, and try the lock every ``check_seconds``.

A leader checks its lock connection every ``check_seconds``; when the check fails (the connection
died, so PostgreSQL has released the lock) it stops leading at once. The epoch fences what a
deposed leader still has in flight: every hedge statement checks it (``router.hedging``). A new
leader waits ``takeover_delay`` after taking the lock before it rebuilds the house book, so that
an Execute still finishing on a deposed leader (which stops within one check) is in the book.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg
import structlog
from prometheus_client import Gauge

log = structlog.stdlib.get_logger(__name__)

LEADER = Gauge("fxmesh_router_leader", "1 while this router replica leads (serves), else 0.")


class Leadership:
    """Take and keep the leader lock; ``epoch`` is the leader's epoch, None on a standby."""

    def __init__(
        self,
        dsn: str,
        *,
        key: int,
        holder: str,
        check_seconds: float,
        promote: Callable[[int], Awaitable[None]],
        demote: Callable[[], Awaitable[None]],
        takeover_delay: float | None = None,
    ) -> None:
        self._dsn = dsn
        self._key = key
        self._holder = holder
        self._check = check_seconds
        self._promote = promote
        self._demote = demote
        self._delay = 2 * check_seconds if takeover_delay is None else takeover_delay
        self._conn: asyncpg.Connection | None = None
        self.epoch: int | None = None

    @property
    def leading(self) -> bool:
        return self.epoch is not None

    async def run(self) -> None:
        """Rounds every ``check_seconds`` until cancelled."""
        while True:
            await asyncio.sleep(self._check)
            await self.round()

    async def round(self) -> None:
        """Stand by: try the lock (and lead when it is had). Lead: check the lock connection."""
        try:
            if self.epoch is None:
                await self._try_lead()
            else:
                assert self._conn is not None
                await self._conn.fetchval("SELECT 1", timeout=max(2 * self._check, 1.0))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("router_leader_check_failed", error=str(exc), leading=self.leading)
            await self._close()
            if self.epoch is not None:
                await self._lose()

    async def _try_lead(self) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(
                self._dsn,
                timeout=10,
                server_settings={"application_name": "router-leader"},
            )
        conn = self._conn
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key, timeout=10):
            return
        # The UPDATE waits for hedge statements of the deposed leader holding the row FOR SHARE:
        # whatever they wrote is committed before this epoch exists.
        epoch = await conn.fetchval(
            "UPDATE router.leader SET epoch = epoch + 1, holder = $1, acquired_at = now() "
            "RETURNING epoch",
            self._holder,
            timeout=30,
        )
        log.warning("router_leader_lock_taken", epoch=epoch, holder=self._holder)
        await asyncio.sleep(self._delay)
        try:
            await self._promote(int(epoch))
        except BaseException:
            await self._close()  # releases the lock for another replica
            raise
        self.epoch = int(epoch)
        LEADER.set(1)
        log.warning("router_leading", epoch=epoch, holder=self._holder)

    async def _lose(self) -> None:
        log.error("router_leadership_lost", epoch=self.epoch, holder=self._holder)
        self.epoch = None
        LEADER.set(0)
        await self._demote()

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 5)
            if not conn.is_closed():
                conn.terminate()

    async def stop(self) -> None:
        """Release the lock (closing its connection) and stand down."""
        await self._close()
        if self.epoch is not None:
            self.epoch = None
            LEADER.set(0)


async def take_epoch(
    conn: asyncpg.Connection | asyncpg.pool.PoolConnectionProxy, holder: str
) -> int:
    """Bump the epoch without the lock: a router run with leader election off (one replica)."""
    epoch = await conn.fetchval(
        "UPDATE router.leader SET epoch = epoch + 1, holder = $1, acquired_at = now() "
        "RETURNING epoch",
        holder,
    )
    return int(epoch)
