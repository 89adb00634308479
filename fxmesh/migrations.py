"""Versioned SQL migrations, one sequence per owning service, applied idempotently.

Each service keeps ``<service>/migrations/NNNN_name.sql`` and owns the PostgreSQL schema of the same
name. Applied versions are recorded in ``public.schema_migrations`` with a checksum: re-running is a
no-op, and editing an applied migration is an error rather than silent drift. Each migration runs in
its own transaction under an advisory lock, so concurrent starters cannot apply one twice.

    python -m fxmesh.migrations   # every owner's pending migrations (the k8s migrate job)

The database is ``FXMESH_POSTGRES_DSN``; it is created when missing (the role needs CREATEDB then).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import sys
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from fxmesh.config import Settings
from fxmesh.db import Conn

_FILE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x66786D657368  # "fxmesh"

# Services that own a schema, in the order their migrations are applied. Each owner's migrations
# touch only its own schema (no foreign key crosses one), so the order is fixed, not a dependency.
# Owners are named, not imported: the runtime package does not depend on services.
OWNERS = ("oms", "router", "quotes", "admin", "fixgw")


@dataclass(frozen=True, slots=True)
class Migration:
    owner: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """An applied migration no longer matches its file, or a file name is malformed."""


def discover(owner: str) -> list[Migration]:
    """Load ``<owner>/migrations/*.sql`` in version order."""
    found: list[Migration] = []
    for entry in resources.files(owner).joinpath("migrations").iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE.match(entry.name)
        if not match:
            raise MigrationError(f"{owner}: bad migration file name {entry.name!r}")
        found.append(Migration(owner, int(match[1]), match[2], entry.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{owner}: duplicate migration versions {versions}")
    return found


async def apply(conn: Conn, migrations: list[Migration]) -> list[Migration]:
    """Apply what is not applied yet; return what was applied now."""
    await conn.execute(
        """
        CREATE TABLE IF NOT EXISTS public.schema_migrations (
            owner       text        NOT NULL,
            version     integer     NOT NULL,
            name        text        NOT NULL,
            checksum    text        NOT NULL,
            applied_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (owner, version)
        )
        """
    )
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        for mig in migrations:
            row = await conn.fetchrow(
                "SELECT checksum FROM public.schema_migrations WHERE owner = $1 AND version = $2",
                mig.owner,
                mig.version,
            )
            if row is not None:
                if row["checksum"] != mig.checksum:
                    raise MigrationError(
                        f"{mig.owner} migration {mig.version:04d}_{mig.name} was edited after it "
                        "was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(mig.sql)
                await conn.execute(
                    "INSERT INTO public.schema_migrations (owner, version, name, checksum) "
                    "VALUES ($1, $2, $3, $4)",
                    mig.owner,
                    mig.version,
                    mig.name,
                    mig.checksum,
                )
            applied_now.append(mig)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


async def ensure_database(dsn: str) -> bool:
    """Create the DSN's database if it does not exist (connecting to ``postgres``); True if created."""
    parts = urlsplit(dsn)
    dbname = parts.path.lstrip("/")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dbname):
        raise MigrationError(f"refusing to create a database named {dbname!r}")
    try:
        conn = await asyncpg.connect(dsn)
    except asyncpg.InvalidCatalogNameError:
        pass
    else:
        await conn.close()
        return False
    conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
    try:
        await conn.execute(f'CREATE DATABASE "{dbname}"')
    except asyncpg.DuplicateDatabaseError:
        return False
    finally:
        await conn.close()
    return True


async def migrate_all(dsn: str) -> list[str]:
    """Create the database if needed and apply every owner's pending migrations.

    Returns what was applied now, as ``<owner>/NNNN_name``.
    """
    await ensure_database(dsn)
    conn = await asyncpg.connect(dsn)
    applied: list[str] = []
    try:
        for owner in OWNERS:
            # An owner that fails to import is an error, not a schema to skip silently.
            if not resources.files(owner).joinpath("migrations").is_dir():
                continue
            for mig in await apply(conn, discover(owner)):
                applied.append(f"{owner}/{mig.version:04d}_{mig.name}")
    finally:
        await conn.close()
    return applied


def main() -> int:
    """``python -m fxmesh.migrations``: apply every pending migration, print what was applied."""
    # Only the database is read: a migration must not wait for settings it does not use (secrets).
    dsn: str = os.environ.get("FXMESH_POSTGRES_DSN", Settings.model_fields["postgres_dsn"].default)
    try:
        applied = asyncio.run(migrate_all(dsn))
    except (OSError, MigrationError) as exc:
        print(f"fxmesh: {exc}", file=sys.stderr)
        return 1
    print(f"{len(applied)} migrations applied" + "".join(f"\n  {m}" for m in applied), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
