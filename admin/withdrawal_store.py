"""``admin.withdrawals`` SQL (asyncpg): withdrawals awaiting approval and their decisions.

A decision is one conditional UPDATE (``WHERE status = 'PENDING'``), so of two admins deciding at
once exactly one wins; the other reads the row again and is answered by what won.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from admin.domain import Withdrawal, WithdrawalStatus

_COLUMNS = (
    "withdrawal_id, account_id, amount, currency, method, reference, note, request_id, "
    "requested_by, status, decided_by, decided_at, reason, hold_id, ledger_id, created_at"
)


def _withdrawal(row: Any) -> Withdrawal:
    return Withdrawal(
        withdrawal_id=str(row["withdrawal_id"]),
        account_id=str(row["account_id"]),
        amount=row["amount"],
        currency=row["currency"].strip(),
        method=row["method"],
        reference=row["reference"],
        note=row["note"],
        request_id=row["request_id"],
        requested_by=row["requested_by"],
        status=WithdrawalStatus(row["status"]),
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        reason=row["reason"],
        hold_id=str(row["hold_id"]),
        ledger_id=None if row["ledger_id"] is None else str(row["ledger_id"]),
        created_at=row["created_at"],
    )


async def get(db: Any, withdrawal_id: int) -> Withdrawal | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM admin.withdrawals WHERE withdrawal_id = $1", withdrawal_id
    )
    return None if row is None else _withdrawal(row)


async def by_request(db: Any, request_id: str) -> Withdrawal | None:
    row = await db.fetchrow(
        f"SELECT {_COLUMNS} FROM admin.withdrawals WHERE request_id = $1", request_id
    )
    return None if row is None else _withdrawal(row)


async def insert(
    db: Any,
    *,
    account_id: str,
    amount: Decimal,
    currency: str,
    method: str,
    reference: str,
    note: str,
    request_id: str,
    requested_by: str,
    hold_id: str,
) -> Withdrawal | None:
    """A new PENDING withdrawal; None when its request id is taken (a concurrent retry won)."""
    row = await db.fetchrow(
        "INSERT INTO admin.withdrawals (account_id, amount, currency, method, reference, note, "
        "request_id, requested_by, hold_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
        f"ON CONFLICT (request_id) DO NOTHING RETURNING {_COLUMNS}",
        int(account_id),
        amount,
        currency,
        method,
        reference,
        note,
        request_id,
        requested_by,
        int(hold_id),
    )
    return None if row is None else _withdrawal(row)


async def decide(
    db: Any,
    withdrawal_id: int,
    status: WithdrawalStatus,
    decided_by: str,
    decided_at: datetime,
    *,
    reason: str = "",
    ledger_id: str | None = None,
) -> Withdrawal | None:
    """Record the decision of a PENDING withdrawal; None when it was not pending any more."""
    row = await db.fetchrow(
        "UPDATE admin.withdrawals SET status = $2, decided_by = $3, decided_at = $4, "
        "reason = $5, ledger_id = $6 WHERE withdrawal_id = $1 AND status = 'PENDING' "
        f"RETURNING {_COLUMNS}",
        withdrawal_id,
        status.value,
        decided_by,
        decided_at,
        reason,
        None if ledger_id is None else int(ledger_id),
    )
    return None if row is None else _withdrawal(row)


async def page(
    db: Any,
    *,
    status: WithdrawalStatus | None,
    account_id: str | None,
    before_id: int | None,
    limit: int,
) -> list[Withdrawal]:
    """Withdrawals newest first, older than ``before_id``, of a status and / or an account."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM admin.withdrawals "
        "WHERE ($1::text IS NULL OR status = $1) AND ($2::bigint IS NULL OR account_id = $2) "
        "AND ($3::bigint IS NULL OR withdrawal_id < $3) ORDER BY withdrawal_id DESC LIMIT $4",
        None if status is None else status.value,
        None if account_id is None else int(account_id),
        before_id,
        limit,
    )
    return [_withdrawal(r) for r in rows]
