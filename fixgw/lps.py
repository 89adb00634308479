"""LP administration: the LPs in ``fixgw.lps``, seeded from the settings, changed by the RPCs.

At start the settings' LPs are written to the table (``seed``): a SETTINGS row follows the
settings (its configuration replaced, the row removed when the settings drop the LP); a row an
admin created or touched is ADMIN and wins (its configuration, its enabled flag, its tombstone).
The gateway then starts with the stored LPs.

A change is one transaction: the row is written, the gateway applies it (the LP's own initiator
is stopped / started; no other session is touched), then it commits; when the gateway refuses
(the FIX session is another LP's, orders are unresolved) nothing is written. Changes are applied
one at a time.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time
from typing import Any

import asyncpg
import structlog

from fixgw.config import LpConfig
from fixgw.service import Gateway, LpSource, SessionView, UnknownLp
from fxmesh.db import Conn, Pool

log = structlog.stdlib.get_logger(__name__)

_COLUMNS = "lp_id, config, enabled, source, deleted, created_at"


def _row_values(config: LpConfig) -> tuple[Any, ...]:
    return (
        config.name,
        config.host,
        config.port,
        config.sender_comp_id,
        config.target_comp_id,
        config.symbols,
        dict(config.symbol_map),
        config.model_dump(mode="json"),
    )


async def _insert(conn: Conn, config: LpConfig, source: LpSource, enabled: bool) -> None:
    await conn.execute(
        "INSERT INTO fixgw.lps (lp_id, host, port, sender_comp_id, target_comp_id, symbols, "
        "symbol_map, config, enabled, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        *_row_values(config),
        enabled,
        source.value,
    )


async def _update(conn: Conn, config: LpConfig, source: LpSource) -> None:
    await conn.execute(
        "UPDATE fixgw.lps SET host = $2, port = $3, sender_comp_id = $4, target_comp_id = $5, "
        "symbols = $6, symbol_map = $7, config = $8, source = $9, deleted = false, "
        "updated_at = now() WHERE lp_id = $1",
        *_row_values(config),
        source.value,
    )


async def seed(conn: Conn, settings_lps: list[LpConfig]) -> list[tuple[LpConfig, LpSource, bool]]:
    """Bring the table in line with the settings; the live LPs in order (the settings' order,
    then the others as they were created)."""
    async with conn.transaction():
        # Two gateways starting at once seed one after the other.
        await conn.execute("LOCK TABLE fixgw.lps IN SHARE ROW EXCLUSIVE MODE")
        rows = {r["lp_id"]: r for r in await conn.fetch(f"SELECT {_COLUMNS} FROM fixgw.lps")}
        named = {c.name for c in settings_lps}
        for lp_id, row in rows.items():
            if row["source"] == LpSource.SETTINGS and lp_id not in named:
                await conn.execute("DELETE FROM fixgw.lps WHERE lp_id = $1", lp_id)
                log.info("lp_dropped_from_settings", lp=lp_id)
        for config in settings_lps:
            stored_row = rows.get(config.name)
            try:
                async with conn.transaction():
                    if stored_row is None:
                        await _insert(conn, config, LpSource.SETTINGS, True)
                    elif stored_row["source"] == LpSource.SETTINGS:
                        await _update(conn, config, LpSource.SETTINGS)
            except asyncpg.UniqueViolationError:
                log.error(
                    "lp_from_settings_session_in_use",
                    lp=config.name,
                    sender_comp_id=config.sender_comp_id,
                    target_comp_id=config.target_comp_id,
                )
        stored = await conn.fetch(
            f"SELECT {_COLUMNS} FROM fixgw.lps WHERE NOT deleted ORDER BY created_at, lp_id"
        )
    position = {c.name: n for n, c in enumerate(settings_lps)}
    ordered = sorted(stored, key=lambda r: position.get(r["lp_id"], len(position)))
    return [
        (LpConfig.model_validate(r["config"]), LpSource(r["source"]), bool(r["enabled"]))
        for r in ordered
    ]


async def outcomes_today(conn: Conn, now: datetime) -> dict[str, tuple[int, int]]:
    """Per LP, attempts filled and rejected since 00:00 UTC: (fills, rejects)."""
    midnight = datetime.combine(now.astimezone(UTC).date(), time(0), tzinfo=UTC)
    rows = await conn.fetch(
        "SELECT lp, count(*) FILTER (WHERE status IN ('FILLED', 'PARTIALLY_FILLED')) AS fills, "
        "count(*) FILTER (WHERE status = 'REJECTED') AS rejects FROM fixgw.attempts "
        "WHERE final_at >= $1 GROUP BY lp",
        midnight,
    )
    return {r["lp"]: (int(r["fills"]), int(r["rejects"])) for r in rows}


class LpRegistry:
    """The LP RPCs' use cases over the table and the gateway."""

    def __init__(self, gateway: Gateway, settings_lps: list[LpConfig]) -> None:
        self._gateway = gateway
        self._settings_lps = list(settings_lps)
        self._pool: Pool | None = None
        self._lock = asyncio.Lock()

    @property
    def _db(self) -> Pool:
        assert self._pool is not None, "LpRegistry.load() first"
        return self._pool

    async def load(self, pool: Pool) -> None:
        """Seed the table from the settings and configure the gateway (before it starts)."""
        self._pool = pool
        async with pool.acquire() as conn:
            lps = await seed(conn, self._settings_lps)
            today = await outcomes_today(conn, datetime.now(UTC))
        self._gateway.configure(lps)
        for lp, (fills, rejects) in today.items():
            self._gateway.health.seed_today(lp, fills, rejects)
        log.info("lps_loaded", lps=[(c.name, s.value, on) for c, s, on in lps])

    def _in_settings(self, name: str) -> bool:
        return any(c.name == name for c in self._settings_lps)

    async def create(self, config: LpConfig, enabled: bool) -> SessionView:
        """Add an LP (ALREADY_EXISTS LP_EXISTS; FAILED_PRECONDITION LP_SESSION_IN_USE)."""
        async with self._lock, self._db.acquire() as conn, conn.transaction():
            self._gateway.check_new(config)
            # A tombstone of a deleted settings LP is replaced: the LP is the admin's now.
            await conn.execute("DELETE FROM fixgw.lps WHERE lp_id = $1 AND deleted", config.name)
            await _insert(conn, config, LpSource.ADMIN, enabled)
            await self._gateway.add_lp(config, LpSource.ADMIN, enabled)
        return self._gateway.view(config.name)

    async def update(self, config: LpConfig) -> SessionView:
        """Replace an LP's configuration (NOT_FOUND LP_NOT_FOUND); its session restarts."""
        async with self._lock, self._db.acquire() as conn, conn.transaction():
            self._gateway.state(config.name)
            await _update(conn, config, LpSource.ADMIN)
            await self._gateway.replace_lp(config, LpSource.ADMIN)
        return self._gateway.view(config.name)

    async def delete(self, name: str) -> SessionView:
        """Stop and forget an LP; the last view of it is answered."""
        async with self._lock, self._db.acquire() as conn, conn.transaction():
            last = self._gateway.view(name)
            if self._in_settings(name):
                await conn.execute(
                    "UPDATE fixgw.lps SET deleted = true, source = 'ADMIN', updated_at = now() "
                    "WHERE lp_id = $1",
                    name,
                )
            else:
                await conn.execute("DELETE FROM fixgw.lps WHERE lp_id = $1", name)
            await self._gateway.remove_lp(name)
        return last

    async def set_enabled(self, name: str, enabled: bool) -> SessionView:
        """Enable or disable an LP; the switch is kept across restarts."""
        async with self._lock, self._db.acquire() as conn, conn.transaction():
            if name not in self._gateway.lps:
                raise UnknownLp(name)
            await conn.execute(
                "UPDATE fixgw.lps SET enabled = $2, source = 'ADMIN', updated_at = now() "
                "WHERE lp_id = $1",
                name,
                enabled,
            )
            await self._gateway.set_lp_enabled(name, enabled, LpSource.ADMIN)
        return self._gateway.view(name)
