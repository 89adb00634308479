"""asyncpg access to the ``oms`` schema; every SQL statement of the service lives here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from oms.domain import (
    AccountId,
    OpenPosition,
    Order,
    OrderId,
    OrderStatus,
    OrderType,
    PositionId,
    Side,
    SymbolSpec,
    TimeInForce,
)

Conn = asyncpg.Connection


@dataclass(frozen=True, slots=True)
class Account:
    account_id: AccountId
    login: str
    type: str
    currency: str
    leverage: int
    margin_mode: str
    status: str
    client_group: str
    balance: Decimal
    margin_call_level: Decimal
    stop_out_level: Decimal
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PositionRow:
    position_id: PositionId
    account_id: AccountId
    symbol: str
    side: Side
    volume: Decimal
    open_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    commission: Decimal
    swap: Decimal
    open_order_id: OrderId
    opened_at: datetime

    def as_open(self) -> OpenPosition:
        return OpenPosition(self.position_id, self.symbol, self.side, self.volume, self.open_price)


@dataclass(frozen=True, slots=True)
class FillRow:
    """A fill as applied (read back from its deal)."""

    fill_id: str
    price: Decimal
    volume: Decimal
    book: str | None
    venue: str
    fill_time: datetime


_ACCOUNT_COLS = (
    "account_id, login, type, currency, leverage, margin_mode, status, client_group, balance, "
    "margin_call_level, stop_out_level, created_at"
)
_ORDER_COLS = (
    "order_id, account_id, client_order_id, symbol, side, type, time_in_force, volume, "
    "filled_volume, price, requested_price, deviation_points, avg_fill_price, status, "
    "reject_reason, reject_message, book, routing_reason, created_at, updated_at, "
    "(SELECT count(*) FROM oms.order_events e WHERE e.order_id = o.order_id) AS events_seq"
)
_POSITION_COLS = (
    "position_id, account_id, symbol, side, volume, open_price, stop_loss, take_profit, "
    "commission, swap, open_order_id, opened_at"
)


def _account(row: Any) -> Account:
    return Account(
        AccountId(row["account_id"]),
        row["login"],
        row["type"],
        row["currency"].strip(),
        row["leverage"],
        row["margin_mode"],
        row["status"],
        row["client_group"],
        row["balance"],
        row["margin_call_level"],
        row["stop_out_level"],
        row["created_at"],
    )


def _order(row: Any) -> Order:
    return Order(
        account_id=AccountId(row["account_id"]),
        client_order_id=row["client_order_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        type=OrderType(row["type"]),
        time_in_force=TimeInForce(row["time_in_force"]),
        volume=row["volume"],
        requested_price=row["requested_price"],
        price=row["price"],
        deviation_points=row["deviation_points"],
        order_id=OrderId(row["order_id"]),
        status=OrderStatus(row["status"]),
        filled_volume=row["filled_volume"],
        avg_fill_price=row["avg_fill_price"],
        reject_reason=row["reject_reason"],
        reject_message=row["reject_message"],
        book=row["book"],
        routing_reason=row["routing_reason"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        events_seq=row["events_seq"],
    )


def _position(row: Any) -> PositionRow:
    return PositionRow(
        PositionId(row["position_id"]),
        AccountId(row["account_id"]),
        row["symbol"],
        Side(row["side"]),
        row["volume"],
        row["open_price"],
        row["stop_loss"],
        row["take_profit"],
        row["commission"],
        row["swap"],
        OrderId(row["open_order_id"]),
        row["opened_at"],
    )


# --- symbols -------------------------------------------------------------------------------------


async def load_symbols(conn: Conn) -> dict[str, SymbolSpec]:
    rows = await conn.fetch(
        "SELECT symbol, base_currency, quote_currency, digits, contract_size, volume_min, "
        "volume_max, volume_step, margin_percent, commission_per_lot, commission_currency, "
        "default_deviation_points, enabled FROM oms.symbols"
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
        )
        for r in rows
    }


# --- accounts ------------------------------------------------------------------------------------


async def get_account(conn: Conn, account_id: AccountId, *, lock: bool = False) -> Account | None:
    """The account; ``lock`` takes its row lock (FOR UPDATE) for the rest of the transaction."""
    sql = f"SELECT {_ACCOUNT_COLS} FROM oms.accounts WHERE account_id = $1"
    row = await conn.fetchrow(sql + (" FOR UPDATE" if lock else ""), account_id)
    return _account(row) if row is not None else None


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
) -> tuple[Decimal, Decimal]:
    """Book ``amount`` on the balance and the ledger; (balance_before, balance_after).

    The caller holds the account's row lock (``get_account(..., lock=True)``) in this transaction.
    """
    after: Decimal = await conn.fetchval(
        "UPDATE oms.accounts SET balance = balance + $2, updated_at = now() "
        "WHERE account_id = $1 RETURNING balance",
        account_id,
        amount,
    )
    before = after - amount
    await conn.execute(
        "INSERT INTO oms.ledger (account_id, type, amount, balance_before, balance_after, "
        "currency, deal_id, reference, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        account_id,
        entry_type,
        amount,
        before,
        after,
        currency,
        deal_id,
        reference,
        note,
    )
    return before, after


# --- orders --------------------------------------------------------------------------------------


async def find_order_by_client_id(
    conn: Conn, account_id: AccountId, client_order_id: str
) -> Order | None:
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLS} FROM oms.orders o WHERE account_id = $1 AND client_order_id = $2",
        account_id,
        client_order_id,
    )
    return _order(row) if row is not None else None


async def get_order(conn: Conn, account_id: AccountId, order_id: OrderId) -> Order | None:
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLS} FROM oms.orders o WHERE account_id = $1 AND order_id = $2",
        account_id,
        order_id,
    )
    return _order(row) if row is not None else None


async def in_flight_orders(conn: Conn, account_id: AccountId) -> list[Order]:
    """Accepted orders whose execution has not finished (they reserve margin)."""
    rows = await conn.fetch(
        f"SELECT {_ORDER_COLS} FROM oms.orders o WHERE account_id = $1 "
        "AND status IN ('ACCEPTED', 'FILLING', 'PARTIALLY_FILLED')",
        account_id,
    )
    return [_order(r) for r in rows]


async def insert_order(conn: Conn, order: Order) -> bool:
    """Insert a new order with its transitions; False when (account, client_order_id) exists."""
    row = await conn.fetchrow(
        "INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, time_in_force, "
        "volume, filled_volume, price, requested_price, deviation_points, avg_fill_price, status, "
        "reject_reason, reject_message, book, routing_reason) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
        "ON CONFLICT (account_id, client_order_id) DO NOTHING "
        "RETURNING order_id, created_at, updated_at",
        order.account_id,
        order.client_order_id,
        order.symbol,
        order.side.value,
        order.type.value,
        order.time_in_force.value,
        order.volume,
        order.filled_volume,
        order.price,
        order.requested_price,
        order.deviation_points,
        order.avg_fill_price,
        order.status.value,
        order.reject_reason,
        order.reject_message,
        order.book,
        order.routing_reason,
    )
    if row is None:
        return False
    order.order_id = OrderId(row["order_id"])
    order.created_at, order.updated_at = row["created_at"], row["updated_at"]
    await _write_transitions(conn, order)
    return True


async def save_order(conn: Conn, order: Order) -> None:
    """Persist the order's mutable fields and its unsaved transitions."""
    order.updated_at = await conn.fetchval(
        "UPDATE oms.orders SET status = $2, filled_volume = $3, avg_fill_price = $4, "
        "reject_reason = $5, reject_message = $6, book = $7, routing_reason = $8, "
        "updated_at = now() WHERE order_id = $1 RETURNING updated_at",
        order.order_id,
        order.status.value,
        order.filled_volume,
        order.avg_fill_price,
        order.reject_reason,
        order.reject_message,
        order.book,
        order.routing_reason,
    )
    await _write_transitions(conn, order)


async def _write_transitions(conn: Conn, order: Order) -> None:
    if not order.unsaved:
        return
    rows = [
        (order.order_id, order.events_seq + i + 1, t.from_status, t.to_status.value, t.reason)
        for i, t in enumerate(order.unsaved)
    ]
    await conn.executemany(
        "INSERT INTO oms.order_events (order_id, seq, from_status, to_status, reason) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(o, s, f.value if f else None, to, r) for o, s, f, to, r in rows],
    )
    order.events_seq += len(order.unsaved)
    order.unsaved.clear()


# --- positions and deals -------------------------------------------------------------------------


async def open_positions(conn: Conn, account_id: AccountId) -> list[PositionRow]:
    rows = await conn.fetch(
        f"SELECT {_POSITION_COLS} FROM oms.positions "
        "WHERE account_id = $1 AND closed_at IS NULL ORDER BY position_id",
        account_id,
    )
    return [_position(r) for r in rows]


async def positions_of_order(conn: Conn, order_id: OrderId) -> list[PositionRow]:
    rows = await conn.fetch(
        f"SELECT {_POSITION_COLS} FROM oms.positions WHERE open_order_id = $1 ORDER BY position_id",
        order_id,
    )
    return [_position(r) for r in rows]


async def fills_of_order(conn: Conn, order_id: OrderId) -> list[FillRow]:
    rows = await conn.fetch(
        "SELECT fill_id, price, volume, book, venue, deal_time FROM oms.deals "
        "WHERE order_id = $1 ORDER BY deal_id",
        order_id,
    )
    return [
        FillRow(r["fill_id"], r["price"], r["volume"], r["book"], r["venue"], r["deal_time"])
        for r in rows
    ]


async def insert_position(
    conn: Conn,
    order: Order,
    volume: Decimal,
    price: Decimal,
    commission: Decimal,
    opened_at: datetime,
) -> PositionRow:
    row = await conn.fetchrow(
        "INSERT INTO oms.positions (account_id, symbol, side, volume, open_price, commission, "
        f"open_order_id, opened_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_POSITION_COLS}",
        order.account_id,
        order.symbol,
        order.side.value,
        volume,
        price,
        commission,
        order.order_id,
        opened_at,
    )
    return _position(row)


async def insert_deal(
    conn: Conn,
    order: Order,
    position_id: PositionId,
    entry: str,
    volume: Decimal,
    price: Decimal,
    commission: Decimal,
    venue: str,
    book: str | None,
    fill_id: str,
    deal_time: datetime,
) -> int | None:
    """The new deal id, or None when this (venue, fill_id) was applied before."""
    deal_id: int | None = await conn.fetchval(
        "INSERT INTO oms.deals (order_id, position_id, account_id, symbol, side, entry, volume, "
        "price, commission, venue, book, fill_id, deal_time) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) "
        "ON CONFLICT (venue, fill_id) DO NOTHING RETURNING deal_id",
        order.order_id,
        position_id,
        order.account_id,
        order.symbol,
        order.side.value,
        entry,
        volume,
        price,
        commission,
        venue,
        book,
        fill_id,
        deal_time,
    )
    return deal_id


async def fill_applied(conn: Conn, venue: str, fill_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM oms.deals WHERE venue = $1 AND fill_id = $2)",
            venue,
            fill_id,
        )
    )


# --- outbox --------------------------------------------------------------------------------------


async def insert_outbox(
    conn: Conn, envelope: dict[str, Any], routing_key: str, headers: dict[str, str]
) -> None:
    await conn.execute(
        "INSERT INTO oms.outbox (routing_key, event_type, account_id, payload, headers) "
        "VALUES ($1, $2, $3, $4, $5)",
        routing_key,
        envelope["type"],
        int(envelope["accountId"]),
        envelope,
        headers,
    )
