"""The real quotes service behind edge's market routes in the edge tests."""

from __future__ import annotations

from typing import Any

from fxmesh.db import create_pool
from quotes.config import QuotesSettings
from quotes.server import QuotesApp, start_quotes

MARKET_SYMBOL = "TSTEDGE"
"""A quotes symbol of the edge tests' own (5 digits, 3 points of markup each side)."""


class QuotesClock:
    """The edge tests' quotes service clock (epoch ms), moved by the tests."""

    def __init__(self) -> None:
        self.now_ms = 1_738_965_480_000  # 2025-02-07T21:58:00Z, a Friday evening

    def __call__(self) -> int:
        return self.now_ms


async def start_quotes_for_edge(
    pg_dsn: str, redis_url: str, clock: QuotesClock
) -> tuple[QuotesApp, Any]:
    """quotes on the test database and Redis, with ``MARKET_SYMBOL`` configured; and its pool."""
    pool = await create_pool(pg_dsn, "edge-test-quotes")
    await pool.execute(
        """
        INSERT INTO quotes.symbol_settings
            (symbol, digits, markup_bid_points, markup_ask_points, max_spread_points)
        VALUES ($1, 5, 3, 3, 100) ON CONFLICT (symbol) DO NOTHING
        """,
        MARKET_SYMBOL,
    )
    settings = QuotesSettings(
        postgres_dsn=pg_dsn,
        redis_url=redis_url,
        quotes_addr="127.0.0.1:0",
        quotes_tick_flush_seconds=3600,  # the tests flush when they mean to
        quotes_tick_retention_days=0,
    )
    return await start_quotes(settings, pool, clock=clock), pool
