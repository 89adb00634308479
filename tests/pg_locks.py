"""Waiting for sessions to block on a row lock: the race tests of oms and the router hold a lock in
one transaction and need to know the call under test is waiting on it before they let go."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg


async def wait_for_lock_waiters(db: asyncpg.Connection, count: int, *calls: Any) -> None:
    """Until ``count`` sessions of ``db``'s database wait on a lock (or one of ``calls``, futures
    of the calls under test, ended first); fails when they do not within 30 s."""
    waiting = 0
    for _ in range(600):
        # Inside a transaction the activity view is a snapshot taken at its first read.
        await db.execute("SELECT pg_stat_clear_snapshot()")
        waiting = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        if waiting >= count or any(call.done() for call in calls):
            break
        await asyncio.sleep(0.05)
    assert waiting == count, f"{waiting} sessions waited on a lock, not {count}"
