"""Local stack tooling: infrastructure, migrations, demo data and the service supervisor.

This is operations code for a developer machine and the end-to-end tests; services never import it
(except their ``seed`` modules, which read the demo catalogue).
"""

from __future__ import annotations

import importlib
import json

import asyncpg

from fxmesh.migrations import migrate_all
from fxmesh.stack.catalogue import ALWAYS_OPEN

__all__ = ["migrate_all", "open_markets_around_the_clock", "seed_all"]

# Services that seed demo data (``<svc>.seed.seed(conn) -> list[str]``), in this order.
SEED_OWNERS = ("oms", "router", "quotes", "admin")


async def open_markets_around_the_clock(dsn: str) -> None:
    """Give every symbol 24/7 trading sessions (private test and bench stacks).

    The demo FX symbols are closed from Friday 22:00 to Sunday 22:00 UTC, as real FX is; a test or a
    benchmark must not depend on the weekday it runs on.
    """
    sessions = json.dumps([{"weekday": d, "from": f, "to": t} for d, f, t in ALWAYS_OPEN])
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE oms.symbols SET trading_sessions = $1::text::jsonb", sessions)
    finally:
        await conn.close()


async def seed_all(dsn: str) -> list[str]:
    """Run every service's idempotent demo seed; returns the lines they report (credentials...)."""
    lines: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        for owner in SEED_OWNERS:
            module = importlib.import_module(f"{owner}.seed")
            lines.extend(await module.seed(conn))
    finally:
        await conn.close()
    return lines
