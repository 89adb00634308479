"""PostgreSQL floor: one INSERT committed per round trip, and the same batched (group commit)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import asyncpg

from bench.floors.common import in_flight, sequential
from bench.stackctl import fresh_database

TABLE = """
CREATE TABLE floor_rows (
    row_id     bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id bigint      NOT NULL,
    amount     numeric     NOT NULL,
    note       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)
"""
INSERT = "INSERT INTO floor_rows (account_id, amount, note) VALUES ($1, $2, $3)"
BATCH = 100
CONCURRENT = 16


async def measure(quick: bool) -> dict[str, dict[str, Any]]:
    count, warmup, batches, window = (300, 50, 20, 1.0) if quick else (3000, 300, 200, 4.0)
    dsn, drop = await fresh_database()
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(TABLE)
            server = {
                name: await conn.fetchval(f"SHOW {name}")
                for name in ("server_version", "synchronous_commit", "fsync", "wal_sync_method")
            }
            amount = Decimal("-0.35")

            # Autocommit: one round trip that inserts and commits (WAL flushed before the reply).
            single = await sequential(
                lambda: conn.execute(INSERT, 1, amount, "floor"), count, warmup
            )

            rows = [(1, amount, "floor")] * BATCH

            async def batch() -> None:
                async with conn.transaction():
                    await conn.executemany(INSERT, rows)

            batched = await sequential(batch, batches, max(2, batches // 10))
        finally:
            await conn.close()

        # Many connections committing at once: PostgreSQL flushes their commits together.
        pool = await asyncpg.create_pool(dsn, min_size=CONCURRENT, max_size=CONCURRENT)
        try:

            async def one() -> None:
                async with pool.acquire() as c:
                    await c.execute(INSERT, 2, amount, "floor")

            grouped, rate = await in_flight(one, CONCURRENT, window)
        finally:
            await asyncio.wait_for(pool.close(), 10)
    finally:
        await drop()
    batch_summary = batched.summary()
    return {
        "pg_insert_commit": {
            "what": "asyncpg: one INSERT in autocommit = one round trip incl. the commit's WAL flush, "
            "1 in flight",
            "server": server,
            "latency_ms": single.summary(),
        },
        "pg_group_commit": {
            "what": f"the same rows batched: {BATCH} INSERTs (executemany) in one transaction per "
            f"commit; and {CONCURRENT} connections committing single INSERTs at once",
            "batch_rows": BATCH,
            "latency_ms": batch_summary,
            "per_row_ms_p50": round(batch_summary.get("p50", 0.0) / BATCH, 4),
            "concurrent_connections": CONCURRENT,
            "concurrent_commits_per_s": round(rate),
            "concurrent_latency_ms": grouped.summary(),
        },
    }
