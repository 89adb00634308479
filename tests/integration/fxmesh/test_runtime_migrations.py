"""Migrations against a real PostgreSQL: idempotent, and edits to applied files are caught."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from fxmesh import migrations
from fxmesh.migrations import Migration, MigrationError
from tests.conftest import PG_SERVER


@pytest.fixture
async def scratch_dsn() -> AsyncIterator[str]:
    name = f"fxmesh_scratch_{uuid.uuid4().hex[:8]}"
    dsn = f"{PG_SERVER}/{name}"
    assert await migrations.ensure_database(dsn) is True
    assert await migrations.ensure_database(dsn) is False
    yield dsn
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def test_apply_when_run_twice_then_second_run_applies_nothing(scratch_dsn: str) -> None:
    migs = [
        Migration("demo", 1, "init", "CREATE SCHEMA demo; CREATE TABLE demo.t (id int);"),
        Migration("demo", 2, "more", "ALTER TABLE demo.t ADD COLUMN v numeric;"),
    ]
    conn = await asyncpg.connect(scratch_dsn)
    try:
        assert [m.version for m in await migrations.apply(conn, migs)] == [1, 2]
        assert await migrations.apply(conn, migs) == []
        assert (
            await conn.fetchval("SELECT count(*) FROM public.schema_migrations WHERE owner='demo'")
            == 2
        )
    finally:
        await conn.close()


async def test_apply_when_applied_migration_edited_then_refuses(scratch_dsn: str) -> None:
    conn = await asyncpg.connect(scratch_dsn)
    try:
        await migrations.apply(conn, [Migration("demo", 1, "init", "CREATE SCHEMA demo;")])
        with pytest.raises(MigrationError, match="edited"):
            await migrations.apply(conn, [Migration("demo", 1, "init", "CREATE SCHEMA demo2;")])
    finally:
        await conn.close()


async def test_apply_when_a_migration_fails_then_nothing_of_it_remains(scratch_dsn: str) -> None:
    conn = await asyncpg.connect(scratch_dsn)
    try:
        bad = Migration("demo", 1, "bad", "CREATE TABLE public.half (id int); SELECT 1/0;")
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrations.apply(conn, [bad])
        assert await conn.fetchval("SELECT to_regclass('public.half')") is None
        assert await conn.fetchval("SELECT count(*) FROM public.schema_migrations") == 0
    finally:
        await conn.close()
