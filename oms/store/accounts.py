"""asyncpg access to ``oms.symbols`` and ``oms.accounts``: symbols, accounts, credentials,
account administration and margin-call state.

The ledger is in ``oms.store.ledger``, orders in ``oms.store.orders``, positions and deals in
``oms.store.positions``, the outbox in ``oms.store.outbox``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from fxmesh.db import Conn
from oms.domain.commands import AccountChanges, AccountSearch
from oms.domain.model import Account, AccountId, AssetClass, SymbolSpec
from oms.domain.rules import parse_sessions

_ACCOUNT_COLS = (
    "account_id, login, type, currency, leverage, margin_mode, status, client_group, balance, "
    "margin_call_level, stop_out_level, created_at, negative_balance_protection, "
    "max_open_positions, max_daily_volume, email, name, held"
)


def account_of(row: Any) -> Account:
    """An account from its row (the ``_ACCOUNT_COLS`` columns, or the whole row, by name)."""
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
        email=row["email"],
        name=row["name"],
        held=row["held"],
    )


# --- symbols -------------------------------------------------------------------------------------


async def load_symbols(conn: Conn) -> dict[str, SymbolSpec]:
    rows = await conn.fetch(
        "SELECT symbol, base_currency, quote_currency, digits, contract_size, volume_min, "
        "volume_max, volume_step, margin_percent, commission_per_lot, commission_currency, "
        "default_deviation_points, enabled, stops_level_points, trading_sessions, "
        "swap_long_points, swap_short_points, swap_triple_weekday, description, asset_class "
        "FROM oms.symbols ORDER BY symbol"
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
            description=r["description"],
            asset_class=AssetClass(r["asset_class"]),
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
    return account_of(row) if row is not None else None


async def accounts_by_id(
    conn: Conn, account_ids: Iterable[int], *, lock: bool = False
) -> list[Account]:
    """The accounts that exist among ``account_ids``, in account id order; ``lock`` takes their
    row locks (FOR UPDATE) in that order for the rest of the transaction, so two transactions
    locking overlapping sets wait for each other and never deadlock.

    One account (most of the order path's transactions) is read by ``account_id = $1``, whose
    plan PostgreSQL makes once per connection; ``= ANY($1)`` is re-planned on every call."""
    ids = list(account_ids)
    if len(ids) == 1:
        account = await get_account(conn, AccountId(ids[0]), lock=lock)
        return [account] if account is not None else []
    sql = (
        f"SELECT {_ACCOUNT_COLS} FROM oms.accounts WHERE account_id = ANY($1::bigint[]) "
        "ORDER BY account_id"
    )
    rows = await conn.fetch(sql + (" FOR UPDATE" if lock else ""), ids)
    return [account_of(r) for r in rows]


async def find_credentials(conn: Conn, login: str) -> tuple[AccountId, str, str, str] | None:
    """(account_id, login, password_hash, status) for a login."""
    row = await conn.fetchrow(
        "SELECT account_id, login, password_hash, status FROM oms.accounts WHERE login = $1", login
    )
    if row is None:
        return None
    return AccountId(row["account_id"]), row["login"], row["password_hash"], row["status"]


async def list_accounts(
    conn: Conn, limit: int, search: AccountSearch | None = None
) -> list[Account]:
    """Accounts by id, after ``search.after_id``, matching its filters; at most ``limit``.

    ``search.text`` matches a login, email or name containing it (case-insensitive), or an
    account id equal to it."""
    s = search or AccountSearch()
    pattern = f"%{_like_escaped(s.text.lower())}%" if s.text else None
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLS} FROM oms.accounts WHERE account_id > $1 "
        "AND ($2::text IS NULL OR lower(login) LIKE $2 OR lower(email) LIKE $2 "
        "OR lower(name) LIKE $2 OR account_id::text = $3) "
        "AND ($4::text IS NULL OR type = $4) AND ($5::text IS NULL OR status = $5) "
        "AND ($6::text IS NULL OR client_group = $6) "
        "ORDER BY account_id LIMIT $7",
        s.after_id,
        pattern,
        s.text,
        s.type,
        s.status,
        s.client_group,
        limit,
    )
    return [account_of(r) for r in rows]


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def balance(conn: Conn, account_id: AccountId) -> Decimal:
    value: Decimal = await conn.fetchval(
        "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
    )
    return value


# --- outbox --------------------------------------------------------------------------------------


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


# --- administration ------------------------------------------------------------------------------


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
    request_id: str | None = None,
    email: str | None = None,
    name: str | None = None,
) -> AccountId | None:
    """The new account's id, or None when the login (or the request id) is taken."""
    account_id: int | None = await conn.fetchval(
        "INSERT INTO oms.accounts (login, password_hash, type, currency, leverage, margin_mode, "
        "status, client_group, create_request_id, email, name) "
        "VALUES ($1, $2, $3, $4, $5, $6, 'ACTIVE', $7, $8, $9, $10) "
        "ON CONFLICT DO NOTHING RETURNING account_id",
        login,
        password_hash,
        account_type,
        currency,
        leverage,
        margin_mode,
        client_group,
        request_id,
        email,
        name,
    )
    return AccountId(account_id) if account_id is not None else None


async def account_created_by(conn: Conn, request_id: str) -> tuple[AccountId, str] | None:
    """(account id, login) of the account CreateAccount opened for ``request_id``, if any."""
    row = await conn.fetchrow(
        "SELECT account_id, login FROM oms.accounts WHERE create_request_id = $1", request_id
    )
    return (AccountId(row["account_id"]), row["login"]) if row is not None else None


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
