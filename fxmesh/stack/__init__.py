"""Local stack tooling: infrastructure, migrations, demo data and the service supervisor.

This is operations code for a developer machine and the end-to-end tests; services never import it
(except their ``seed`` modules, which read the demo catalogue).
"""

from __future__ import annotations

import importlib
from importlib import resources

import asyncpg

from fxmesh import migrations

# Services that own a PostgreSQL schema, in the order their migrations are applied.
MIGRATION_OWNERS = ("oms", "router", "quotes", "admin")


async def migrate_all(dsn: str) -> list[str]:
    """Create the database if needed and apply every owner's pending migrations."""
    await migrations.ensure_database(dsn)
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        for owner in MIGRATION_OWNERS:
            # An owner that fails to import is an error, not a schema to skip silently.
            if not resources.files(owner).joinpath("migrations").is_dir():
                continue
            for mig in await migrations.apply(conn, migrations.discover(owner)):
                applied.append(f"{owner}/{mig.version:04d}_{mig.name}")
    finally:
        await conn.close()
    return applied


# Services that seed demo data (``<svc>.seed.seed(conn) -> list[str]``), in this order.
SEED_OWNERS = ("oms", "router", "quotes", "admin")


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
