"""The house book's fills in PostgreSQL (``router.bbook_fills``, owned by router's migrations).

Functions take a connection so the caller can write a fill in the same transaction as its routing
decision.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from bbook.book import BookFill, Side

_COLUMNS = (
    "fill_id, order_id, account_id, symbol, client_side, volume, price, contract_size, "
    "quote_to_usd_rate, filled_at"
)


def _fill(row: Any) -> BookFill:
    return BookFill(
        fill_id=row["fill_id"],
        order_id=row["order_id"],
        account_id=row["account_id"],
        symbol=row["symbol"],
        client_side=Side(row["client_side"]),
        volume=row["volume"],
        price=row["price"],
        contract_size=row["contract_size"],
        quote_to_usd_rate=row["quote_to_usd_rate"],
        filled_at=row["filled_at"],
    )


async def insert_fill(conn: asyncpg.Connection, fill: BookFill) -> bool:
    """Insert a fill; False if the order already has one (the caller returns that one)."""
    status: str = await conn.execute(
        f"INSERT INTO router.bbook_fills ({_COLUMNS}) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (order_id) DO NOTHING",
        fill.fill_id,
        fill.order_id,
        fill.account_id,
        fill.symbol,
        fill.client_side.value,
        fill.volume,
        fill.price,
        fill.contract_size,
        fill.quote_to_usd_rate,
        fill.filled_at,
    )
    return status.endswith(" 1")


async def fill_for_order(conn: asyncpg.Connection, order_id: str) -> BookFill | None:
    """The fill of ``order_id`` if the house already filled it."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM router.bbook_fills WHERE order_id = $1", order_id
    )
    return _fill(row) if row is not None else None


async def all_fills(conn: asyncpg.Connection) -> list[BookFill]:
    """Every fill in the order it was booked, for rebuilding the house book."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM router.bbook_fills ORDER BY seq")
    return [_fill(r) for r in rows]
