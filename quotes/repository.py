"""SQL of the quotes schema."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from quotes.domain import Markup, SymbolSettings

TickRow = tuple[datetime, str, Decimal, Decimal, str]


async def load_symbol_settings(db: Any) -> list[SymbolSettings]:
    """Every symbol's pricing settings (``db``: a pool or a connection)."""
    rows = await db.fetch(
        """
        SELECT symbol, digits, markup_bid_points, markup_ask_points, max_spread_points,
               spike_threshold_pct, stale_after_ms, enabled
        FROM quotes.symbol_settings
        """
    )
    return [
        SymbolSettings(
            symbol=r["symbol"],
            digits=r["digits"],
            markup=Markup(r["markup_bid_points"], r["markup_ask_points"]),
            max_spread_points=r["max_spread_points"],
            spike_threshold_pct=r["spike_threshold_pct"],
            stale_after_ms=r["stale_after_ms"],
            enabled=r["enabled"],
        )
        for r in rows
    ]


async def insert_ticks(db: Any, rows: Sequence[TickRow]) -> None:
    """Bulk-insert client ticks with COPY."""
    async with db.acquire() as conn:
        await conn.copy_records_to_table(
            "ticks",
            schema_name="quotes",
            columns=["time", "symbol", "bid", "ask", "source"],
            records=rows,
        )
