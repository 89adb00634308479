"""asyncpg access to the ``oms`` schema: symbols, accounts, the ledger and the outbox.

Orders live in ``oms.order_store``, positions and deals in ``oms.position_store``; every SQL
statement of the trading core is in one of the three.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import asyncpg

from oms import ledger_store, order_store, position_store
from oms.domain import Account, AccountId, SymbolSpec
from oms.position_store import FillRow, PositionRow
from oms.rules import parse_sessions

__all__ = [
    "Account",
    "Conn",
    "FillRow",
    "PositionRow",
    "find_credentials",
    "get_account",
    "in_flight_orders",
    "insert_outbox",
    "list_accounts",
    "load_symbols",
    "open_positions",
    "post_ledger",
]

Conn = asyncpg.Connection

# Older names, kept for the modules that read positions and orders through this module.
open_positions = position_store.open_positions
in_flight_orders = order_store.in_flight

_ACCOUNT_COLS = (
    "account_id, login, type, currency, leverage, margin_mode, status, client_group, balance, "
    "margin_call_level, stop_out_level, created_at, negative_balance_protection, "
    "max_open_positions, max_daily_volume"
)


def _account(row: Any) -> Account:
    return Account(
        account_id=AccountId(row["account_id"]),
        login=row["login"],
        type=row["type"],
        currency=row["currency"].strip(),
        leverage=row["leverage"],
        margin_mode=row["margin_mode"],
        status=row["status"],
        client_group=row["client_group"],
        balance=row["balance"],
        margin_call_level=row["margin_call_level"],
        stop_out_level=row["stop_out_level"],
        created_at=row["created_at"],
        negative_balance_protection=row["negative_balance_protection"],
        max_open_positions=row["max_open_positions"],
        max_daily_volume=row["max_daily_volume"],
    )


# --- symbols -------------------------------------------------------------------------------------


async def load_symbols(conn: Conn) -> dict[str, SymbolSpec]:
    rows = await conn.fetch(
        "SELECT symbol, base_currency, quote_currency, digits, contract_size, volume_min, "
        "volume_max, volume_step, margin_percent, commission_per_lot, commission_currency, "
        "default_deviation_points, enabled, stops_level_points, trading_sessions, "
        "swap_long_points, swap_short_points, swap_triple_weekday FROM oms.symbols"
    )
    return {
        r["symbol"]: SymbolSpec(
            symbol=r["symbol"],
            base_currency=r["base_currency"].strip(),
            quote_currency=r["quote_currency"].strip(),
            digits=r["digits"],
            contract_size=r["contract_size"],
            volume_min=r["volume_min"],
            volume_max=r["volume_max"],
            volume_step=r["volume_step"],
            margin_percent=r["margin_percent"],
            commission_per_lot=r["commission_per_lot"],
            commission_currency=r["commission_currency"].strip(),
            default_deviation_points=r["default_deviation_points"],
            enabled=r["enabled"],
            stops_level_points=r["stops_level_points"],
            sessions=parse_sessions(_json(r["trading_sessions"])),
            swap_long_points=r["swap_long_points"],
            swap_short_points=r["swap_short_points"],
            swap_triple_weekday=r["swap_triple_weekday"],
        )
        for r in rows
    }


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# --- accounts ------------------------------------------------------------------------------------


async def get_account(conn: Conn, account_id: AccountId, *, lock: bool = False) -> Account | None:
    """The account; ``lock`` takes its row lock (FOR UPDATE) for the rest of the transaction."""
    sql = f"SELECT {_ACCOUNT_COLS} FROM oms.accounts WHERE account_id = $1"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), account_id)
    return _account(row) if row is not None else None


async def accounts_by_id(conn: Conn, account_ids: Sequence[int]) -> list[Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLS} FROM oms.accounts WHERE account_id = ANY($1::bigint[]) "
        "ORDER BY account_id",
        list(account_ids),
    )
    return [_account(r) for r in rows]


async def find_credentials(conn: Conn, login: str) -> tuple[AccountId, str, str, str] | None:
    """(account_id, login, password_hash, status) for a login."""
    row = await conn.fetchrow(
        "SELECT account_id, login, password_hash, status FROM oms.accounts WHERE login = $1", login
    )
    if row is None:
        return None
    return AccountId(row["account_id"]), row["login"], row["password_hash"], row["status"]


async def list_accounts(conn: Conn, limit: int) -> list[Account]:
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLS} FROM oms.accounts ORDER BY account_id LIMIT $1", limit
    )
    return [_account(r) for r in rows]


async def balance(conn: Conn, account_id: AccountId) -> Decimal:
    value: Decimal = await conn.fetchval(
        "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
    )
    return value


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
    row = await ledger_store.append_ledger(
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


# --- outbox --------------------------------------------------------------------------------------


async def insert_outbox(
    conn: Conn, rows: Sequence[tuple[str, str, int, dict[str, Any], dict[str, str]]]
) -> None:
    """Insert (routing_key, event_type, account_id, envelope, headers) rows in one statement;
    outbox ids follow the order of ``rows``."""
    await conn.execute(
        "INSERT INTO oms.outbox (routing_key, event_type, account_id, payload, headers) "
        "SELECT routing_key, event_type, account_id, payload::jsonb, headers::jsonb "
        "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) "
        "WITH ORDINALITY AS e(routing_key, event_type, account_id, payload, headers, n) "
        "ORDER BY n",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [json.dumps(r[3], separators=(",", ":")) for r in rows],
        [json.dumps(r[4], separators=(",", ":")) for r in rows],
    )


async def set_margin_call(conn: Conn, account_id: AccountId, in_call: bool) -> bool:
    """Enter (or leave) margin call; True when the state changed (the caller emits the event)."""
    sql = (
        "UPDATE oms.accounts SET margin_call_at = now() "
        "WHERE account_id = $1 AND margin_call_at IS NULL"
        if in_call
        else "UPDATE oms.accounts SET margin_call_at = NULL "
        "WHERE account_id = $1 AND margin_call_at IS NOT NULL"
    )
    return bool(await conn.execute(sql, account_id) == "UPDATE 1")
