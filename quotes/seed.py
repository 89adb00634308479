"""Demo pricing settings for the local profile, from the shared demo catalogue."""

from __future__ import annotations

from fxmesh.db import Conn
from fxmesh.stack.catalogue import DEMO_SYMBOLS


async def seed(conn: Conn) -> list[str]:
    """Insert one ``quotes.symbol_settings`` row per demo symbol that has none (idempotent).

    Existing rows are left alone: re-seeding on every ``stack up`` must not undo an admin's markup.
    """
    await conn.executemany(
        """
        INSERT INTO quotes.symbol_settings
            (symbol, digits, markup_bid_points, markup_ask_points, max_spread_points)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (symbol) DO NOTHING
        """,
        [
            (s.symbol, s.digits, s.markup_bid_points, s.markup_ask_points, s.max_spread_points)
            for s in DEMO_SYMBOLS
        ],
    )
    names = ", ".join(s.symbol for s in DEMO_SYMBOLS)
    return [f"quotes: pricing settings for {len(DEMO_SYMBOLS)} symbols ({names})"]
