"""asyncpg access to ``oms.ledger`` and ``oms.swap_charges``: balance changes (one ledger row each,
with balance before / after), ledger pages and totals, balances at a time, and swaps due.

Functions that change a balance expect the caller to hold the account's row lock
(``UnitOfWork.locked``, i.e. ``accounts.get_account(..., lock=True)``) in the same transaction.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from fxmesh.db import Conn
from oms.domain.model import AccountId, PositionId, Side
from oms.domain.paging import Cursor
from oms.domain.records import LedgerRow, SwapPosition

_LEDGER_COLS = (
    "ledger_id, account_id, type, amount, balance_before, balance_after, currency, deal_id, "
    "reference, note, request_id, created_at, method"
)


def _ledger(row: Any) -> LedgerRow:
    return LedgerRow(
        row["ledger_id"],
        AccountId(row["account_id"]),
        row["type"],
        row["amount"],
        row["balance_before"],
        row["balance_after"],
        row["currency"].strip(),
        row["deal_id"],
        row["reference"],
        row["note"],
        row["request_id"],
        row["created_at"],
        row["method"],
    )


# --- ledger --------------------------------------------------------------------------------------


async def append_ledger(
    conn: Conn,
    account_id: AccountId,
    entry_type: str,
    amount: Decimal,
    currency: str,
    *,
    request_id: str | None = None,
    reference: str | None = None,
    note: str | None = None,
    deal_id: int | None = None,
    method: str | None = None,
) -> LedgerRow:
    """Add ``amount`` to the balance and append the ledger row that records it (under row lock),
    in one statement."""
    row = await conn.fetchrow(
        "WITH a AS (UPDATE oms.accounts SET balance = balance + $2, updated_at = now() "
        "WHERE account_id = $1 RETURNING balance) "
        "INSERT INTO oms.ledger (account_id, type, amount, balance_before, balance_after, "
        "currency, deal_id, reference, note, request_id, method) "
        "SELECT $1, $3, $2, a.balance - $2, a.balance, $4, $5, $6, $7, $8, $9 FROM a "
        f"RETURNING {_LEDGER_COLS}",
        account_id,
        amount,
        entry_type,
        currency,
        deal_id,
        reference,
        note,
        request_id,
        method,
    )
    return _ledger(row)


async def ledger_by_request(conn: Conn, account_id: AccountId, request_id: str) -> LedgerRow | None:
    row = await conn.fetchrow(
        f"SELECT {_LEDGER_COLS} FROM oms.ledger WHERE account_id = $1 AND request_id = $2",
        account_id,
        request_id,
    )
    return _ledger(row) if row is not None else None


async def ledger_page(
    conn: Conn,
    account_id: AccountId,
    start: datetime | None,
    end: datetime | None,
    after: Cursor | None,
    limit: int,
) -> list[LedgerRow]:
    """Ledger rows in [start, end), newest first, strictly older than the ``after`` cursor."""
    rows = await conn.fetch(
        f"SELECT {_LEDGER_COLS} FROM oms.ledger WHERE account_id = $1 "
        "AND ($2::timestamptz IS NULL OR created_at >= $2) "
        "AND ($3::timestamptz IS NULL OR created_at < $3) "
        "AND ($4::timestamptz IS NULL OR (created_at, ledger_id) < ($4, $5)) "
        "ORDER BY created_at DESC, ledger_id DESC LIMIT $6",
        account_id,
        start,
        end,
        after[0] if after else None,
        after[1] if after else 0,
        limit,
    )
    return [_ledger(r) for r in rows]


async def balance_at(conn: Conn, account_id: AccountId, at: datetime) -> Decimal:
    """The balance just before ``at``: balance_after of the last ledger row before it, else 0."""
    value: Decimal | None = await conn.fetchval(
        "SELECT balance_after FROM oms.ledger WHERE account_id = $1 AND created_at < $2 "
        "ORDER BY created_at DESC, ledger_id DESC LIMIT 1",
        account_id,
        at,
    )
    return value if value is not None else Decimal(0)


async def ledger_totals(
    conn: Conn, account_id: AccountId, start: datetime, end: datetime
) -> list[tuple[str, Decimal, int]]:
    """(type, sum of amounts, count) per ledger type with rows in [start, end)."""
    rows = await conn.fetch(
        "SELECT type, sum(amount) AS total, count(*) AS n FROM oms.ledger "
        "WHERE account_id = $1 AND created_at >= $2 AND created_at < $3 GROUP BY type",
        account_id,
        start,
        end,
    )
    return [(r["type"], r["total"], r["n"]) for r in rows]


# --- deals ---------------------------------------------------------------------------------------


# --- accounts ------------------------------------------------------------------------------------


# --- swaps ---------------------------------------------------------------------------------------


async def accounts_due_swap(conn: Conn, instant: datetime, day: date) -> list[AccountId]:
    """Accounts with a position open at ``instant`` that the rollover of ``day`` has not charged."""
    rows = await conn.fetch(
        "SELECT DISTINCT p.account_id FROM oms.positions p WHERE p.closed_at IS NULL "
        "AND p.opened_at < $1 AND NOT EXISTS (SELECT 1 FROM oms.swap_charges c "
        "WHERE c.position_id = p.position_id AND c.rollover_date = $2) ORDER BY p.account_id",
        instant,
        day,
    )
    return [AccountId(r["account_id"]) for r in rows]


async def positions_due_swap(
    conn: Conn, account_id: AccountId, instant: datetime, day: date
) -> list[SwapPosition]:
    """The account's open positions that the rollover of ``day`` has not charged yet."""
    rows = await conn.fetch(
        "SELECT p.position_id, p.symbol, p.side, p.volume FROM oms.positions p "
        "WHERE p.account_id = $1 AND p.closed_at IS NULL AND p.opened_at < $2 "
        "AND NOT EXISTS (SELECT 1 FROM oms.swap_charges c "
        "WHERE c.position_id = p.position_id AND c.rollover_date = $3) ORDER BY p.position_id",
        account_id,
        instant,
        day,
    )
    return [
        SwapPosition(PositionId(r["position_id"]), r["symbol"], Side(r["side"]), r["volume"])
        for r in rows
    ]


async def record_swap(
    conn: Conn,
    position_id: PositionId,
    day: date,
    days: int,
    amount: Decimal,
    ledger_id: int | None,
) -> None:
    """Mark the position charged for ``day`` and add the amount to its running swap."""
    await conn.execute(
        "INSERT INTO oms.swap_charges (position_id, rollover_date, days, amount, ledger_id) "
        "VALUES ($1, $2, $3, $4, $5)",
        position_id,
        day,
        days,
        amount,
        ledger_id,
    )
    if amount:
        await conn.execute(
            "UPDATE oms.positions SET swap = swap + $2, updated_at = now() WHERE position_id = $1",
            position_id,
            amount,
        )


async def post_ledger(
    conn: Conn,
    account_id: AccountId,
    entry_type: str,
    amount: Decimal,
    currency: str,
    *,
    reference: str | None = None,
    note: str | None = None,
    deal_id: int | None = None,
    request_id: str | None = None,
) -> tuple[Decimal, Decimal]:
    """Book ``amount`` on the balance and the ledger; (balance_before, balance_after).

    The caller holds the account's row lock (``get_account(..., lock=True)``) in this transaction.
    """
    row = await append_ledger(
        conn,
        account_id,
        entry_type,
        amount,
        currency,
        request_id=request_id,
        reference=reference,
        note=note,
        deal_id=deal_id,
    )
    return row.balance_before, row.balance_after
