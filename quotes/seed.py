"""quotes's seed: pricing settings for a development stack.

The values are the caller's (the dev stack passes its demo catalogue, ``devstack/catalogue.py``):
quotes owns the table, not the demo data. ``SeedPricing`` says what is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fxmesh.db import Conn


class SeedPricing(Protocol):
    """A symbol's pricing settings, as the seed writes them to ``quotes.symbol_settings``."""

    @property
    def symbol(self) -> str: ...
    @property
    def digits(self) -> int: ...
    @property
    def markup_bid_points(self) -> int: ...
    @property
    def markup_ask_points(self) -> int: ...
    @property
    def max_spread_points(self) -> int: ...


async def seed(conn: Conn, symbols: Sequence[SeedPricing]) -> list[str]:
    """Insert one ``quotes.symbol_settings`` row per symbol that has none (idempotent).

    Existing rows are left alone: re-seeding on every ``devstack up`` must not undo an admin's markup.
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
            for s in symbols
        ],
    )
    names = ", ".join(s.symbol for s in symbols)
    return [f"quotes: pricing settings for {len(symbols)} symbols ({names})"]
