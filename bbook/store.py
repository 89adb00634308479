"""The house book's fills in PostgreSQL (``router.bbook_fills``, owned by router's migrations).

The router writes a fill in the same statement as its order claim and routing decision, so this
module lends it the column list, the values and the row reader rather than an insert of its own.
"""

from __future__ import annotations

from typing import Any

from bbook.book import BookFill, Side
from fxmesh.db import Conn

COLUMNS = (
    "fill_id",
    "order_id",
    "account_id",
    "symbol",
    "client_side",
    "volume",
    "price",
    "contract_size",
    "quote_to_usd_rate",
    "filled_at",
)
# PostgreSQL types of COLUMNS, for statements whose parameters PostgreSQL cannot type itself
# (an INSERT ... SELECT types its select list before it sees the target columns).
TYPES = (
    "text",
    "text",
    "text",
    "text",
    "text",
    "numeric",
    "numeric",
    "numeric",
    "numeric",
    "timestamptz",
)


def columns(alias: str = "") -> str:
    """The fill columns as a select list, qualified by ``alias`` when one is given."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + c for c in COLUMNS)


def values(fill: BookFill) -> tuple[Any, ...]:
    """The fill's values in the order of COLUMNS."""
    return (
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


def from_row(row: Any) -> BookFill | None:
    """The fill in ``row`` (selected with ``columns``), None when its columns are NULL."""
    if row["fill_id"] is None:
        return None
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


async def all_fills(conn: Conn) -> list[BookFill]:
    """Every fill in the order it was booked, for rebuilding the house book."""
    rows = await conn.fetch(f"SELECT {columns()} FROM router.bbook_fills ORDER BY seq")
    return [fill for fill in map(from_row, rows) if fill is not None]
