"""asyncpg access for balance operations, account administration, listings, statements and swaps.

The trading SQL lives in ``oms.repository``; this module holds the SQL of ``oms.funds``,
``oms.rollover`` and ``oms.risk``. Functions that change a balance expect the caller to hold the
account's row lock (``repository.get_account(..., lock=True)``) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from oms.domain import AccountId, PositionId, Side
from oms.position_store import DealRow
from oms.position_store import deal_from_row as _deal

Conn = asyncpg.Connection


@dataclass(frozen=True, slots=True)
class LedgerRow:
    ledger_id: int
    account_id: AccountId
    type: str
    amount: Decimal
    balance_before: Decimal
    balance_after: Decimal
    currency: str
    deal_id: int | None
    reference: str | None
    note: str | None
    request_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """Columns to change on an account; None keeps the current value."""

    status: str | None = None
    leverage: int | None = None
    client_group: str | None = None
    margin_call_level: Decimal | None = None
    stop_out_level: Decimal | None = None
    negative_balance_protection: bool | None = None
    max_open_positions: int | None = None
    # max_daily_volume: None keeps it; clear_max_daily_volume removes the limit.
    max_daily_volume: Decimal | None = None
    clear_max_daily_volume: bool = False


@dataclass(frozen=True, slots=True)
class SwapPosition:
    """An open position due a swap at one rollover."""

    position_id: PositionId
    symbol: str
    side: Side
    volume: Decimal


Cursor = tuple[datetime, int]  # keyset position: (time, id) of the last item of a page

_LEDGER_COLS = (
    "ledger_id, account_id, type, amount, balance_before, balance_after, currency, deal_id, "
    "reference, note, request_id, created_at"
)
_DEAL_COLS = (
    "deal_id, order_id, position_id, account_id, symbol, side, entry, volume, price, commission, "
    "swap, realized_pnl, venue, book, fill_id, deal_time, reason"
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
) -> LedgerRow:
    """Add ``amount`` to the balance and append the ledger row that records it (under row lock),
    in one statement."""
    row = await conn.fetchrow(
        "WITH a AS (UPDATE oms.accounts SET balance = balance + $2, updated_at = now() "
        "WHERE account_id = $1 RETURNING balance) "
        "INSERT INTO oms.ledger (account_id, type, amount, balance_before, balance_after, "
        "currency, deal_id, reference, note, request_id) "
        "SELECT $1, $3, $2, a.balance - $2, a.balance, $4, $5, $6, $7, $8 FROM a "
        f"RETURNING {_LEDGER_COLS}",
        account_id,
        amount,
        entry_type,
        currency,
        deal_id,
        reference,
        note,
        request_id,
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


async def deal_page(
    conn: Conn,
    account_id: AccountId,
    start: datetime | None,
    end: datetime | None,
    after: Cursor | None,
    limit: int,
) -> list[DealRow]:
    """Deals in [start, end), newest first, strictly older than the ``after`` cursor."""
    rows = await conn.fetch(
        f"SELECT {_DEAL_COLS} FROM oms.deals WHERE account_id = $1 "
        "AND ($2::timestamptz IS NULL OR deal_time >= $2) "
        "AND ($3::timestamptz IS NULL OR deal_time < $3) "
        "AND ($4::timestamptz IS NULL OR (deal_time, deal_id) < ($4, $5)) "
        "ORDER BY deal_time DESC, deal_id DESC LIMIT $6",
        account_id,
        start,
        end,
        after[0] if after else None,
        after[1] if after else 0,
        limit,
    )
    return [_deal(r) for r in rows]


async def deals_between(
    conn: Conn, account_id: AccountId, start: datetime, end: datetime, limit: int
) -> list[DealRow]:
    """Deals in [start, end), oldest first, at most ``limit``."""
    rows = await conn.fetch(
        f"SELECT {_DEAL_COLS} FROM oms.deals WHERE account_id = $1 "
        "AND deal_time >= $2 AND deal_time < $3 ORDER BY deal_time, deal_id LIMIT $4",
        account_id,
        start,
        end,
        limit,
    )
    return [_deal(r) for r in rows]


# --- accounts ------------------------------------------------------------------------------------


async def insert_account(
    conn: Conn,
    *,
    login: str,
    password_hash: str,
    account_type: str,
    currency: str,
    leverage: int,
    margin_mode: str,
    client_group: str,
) -> AccountId | None:
    """The new account's id, or None when the login is taken."""
    account_id: int | None = await conn.fetchval(
        "INSERT INTO oms.accounts (login, password_hash, type, currency, leverage, margin_mode, "
        "status, client_group) VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', $7) "
        "ON CONFLICT (login) DO NOTHING RETURNING account_id",
        login,
        password_hash,
        account_type,
        currency,
        leverage,
        margin_mode,
        client_group,
    )
    return AccountId(account_id) if account_id is not None else None


async def update_account(conn: Conn, account_id: AccountId, changes: AccountChanges) -> None:
    """Apply ``changes`` in one UPDATE (the table's CHECKs guard what the caller missed)."""
    await conn.execute(
        "UPDATE oms.accounts SET "
        "status = coalesce($2, status), leverage = coalesce($3, leverage), "
        "client_group = coalesce($4, client_group), "
        "margin_call_level = coalesce($5, margin_call_level), "
        "stop_out_level = coalesce($6, stop_out_level), "
        "negative_balance_protection = coalesce($7, negative_balance_protection), "
        "max_open_positions = coalesce($8, max_open_positions), "
        "max_daily_volume = CASE WHEN $9 THEN NULL ELSE coalesce($10, max_daily_volume) END, "
        "updated_at = now() WHERE account_id = $1",
        account_id,
        changes.status,
        changes.leverage,
        changes.client_group,
        changes.margin_call_level,
        changes.stop_out_level,
        changes.negative_balance_protection,
        changes.max_open_positions,
        changes.clear_max_daily_volume,
        changes.max_daily_volume,
    )


async def open_exposure(conn: Conn, account_id: AccountId) -> tuple[int, int]:
    """(open positions, orders not in a terminal state) of an account."""
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM oms.positions WHERE account_id = $1 AND closed_at IS NULL) "
        "AS positions, (SELECT count(*) FROM oms.orders WHERE account_id = $1 AND status IN "
        "('PENDING', 'ACCEPTED', 'FILLING', 'PARTIALLY_FILLED', 'WORKING')) AS orders",
        account_id,
    )
    assert row is not None
    return int(row["positions"]), int(row["orders"])


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
