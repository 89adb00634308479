"""asyncpg access to ``oms.funds_holds`` and the ``oms.accounts.held`` sum they keep.

Every function that changes a hold expects the caller to hold the account's row lock
(``UnitOfWork.locked``) in the same transaction, and changes the hold row and ``accounts.held`` in
one statement, so ``held`` is the sum of the ACTIVE holds at every commit.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fxmesh.db import Conn
from oms.domain.holds import HoldRow, HoldStatus
from oms.domain.model import AccountId

_HOLD_COLS = (
    "hold_id, account_id, amount, currency, request_id, method, reference, note, status, "
    "ledger_id, created_at, updated_at"
)


def _hold(row: Any) -> HoldRow:
    return HoldRow(
        hold_id=row["hold_id"],
        account_id=AccountId(row["account_id"]),
        amount=row["amount"],
        currency=row["currency"].strip(),
        request_id=row["request_id"],
        method=row["method"],
        reference=row["reference"],
        note=row["note"],
        status=HoldStatus(row["status"]),
        ledger_id=row["ledger_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def get_hold(conn: Conn, account_id: AccountId, hold_id: int) -> HoldRow | None:
    row = await conn.fetchrow(
        f"SELECT {_HOLD_COLS} FROM oms.funds_holds WHERE account_id = $1 AND hold_id = $2",
        account_id,
        hold_id,
    )
    return _hold(row) if row is not None else None


async def hold_by_request(conn: Conn, account_id: AccountId, request_id: str) -> HoldRow | None:
    row = await conn.fetchrow(
        f"SELECT {_HOLD_COLS} FROM oms.funds_holds WHERE account_id = $1 AND request_id = $2",
        account_id,
        request_id,
    )
    return _hold(row) if row is not None else None


async def insert_hold(
    conn: Conn,
    account_id: AccountId,
    amount: Decimal,
    currency: str,
    *,
    request_id: str,
    method: str | None,
    reference: str | None,
    note: str | None,
) -> HoldRow:
    """A new ACTIVE hold, its amount added to ``accounts.held`` (under row lock)."""
    row = await conn.fetchrow(
        "WITH a AS (UPDATE oms.accounts SET held = held + $2, updated_at = now() "
        "WHERE account_id = $1 RETURNING account_id) "
        "INSERT INTO oms.funds_holds (account_id, amount, currency, request_id, method, "
        "reference, note) SELECT a.account_id, $2, $3, $4, $5, $6, $7 FROM a "
        f"RETURNING {_HOLD_COLS}",
        account_id,
        amount,
        currency,
        request_id,
        method,
        reference,
        note,
    )
    return _hold(row)


async def end_hold(
    conn: Conn, hold: HoldRow, status: HoldStatus, ledger_id: int | None = None
) -> HoldRow:
    """Mark an ACTIVE hold CAPTURED (with its ledger row) or RELEASED, and take its amount off
    ``accounts.held`` (under row lock)."""
    row = await conn.fetchrow(
        "WITH a AS (UPDATE oms.accounts SET held = held - $3, updated_at = now() "
        "WHERE account_id = $1) "
        "UPDATE oms.funds_holds SET status = $4, ledger_id = $5, updated_at = now() "
        "WHERE account_id = $1 AND hold_id = $2 AND status = 'ACTIVE' "
        f"RETURNING {_HOLD_COLS}",
        hold.account_id,
        hold.hold_id,
        hold.amount,
        status.value,
        ledger_id,
    )
    assert row is not None, "the hold was ACTIVE under the account's row lock"
    return _hold(row)
