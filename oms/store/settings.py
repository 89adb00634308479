"""Symbol and risk settings: the one place a service writes another service's schema.

oms owns a symbol. A change of its settings writes, in ONE transaction, ``oms.symbols`` (the
contract specification), the symbol's ``quotes.symbol_settings`` row (digits and markup: what
quotes prices with) and its ``router.bbook_symbol_settings`` row (B-book on/off and the maximum
quote age): all three land or none does. Each table's own trigger then NOTIFYs its service at
commit (``oms_settings``, ``quotes_settings``, ``router_config``), and each reloads for its next
order or tick. Nothing else in fxmesh writes across schemas; docs/ARCHITECTURE.md ("Who owns a
symbol, and how the others follow") says why this one does.

Risk settings (``oms.risk_settings``) are oms's own: the global row (group '') and per-group rows.
"""

from __future__ import annotations

import json
from typing import Any

from fxmesh.db import Conn, Pool
from fxmesh.errors import AlreadyExists, NotFound
from fxmesh.reasons import Reason
from oms.domain.model import AssetClass
from oms.domain.rules import parse_sessions
from oms.domain.settings import (
    DEFAULT_MAX_SPREAD_POINTS,
    LIMIT_FIELDS,
    RiskSettings,
    RiskTable,
    SymbolChange,
    SymbolSettings,
)

_SELECT = (
    "SELECT s.symbol, s.description, s.asset_class, s.base_currency, s.quote_currency, s.digits, "
    "s.contract_size, s.volume_min, s.volume_max, s.volume_step, s.margin_percent, "
    "s.commission_per_lot, s.commission_currency, s.swap_long_points, s.swap_short_points, "
    "s.swap_triple_weekday, s.trading_sessions, s.stops_level_points, "
    "s.default_deviation_points, s.enabled, "
    "q.markup_bid_points, q.markup_ask_points, q.max_spread_points, "
    "b.enabled AS bbook_enabled, b.max_quote_age_ms "
    "FROM oms.symbols s "
    "LEFT JOIN quotes.symbol_settings q ON q.symbol = s.symbol "
    "LEFT JOIN router.bbook_symbol_settings b ON b.symbol = s.symbol"
)


def symbol_not_found(symbol: str) -> NotFound:
    return NotFound(
        f"no symbol {symbol}", reason=Reason.SYMBOL_NOT_FOUND, metadata={"symbol": symbol}
    )


def _settings(r: Any) -> SymbolSettings:
    sessions = r["trading_sessions"]
    return SymbolSettings(
        symbol=r["symbol"],
        description=r["description"],
        asset_class=AssetClass(r["asset_class"]),
        base_currency=r["base_currency"].strip(),
        quote_currency=r["quote_currency"].strip(),
        digits=r["digits"],
        contract_size=r["contract_size"],
        volume_min=r["volume_min"],
        volume_max=r["volume_max"],
        volume_step=r["volume_step"],
        margin_percent=r["margin_percent"],
        commission_per_lot=r["commission_per_lot"],
        commission_currency=r["commission_currency"].strip(),
        swap_long_points=r["swap_long_points"],
        swap_short_points=r["swap_short_points"],
        swap_triple_weekday=r["swap_triple_weekday"],
        sessions=parse_sessions(json.loads(sessions) if isinstance(sessions, str) else sessions),
        stops_level_points=r["stops_level_points"],
        default_deviation_points=r["default_deviation_points"],
        enabled=r["enabled"],
        spread_markup_points=(r["markup_bid_points"] or 0) + (r["markup_ask_points"] or 0),
        max_spread_points=r["max_spread_points"] or DEFAULT_MAX_SPREAD_POINTS,
        bbook_enabled=True if r["bbook_enabled"] is None else r["bbook_enabled"],
        max_quote_age_ms=r["max_quote_age_ms"],
    )


async def list_symbol_settings(conn: Conn, symbol: str = "") -> list[SymbolSettings]:
    """Every symbol's settings by name, or the one named (NOT_FOUND SYMBOL_NOT_FOUND)."""
    if symbol:
        row = await conn.fetchrow(_SELECT + " WHERE s.symbol = $1", symbol)
        if row is None:
            raise symbol_not_found(symbol)
        return [_settings(row)]
    return [_settings(r) for r in await conn.fetch(_SELECT + " ORDER BY s.symbol")]


async def _locked(conn: Conn, symbol: str) -> SymbolSettings | None:
    # Lock the oms row first: two changes of one symbol serialize, the merge reads what is there.
    found = await conn.fetchval("SELECT 1 FROM oms.symbols WHERE symbol = $1 FOR UPDATE", symbol)
    if found is None:
        return None
    row = await conn.fetchrow(_SELECT + " WHERE s.symbol = $1", symbol)
    return _settings(row)


async def _write_oms(conn: Conn, s: SymbolSettings) -> None:
    await conn.execute(
        "INSERT INTO oms.symbols (symbol, description, asset_class, base_currency, "
        "quote_currency, digits, contract_size, volume_min, volume_max, volume_step, "
        "margin_percent, commission_per_lot, commission_currency, swap_long_points, "
        "swap_short_points, swap_triple_weekday, trading_sessions, stops_level_points, "
        "default_deviation_points, enabled) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
        "$17::jsonb, $18, $19, $20) "
        "ON CONFLICT (symbol) DO UPDATE SET description = EXCLUDED.description, "
        "asset_class = EXCLUDED.asset_class, base_currency = EXCLUDED.base_currency, "
        "quote_currency = EXCLUDED.quote_currency, digits = EXCLUDED.digits, "
        "contract_size = EXCLUDED.contract_size, volume_min = EXCLUDED.volume_min, "
        "volume_max = EXCLUDED.volume_max, volume_step = EXCLUDED.volume_step, "
        "margin_percent = EXCLUDED.margin_percent, "
        "commission_per_lot = EXCLUDED.commission_per_lot, "
        "commission_currency = EXCLUDED.commission_currency, "
        "swap_long_points = EXCLUDED.swap_long_points, "
        "swap_short_points = EXCLUDED.swap_short_points, "
        "swap_triple_weekday = EXCLUDED.swap_triple_weekday, "
        "trading_sessions = EXCLUDED.trading_sessions, "
        "stops_level_points = EXCLUDED.stops_level_points, "
        "default_deviation_points = EXCLUDED.default_deviation_points, "
        "enabled = EXCLUDED.enabled, updated_at = now()",
        s.symbol,
        s.description,
        s.asset_class.value,
        s.base_currency,
        s.quote_currency,
        s.digits,
        s.contract_size,
        s.volume_min,
        s.volume_max,
        s.volume_step,
        s.margin_percent,
        s.commission_per_lot,
        s.commission_currency,
        s.swap_long_points,
        s.swap_short_points,
        s.swap_triple_weekday,
        json.dumps(s.sessions_json()),
        s.stops_level_points,
        s.default_deviation_points,
        s.enabled,
    )


async def _write_quotes(conn: Conn, s: SymbolSettings) -> None:
    # quotes' own validation knobs (spike threshold, staleness) keep their values on an update.
    await conn.execute(
        "INSERT INTO quotes.symbol_settings (symbol, digits, markup_bid_points, "
        "markup_ask_points, max_spread_points) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (symbol) DO UPDATE SET digits = EXCLUDED.digits, "
        "markup_bid_points = EXCLUDED.markup_bid_points, "
        "markup_ask_points = EXCLUDED.markup_ask_points, "
        "max_spread_points = EXCLUDED.max_spread_points",
        s.symbol,
        s.digits,
        s.markup_bid_points,
        s.markup_ask_points,
        s.max_spread_points,
    )


async def _write_router(conn: Conn, s: SymbolSettings) -> None:
    await conn.execute(
        "INSERT INTO router.bbook_symbol_settings (symbol, enabled, max_quote_age_ms) "
        "VALUES ($1, $2, $3) ON CONFLICT (symbol) DO UPDATE SET enabled = EXCLUDED.enabled, "
        "max_quote_age_ms = EXCLUDED.max_quote_age_ms",
        s.symbol,
        s.bbook_enabled,
        s.max_quote_age_ms,
    )


async def _write_all(conn: Conn, s: SymbolSettings) -> None:
    await _write_oms(conn, s)
    await _write_quotes(conn, s)
    await _write_router(conn, s)


async def upsert_symbol(
    pool: Pool, change: SymbolChange, *, create: bool
) -> tuple[SymbolSettings | None, SymbolSettings]:
    """Create (``create``: ALREADY_EXISTS if it exists) or change (NOT_FOUND if it does not) a
    symbol in oms, quotes and router in one transaction. Returns (before, after)."""
    async with pool.acquire() as conn, conn.transaction():
        before = await _locked(conn, change.symbol)
        if create:
            if before is not None:
                raise AlreadyExists(
                    f"symbol {change.symbol} exists",
                    reason=Reason.SYMBOL_ALREADY_EXISTS,
                    metadata={"symbol": change.symbol},
                )
            after = change.create()
        else:
            if before is None:
                raise symbol_not_found(change.symbol)
            after = change.apply(before)
        await _write_all(conn, after)
    return before, after


async def set_symbol_enabled(
    pool: Pool, symbol: str, enabled: bool
) -> tuple[SymbolSettings, SymbolSettings]:
    """Allow or refuse new orders in a symbol (closes always work; quotes keep pricing it)."""
    before, after = await upsert_symbol(
        pool, SymbolChange(symbol, {"enabled": enabled}), create=False
    )
    assert before is not None  # an update: a missing symbol raised NOT_FOUND
    return before, after


# --- risk settings -------------------------------------------------------------------------------

_RISK_COLS = "client_group, " + ", ".join(LIMIT_FIELDS)


def _risk(r: Any) -> RiskSettings:
    return RiskSettings(**{k: r[k] for k in ("client_group", *LIMIT_FIELDS)})


async def load_risk(conn: Conn) -> RiskTable:
    rows = [_risk(r) for r in await conn.fetch(f"SELECT {_RISK_COLS} FROM oms.risk_settings")]
    global_row = next((r for r in rows if r.client_group == ""), RiskSettings())
    return RiskTable(global_row, {r.client_group: r for r in rows if r.client_group != ""})


async def put_risk(pool: Pool, row: RiskSettings) -> tuple[RiskSettings | None, RiskSettings]:
    """Replace the global row (group '') or a group's row; returns (before, after)."""
    row = row.checked()
    async with pool.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(
            f"SELECT {_RISK_COLS} FROM oms.risk_settings WHERE client_group = $1 FOR UPDATE",
            row.client_group,
        )
        placeholders = ", ".join(f"${i}" for i in range(2, len(LIMIT_FIELDS) + 2))
        updates = ", ".join(f"{k} = EXCLUDED.{k}" for k in LIMIT_FIELDS)
        await conn.execute(
            f"INSERT INTO oms.risk_settings ({_RISK_COLS}) VALUES ($1, {placeholders}) "
            f"ON CONFLICT (client_group) DO UPDATE SET {updates}, updated_at = now()",
            row.client_group,
            *(getattr(row, k) for k in LIMIT_FIELDS),
        )
    return (_risk(old) if old is not None else None), row


# --- change notifications ------------------------------------------------------------------------

CHANNEL = "oms_settings"  # NOTIFYed at commit by the triggers of migration 0012
