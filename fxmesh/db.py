"""asyncpg connection pools (NUMERIC comes back as Decimal; sessions run in UTC)."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, service: str, *, min_size: int = 2, max_size: int = 10) -> Any:
    """Open a pool whose connections name the service in pg_stat_activity."""
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"application_name": f"fxmesh-{service}", "timezone": "UTC"},
    )
