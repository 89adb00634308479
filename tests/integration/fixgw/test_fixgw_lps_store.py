"""fixgw.lps seeding from the settings (real PostgreSQL, no FIX): SETTINGS rows follow the
settings, ADMIN rows and tombstones win. LP names are fresh per test; rows removed at the end."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from fixgw.config import LpConfig
from fixgw.lps import seed
from fixgw.service import LpSource


class Db:
    """A connection (JSON codecs as fixgw's pool has them) and this test's LP name prefix."""

    def __init__(self, connection: Any, prefix: str) -> None:
        self.connection = connection
        self.prefix = prefix

    async def execute(self, sql: str, *args: Any) -> Any:
        return await self.connection.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> Any:
        return await self.connection.fetch(sql, *args)


@pytest.fixture
async def conn(pg_dsn: str) -> AsyncIterator[Db]:
    connection = await asyncpg.connect(pg_dsn)
    await connection.set_type_codec(
        "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
    )
    prefix = f"S{uuid.uuid4().hex[:6].upper()}"
    try:
        yield Db(connection, prefix)
    finally:
        await connection.execute("DELETE FROM fixgw.lps WHERE lp_id LIKE $1", prefix + "%")
        await connection.close()


def lp(conn: Db, n: int, port: int = 9000) -> LpConfig:
    name = f"{conn.prefix}-{n}"
    return LpConfig(name=name, host="127.0.0.1", port=port, target_comp_id=name)


async def test_seed_when_settings_change_then_settings_rows_follow_and_admin_rows_win(
    conn: Db,
) -> None:
    # Arrange: two settings LPs; an admin changes the second one and adds a third.
    first = await seed(conn.connection, [lp(conn, 1), lp(conn, 2)])
    await conn.execute(
        "UPDATE fixgw.lps SET port = 7002, config = jsonb_set(config, '{port}', '7002'), "
        "source = 'ADMIN' WHERE lp_id = $1",
        f"{conn.prefix}-2",
    )
    await conn.execute(
        "INSERT INTO fixgw.lps (lp_id, host, port, sender_comp_id, target_comp_id, config, "
        "source) VALUES ($1, '127.0.0.1', 7003, 'FXMESH', $1, $2, 'ADMIN')",
        f"{conn.prefix}-3",
        lp(conn, 3, 7003).model_dump(mode="json"),
    )

    # Act: the settings move both LPs to new ports.
    after = await seed(conn.connection, [lp(conn, 1, 8001), lp(conn, 2, 8002)])

    # Assert
    assert [(c.name, s, on) for c, s, on in first] == [
        (f"{conn.prefix}-1", LpSource.SETTINGS, True),
        (f"{conn.prefix}-2", LpSource.SETTINGS, True),
    ]
    mine = [(c.name, c.port, s) for c, s, _ in after if c.name.startswith(conn.prefix)]
    assert mine == [
        (f"{conn.prefix}-1", 8001, LpSource.SETTINGS),  # follows the settings
        (f"{conn.prefix}-2", 7002, LpSource.ADMIN),  # the admin's change wins
        (f"{conn.prefix}-3", 7003, LpSource.ADMIN),  # admin-made, after the settings' LPs
    ]


async def test_seed_when_settings_drop_an_lp_or_it_was_deleted_then_gone_and_stays_gone(
    conn: Db,
) -> None:
    await seed(conn.connection, [lp(conn, 1), lp(conn, 2), lp(conn, 3)])
    # The admin deleted LP 3 (a tombstone, as LpRegistry.delete leaves for a settings LP).
    await conn.execute(
        "UPDATE fixgw.lps SET deleted = true, source = 'ADMIN' WHERE lp_id = $1",
        f"{conn.prefix}-3",
    )

    after = await seed(conn.connection, [lp(conn, 1), lp(conn, 3)])  # the settings drop LP 2

    names = [c.name for c, _, _ in after if c.name.startswith(conn.prefix)]
    assert names == [f"{conn.prefix}-1"]
    rows = await conn.fetch(
        "SELECT lp_id, deleted FROM fixgw.lps WHERE lp_id LIKE $1 ORDER BY lp_id",
        conn.prefix + "%",
    )
    assert [(r["lp_id"], r["deleted"]) for r in rows] == [
        (f"{conn.prefix}-1", False),
        (f"{conn.prefix}-3", True),
    ]


async def test_seed_when_settings_lp_takes_an_admin_lps_session_then_admin_kept_settings_skipped(
    conn: Db,
) -> None:
    taken = lp(conn, 9)
    await conn.execute(
        "INSERT INTO fixgw.lps (lp_id, host, port, sender_comp_id, target_comp_id, config, "
        "source) VALUES ($1, '127.0.0.1', 9000, 'FXMESH', $2, $3, 'ADMIN')",
        f"{conn.prefix}-admin",
        taken.target_comp_id,
        taken.model_copy(update={"name": f"{conn.prefix}-admin"}).model_dump(mode="json"),
    )

    after = await seed(conn.connection, [taken])

    names = [c.name for c, _, _ in after if c.name.startswith(conn.prefix)]
    assert names == [f"{conn.prefix}-admin"]
