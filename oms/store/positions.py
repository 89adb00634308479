"""asyncpg access to ``oms.positions`` and ``oms.deals`` (each fill applied once per venue fill id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fxmesh.db import Conn
from oms.domain.model import (
    Account,
    AccountId,
    CloseReason,
    DealEntry,
    Order,
    OrderId,
    PositionId,
    Side,
)
from oms.domain.paging import Cursor
from oms.domain.records import DealRow, PositionRow
from oms.store import accounts as account_store
from oms.store import orders as order_store

_COLS = (
    "position_id, account_id, symbol, side, volume, open_price, stop_loss, take_profit, "
    "commission, swap, open_order_id, opened_at, trailing_distance_points, trailing_step_points, "
    "realized_pnl, closed_at, close_price, close_reason, book, venue, venue_order_id"
)
_DEAL_COLS = (
    "deal_id, order_id, position_id, account_id, symbol, side, entry, volume, price, commission, "
    "swap, realized_pnl, venue, book, fill_id, deal_time, reason, magic, comment"
)


def _position(row: Any) -> PositionRow:
    return PositionRow(
        position_id=PositionId(row["position_id"]),
        account_id=AccountId(row["account_id"]),
        symbol=row["symbol"],
        side=Side(row["side"]),
        volume=row["volume"],
        open_price=row["open_price"],
        stop_loss=row["stop_loss"],
        take_profit=row["take_profit"],
        commission=row["commission"],
        swap=row["swap"],
        open_order_id=OrderId(row["open_order_id"]),
        opened_at=row["opened_at"],
        trailing_distance_points=row["trailing_distance_points"],
        trailing_step_points=row["trailing_step_points"],
        realized_pnl=row["realized_pnl"],
        closed_at=row["closed_at"],
        close_price=row["close_price"],
        close_reason=CloseReason(row["close_reason"]) if row["close_reason"] else None,
        book=row["book"],
        venue=row["venue"],
        venue_order_id=row["venue_order_id"],
    )


def deal_from_row(row: Any) -> DealRow:
    return DealRow(
        deal_id=row["deal_id"],
        order_id=OrderId(row["order_id"]) if row["order_id"] is not None else None,
        position_id=PositionId(row["position_id"]),
        account_id=AccountId(row["account_id"]),
        symbol=row["symbol"],
        side=Side(row["side"]),
        entry=DealEntry(row["entry"]),
        volume=row["volume"],
        price=row["price"],
        commission=row["commission"],
        swap=row["swap"],
        realized_pnl=row["realized_pnl"],
        venue=row["venue"],
        book=row["book"],
        fill_id=row["fill_id"],
        deal_time=row["deal_time"],
        reason=CloseReason(row["reason"]),
        magic=row["magic"],
        comment=row["comment"],
    )


# --- positions -----------------------------------------------------------------------------------


async def open_positions(conn: Conn, account_id: AccountId) -> list[PositionRow]:
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM oms.positions WHERE account_id = $1 AND closed_at IS NULL "
        "ORDER BY position_id",
        account_id,
    )
    return [_position(r) for r in rows]


async def open_book(conn: Conn, account_id: AccountId) -> tuple[list[PositionRow], list[Order]]:
    """The account's open positions (``open_positions``) and in-flight orders
    (``oms.store.orders.in_flight``) in one round trip: the margin check of a new order and the
    figures after a fill need both, under the account's lock (migration oms/0017,
    ``oms.account_book``, the same read the lock functions below make)."""
    row = await conn.fetchrow("SELECT * FROM oms.account_book($1)", account_id)
    assert row is not None
    return _book(row["open_positions"], row["in_flight"], row["in_flight_events"])


def _book(positions: Any, orders: Any, events_seq: Any) -> tuple[list[PositionRow], list[Order]]:
    """A book as read in one statement: position rows, in-flight order rows and each order's
    count of transitions."""
    in_flight = [
        order_store.order_of({**dict(o), "events_seq": seq})
        for o, seq in zip(orders, events_seq, strict=True)
    ]
    return [_position(p) for p in positions], in_flight


async def lock_account_book(
    conn: Conn, account_id: AccountId
) -> tuple[Account, list[PositionRow], list[Order]] | None:
    """Take the account's row lock (FOR UPDATE, for the rest of the transaction), then read the
    account and its book as ``open_book`` does: one round trip instead of two (migration
    oms/0016: the read runs once the lock is granted, so it sees what the lock's previous holder
    committed). None: no such account."""
    row = await conn.fetchrow("SELECT * FROM oms.lock_account_book($1)", account_id)
    if row is None:
        return None
    positions, orders = _book(row["open_positions"], row["in_flight"], row["in_flight_events"])
    return account_store.account_of(row["locked_account"]), positions, orders


@dataclass(frozen=True, slots=True)
class LockedSettling:
    """What settling an execution reads first, with its account's lock
    (``lock_account_order``)."""

    account: Account
    positions: list[PositionRow]
    in_flight: list[Order]
    order: Order | None
    fill_applied: bool


async def lock_account_order(
    conn: Conn, account_id: AccountId, order_id: OrderId, venue: str, fill_id: str
) -> LockedSettling | None:
    """Take the account's row lock, then read the account, its book, the order and whether the
    fill (``venue``, ``fill_id``) is booked as a deal already (``oms.store.orders.
    get_with_applied`` for one fill): one round trip instead of three (migration oms/0017; the
    read runs once the lock is granted). None: no such account."""
    row = await conn.fetchrow(
        "SELECT * FROM oms.lock_account_order($1, $2, $3, $4)", account_id, order_id, venue, fill_id
    )
    if row is None:
        return None
    positions, in_flight = _book(row["open_positions"], row["in_flight"], row["in_flight_events"])
    settling = row["settling"]
    return LockedSettling(
        account=account_store.account_of(row["locked_account"]),
        positions=positions,
        in_flight=in_flight,
        order=(
            order_store.order_of({**dict(settling), "events_seq": row["settling_events"]})
            if settling is not None
            else None
        ),
        fill_applied=row["fill_applied"],
    )


async def all_open(conn: Conn) -> list[PositionRow]:
    """Every open position of every account (the trigger books at start)."""
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM oms.positions WHERE closed_at IS NULL ORDER BY position_id"
    )
    return [_position(r) for r in rows]


async def get(conn: Conn, account_id: AccountId, position_id: PositionId) -> PositionRow | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM oms.positions WHERE account_id = $1 AND position_id = $2",
        account_id,
        position_id,
    )
    return _position(row) if row is not None else None


async def account_of(conn: Conn, position_id: PositionId) -> AccountId | None:
    value = await conn.fetchval(
        "SELECT account_id FROM oms.positions WHERE position_id = $1", position_id
    )
    return AccountId(value) if value is not None else None


async def open_in_symbol(conn: Conn, account_id: AccountId, symbol: str) -> PositionRow | None:
    """A netting account's one open position in ``symbol``."""
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM oms.positions WHERE account_id = $1 AND symbol = $2 "
        "AND closed_at IS NULL ORDER BY position_id LIMIT 1",
        account_id,
        symbol,
    )
    return _position(row) if row is not None else None


async def insert(
    conn: Conn,
    account_id: AccountId,
    symbol: str,
    side: Side,
    volume: Decimal,
    price: Decimal,
    commission: Decimal,
    order_id: OrderId,
    opened_at: datetime,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    *,
    book: str | None = None,
    venue: str = "BBOOK",
    venue_order_id: str | None = None,
) -> PositionRow:
    """A new open position; ``book`` / ``venue`` / ``venue_order_id`` of its opening fill."""
    row = await conn.fetchrow(
        "INSERT INTO oms.positions (account_id, symbol, side, volume, open_price, commission, "
        "open_order_id, opened_at, stop_loss, take_profit, book, venue, venue_order_id) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {_COLS}",
        account_id,
        symbol,
        side.value,
        volume,
        price,
        commission,
        order_id,
        opened_at,
        stop_loss,
        take_profit,
        book or "B",
        venue,
        venue_order_id or None,
    )
    return _position(row)


async def update(conn: Conn, p: PositionRow) -> PositionRow:
    """Write every mutable field of ``p``; the row as stored."""
    row = await conn.fetchrow(
        "UPDATE oms.positions SET volume = $2, open_price = $3, stop_loss = $4, "
        "take_profit = $5, commission = $6, trailing_distance_points = $7, "
        "trailing_step_points = $8, realized_pnl = $9, closed_at = $10, close_price = $11, "
        f"close_reason = $12, updated_at = now() WHERE position_id = $1 RETURNING {_COLS}",
        p.position_id,
        p.volume,
        p.open_price,
        p.stop_loss,
        p.take_profit,
        p.commission,
        p.trailing_distance_points,
        p.trailing_step_points,
        p.realized_pnl,
        p.closed_at,
        p.close_price,
        p.close_reason.value if p.close_reason else None,
    )
    return _position(row)


async def touched_by_order(conn: Conn, order_id: OrderId) -> list[PositionRow]:
    """Positions an order's deals opened or changed (and the one it was sent to close)."""
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM oms.positions WHERE position_id IN ("
        "SELECT position_id FROM oms.deals WHERE order_id = $1 "
        "UNION SELECT position_id FROM oms.orders WHERE order_id = $1 "
        "AND position_id IS NOT NULL) ORDER BY position_id",
        order_id,
    )
    return [_position(r) for r in rows]


# --- deals ---------------------------------------------------------------------------------------


async def insert_deal(
    conn: Conn,
    *,
    order_id: OrderId | None,
    position_id: PositionId,
    account_id: AccountId,
    symbol: str,
    side: Side,
    entry: DealEntry,
    volume: Decimal,
    price: Decimal,
    commission: Decimal,
    realized_pnl: Decimal,
    venue: str,
    book: str | None,
    fill_id: str,
    deal_time: datetime,
    reason: CloseReason,
    magic: int = 0,
    comment: str = "",
) -> DealRow | None:
    """The new deal, or None when this (venue, fill_id) was applied before."""
    row = await conn.fetchrow(
        "INSERT INTO oms.deals (order_id, position_id, account_id, symbol, side, entry, volume, "
        "price, commission, realized_pnl, venue, book, fill_id, deal_time, reason, magic, comment) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) "
        f"ON CONFLICT (venue, fill_id) DO NOTHING RETURNING {_DEAL_COLS}",
        order_id,
        position_id,
        account_id,
        symbol,
        side.value,
        entry.value,
        volume,
        price,
        commission,
        realized_pnl,
        venue,
        book,
        fill_id,
        deal_time,
        reason.value,
        magic,
        comment,
    )
    return deal_from_row(row) if row is not None else None


async def deals_of_order(conn: Conn, order_id: OrderId) -> list[DealRow]:
    rows = await conn.fetch(
        f"SELECT {_DEAL_COLS} FROM oms.deals WHERE order_id = $1 ORDER BY deal_id", order_id
    )
    return [deal_from_row(r) for r in rows]


async def deals_by_ids(conn: Conn, deal_ids: list[int]) -> list[DealRow]:
    rows = await conn.fetch(
        f"SELECT {_DEAL_COLS} FROM oms.deals WHERE deal_id = ANY($1::bigint[]) ORDER BY deal_id",
        deal_ids,
    )
    return [deal_from_row(r) for r in rows]


async def fill_applied(conn: Conn, venue: str, fill_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM oms.deals WHERE venue = $1 AND fill_id = $2)",
            venue,
            fill_id,
        )
    )


# --- listings ------------------------------------------------------------------------------------


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
    return [deal_from_row(r) for r in rows]


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
    return [deal_from_row(r) for r in rows]


async def activity_since(conn: Conn, since: datetime) -> tuple[int, Decimal, int, int]:
    """Deals since ``since``: their count, lots traded and distinct accounts; open positions now."""
    row = await conn.fetchrow(
        "SELECT count(*) AS deals, coalesce(sum(volume), 0) AS lots, "
        "count(DISTINCT account_id) AS accounts, "
        "(SELECT count(*) FROM oms.positions WHERE closed_at IS NULL) AS open_positions "
        "FROM oms.deals WHERE deal_time >= $1",
        since,
    )
    assert row is not None
    return int(row["deals"]), Decimal(row["lots"]), int(row["accounts"]), int(row["open_positions"])


async def results_since(conn: Conn, since: datetime) -> list[tuple[int, Decimal, int, Decimal]]:
    """Per account with deals since ``since``: (account id, net result = realized P&L +
    commission + swap in the account currency, deals, lots)."""
    rows = await conn.fetch(
        "SELECT account_id, sum(realized_pnl + commission + swap) AS net, count(*) AS deals, "
        "sum(volume) AS lots FROM oms.deals WHERE deal_time >= $1 GROUP BY account_id",
        since,
    )
    return [(r["account_id"], Decimal(r["net"]), int(r["deals"]), Decimal(r["lots"])) for r in rows]


async def books_since(conn: Conn, since: datetime) -> list[tuple[str, int, Decimal, Decimal]]:
    """Per book (A, B, C) since ``since``: (book, deals, lots, clients' realized P&L + commission
    + swap, every account currency summed as booked)."""
    rows = await conn.fetch(
        "SELECT coalesce(book, 'B') AS book, count(*) AS deals, sum(volume) AS lots, "
        "sum(realized_pnl + commission + swap) AS net FROM oms.deals WHERE deal_time >= $1 "
        "GROUP BY 1 ORDER BY 1",
        since,
    )
    return [(r["book"], int(r["deals"]), Decimal(r["lots"]), Decimal(r["net"])) for r in rows]


async def book_split(
    conn: Conn, start: datetime, end: datetime
) -> list[tuple[str, str, str, int, Decimal, Decimal, Decimal, Decimal]]:
    """Deals in [start, end) per (order book, venue, deal book): (order book, venue, deal book,
    deals, lots, realized P&L, commission, swap). A deal without an order (bookkeeping) counts
    under its own book."""
    rows = await conn.fetch(
        "SELECT coalesce(o.book, d.book, 'B') AS order_book, d.venue, "
        "coalesce(d.book, 'B') AS deal_book, count(*) AS deals, sum(d.volume) AS lots, "
        "sum(d.realized_pnl) AS pnl, sum(d.commission) AS commission, sum(d.swap) AS swap "
        "FROM oms.deals d LEFT JOIN oms.orders o ON o.order_id = d.order_id "
        "WHERE d.deal_time >= $1 AND d.deal_time < $2 GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        start,
        end,
    )
    return [
        (
            r["order_book"],
            r["venue"],
            r["deal_book"],
            int(r["deals"]),
            Decimal(r["lots"]),
            Decimal(r["pnl"]),
            Decimal(r["commission"]),
            Decimal(r["swap"]),
        )
        for r in rows
    ]
