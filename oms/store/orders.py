"""asyncpg access to ``oms.orders`` and ``oms.order_events`` (every transition, in order)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from fxmesh.db import Conn
from oms.domain.model import (
    AccountId,
    Order,
    OrderId,
    OrderOrigin,
    OrderStatus,
    OrderType,
    PositionId,
    Side,
    TimeInForce,
)

IN_FLIGHT = ("ACCEPTED", "FILLING", "PARTIALLY_FILLED")
OPEN = (*IN_FLIGHT, "WORKING")
# IN_FLIGHT as a condition with literals, not a parameter: PostgreSQL matches a partial index's
# predicate (orders_in_flight_idx) only against constants, and asyncpg's statements are prepared,
# so a cached generic plan with `status = ANY($n)` walks the account's whole order history (or,
# without an account, every order) instead of the few orders in flight.
IN_FLIGHT_SQL = "status IN (" + ", ".join(f"'{status}'" for status in IN_FLIGHT) + ")"

_COLS = (
    "order_id, account_id, client_order_id, symbol, side, type, time_in_force, volume, "
    "filled_volume, price, requested_price, deviation_points, avg_fill_price, status, "
    "reject_reason, reject_message, book, routing_reason, stop_loss, take_profit, "
    "stop_limit_price, expire_at, position_id, origin, stop_limit_active, magic, comment, "
    "created_at, updated_at, (SELECT count(*) FROM oms.order_events e WHERE e.order_id = o.order_id) "
    "AS events_seq"
)


def order_of(row: Any) -> Order:
    """An order from its row (the ``_COLS`` columns, by name)."""
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
        stop_loss=row["stop_loss"],
        take_profit=row["take_profit"],
        stop_limit_price=row["stop_limit_price"],
        expire_at=row["expire_at"],
        position_id=PositionId(row["position_id"]) if row["position_id"] is not None else None,
        origin=OrderOrigin(row["origin"]),
        stop_limit_active=row["stop_limit_active"],
        magic=row["magic"],
        comment=row["comment"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        events_seq=row["events_seq"],
    )


async def find_by_client_id(
    conn: Conn, account_id: AccountId, client_order_id: str
) -> Order | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM oms.orders o WHERE account_id = $1 AND client_order_id = $2",
        account_id,
        client_order_id,
    )
    return order_of(row) if row is not None else None


async def get(conn: Conn, account_id: AccountId, order_id: OrderId) -> Order | None:
    row = await conn.fetchrow(
        f"SELECT {_COLS} FROM oms.orders o WHERE account_id = $1 AND order_id = $2",
        account_id,
        order_id,
    )
    return order_of(row) if row is not None else None


async def get_with_applied(
    conn: Conn, account_id: AccountId, order_id: OrderId, fills: Sequence[tuple[str, str]]
) -> tuple[Order | None, set[tuple[str, str]]]:
    """The order, and which of ``fills`` ((venue, fill id) pairs) are booked as deals already:
    ``get`` and ``positions.fill_applied`` for each fill, in one round trip.

    A B-book answer has one fill: it is looked up by its own parameters, which PostgreSQL plans
    once per connection. The join on arrays of unknown length is re-planned on every call (its
    generic plan is estimated dearer), ~0.2 ms of PostgreSQL's CPU per order
    (docs/performance.md, "Plans made once")."""
    if len(fills) == 1:
        ((venue, fill_id),) = fills
        row = await conn.fetchrow(
            f"SELECT {_COLS}, EXISTS (SELECT 1 FROM oms.deals d "
            "WHERE d.venue = $3 AND d.fill_id = $4) AS applied "
            "FROM oms.orders o WHERE o.account_id = $1 AND o.order_id = $2",
            account_id,
            order_id,
            venue,
            fill_id,
        )
        if row is None:
            return None, set()
        return order_of(row), {(venue, fill_id)} if row["applied"] else set()
    row = await conn.fetchrow(
        f"SELECT {_COLS}, a.venues AS applied_venues, a.fill_ids AS applied_fill_ids "
        "FROM oms.orders o, LATERAL (SELECT array_agg(d.venue) AS venues, "
        "array_agg(d.fill_id) AS fill_ids FROM oms.deals d "
        "JOIN unnest($3::text[], $4::text[]) AS f(venue, fill_id) "
        "ON d.venue = f.venue AND d.fill_id = f.fill_id) a "
        "WHERE o.account_id = $1 AND o.order_id = $2",
        account_id,
        order_id,
        [venue for venue, _ in fills],
        [fill_id for _, fill_id in fills],
    )
    if row is None:
        return None, set()
    venues, fill_ids = row["applied_venues"] or [], row["applied_fill_ids"] or []
    return order_of(row), set(zip(venues, fill_ids, strict=True))


async def account_of(conn: Conn, order_id: OrderId) -> AccountId | None:
    value = await conn.fetchval("SELECT account_id FROM oms.orders WHERE order_id = $1", order_id)
    return AccountId(value) if value is not None else None


async def with_client_prefix(conn: Conn, account_id: AccountId, prefix: str) -> list[Order]:
    """The account's orders whose client order id starts with ``prefix`` (close-all retries)."""
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM oms.orders o WHERE account_id = $1 "
        "AND starts_with(client_order_id, $2) ORDER BY order_id",
        account_id,
        prefix,
    )
    return [order_of(r) for r in rows]


async def in_flight(conn: Conn, account_id: AccountId) -> list[Order]:
    """Accepted orders whose execution has not finished (opening ones hold margin)."""
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM oms.orders o WHERE account_id = $1 AND {IN_FLIGHT_SQL}",
        account_id,
    )
    return [order_of(r) for r in rows]


async def insert(conn: Conn, order: Order) -> bool:
    """Insert a new order with its transitions; False when (account, client_order_id) exists."""
    row = await conn.fetchrow(
        "WITH o AS (INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, "
        "time_in_force, "
        "volume, filled_volume, price, requested_price, deviation_points, avg_fill_price, status, "
        "reject_reason, reject_message, book, routing_reason, stop_loss, take_profit, "
        "stop_limit_price, expire_at, position_id, origin, stop_limit_active, magic, comment) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
        "$18, $19, $20, $21, $22, $23, $24, $25, $26) "
        "ON CONFLICT (account_id, client_order_id) DO NOTHING "
        "RETURNING order_id, created_at, updated_at), "
        f"{_events_from_o(27)} SELECT order_id, created_at, updated_at FROM o",
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
        order.stop_loss,
        order.take_profit,
        order.stop_limit_price,
        order.expire_at,
        order.position_id,
        order.origin.value,
        order.stop_limit_active,
        order.magic,
        order.comment,
        *_transition_columns(order),
    )
    if row is None:
        return False
    order.order_id = OrderId(row["order_id"])
    order.created_at, order.updated_at = row["created_at"], row["updated_at"]
    _transitions_saved(order)
    return True


async def save(conn: Conn, order: Order) -> None:
    """Persist the order's mutable fields and its unsaved transitions."""
    order.updated_at = await conn.fetchval(
        "WITH o AS (UPDATE oms.orders SET status = $2, filled_volume = $3, avg_fill_price = $4, "
        "reject_reason = $5, reject_message = $6, book = $7, routing_reason = $8, price = $9, "
        "stop_limit_price = $10, stop_loss = $11, take_profit = $12, expire_at = $13, "
        "stop_limit_active = $14, updated_at = now() WHERE order_id = $1 "
        f"RETURNING order_id, updated_at), {_events_from_o(15)} SELECT updated_at FROM o",
        order.order_id,
        order.status.value,
        order.filled_volume,
        order.avg_fill_price,
        order.reject_reason,
        order.reject_message,
        order.book,
        order.routing_reason,
        order.price,
        order.stop_limit_price,
        order.stop_loss,
        order.take_profit,
        order.expire_at,
        order.stop_limit_active,
        *_transition_columns(order),
    )
    _transitions_saved(order)


# An order's unsaved transitions are inserted by the same statement as its row (the data-modifying
# CTE ``o`` returns the order_id): one round trip per order write instead of two.
def _events_from_o(first: int) -> str:
    """CTE ``e``: the transitions passed as four arrays from parameter ``$first`` on."""
    a, b, c, d = (f"${first + i}" for i in range(4))
    return (
        "e AS (INSERT INTO oms.order_events (order_id, seq, from_status, to_status, reason) "
        "SELECT o.order_id, t.seq, t.from_status, t.to_status, t.reason FROM o, "
        f"unnest({a}::int[], {b}::text[], {c}::text[], {d}::text[]) "
        "AS t(seq, from_status, to_status, reason))"
    )


def _transition_columns(
    order: Order,
) -> tuple[list[int], list[str | None], list[str], list[str | None]]:
    pending = order.unsaved
    return (
        [order.events_seq + i + 1 for i in range(len(pending))],
        [t.from_status.value if t.from_status else None for t in pending],
        [t.to_status.value for t in pending],
        [t.reason for t in pending],
    )


def _transitions_saved(order: Order) -> None:
    order.events_seq += len(order.unsaved)
    order.unsaved.clear()


async def transitions(conn: Conn, order_id: OrderId) -> list[tuple[str | None, str, str | None]]:
    rows = await conn.fetch(
        "SELECT from_status, to_status, reason FROM oms.order_events WHERE order_id = $1 "
        "ORDER BY seq",
        order_id,
    )
    return [(r["from_status"], r["to_status"], r["reason"]) for r in rows]


# --- what the watcher, recovery and limits read --------------------------------------------------


async def working(conn: Conn) -> list[Order]:
    """Every WORKING order of every account (the trigger books at start)."""
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM oms.orders o WHERE status = 'WORKING' ORDER BY order_id"
    )
    return [order_of(r) for r in rows]


async def stuck(conn: Conn, older_than: timedelta | None) -> list[Order]:
    """Orders in flight (accepted, not terminal) not changed for ``older_than`` (None: all)."""
    sql = f"SELECT {_COLS} FROM oms.orders o WHERE {IN_FLIGHT_SQL}"
    args: list[Any] = []
    if older_than is not None:
        sql += " AND updated_at < now() - $1::interval"
        args.append(older_than)
    rows = await conn.fetch(sql + " ORDER BY order_id", *args)
    return [order_of(r) for r in rows]


async def due_expiries(
    conn: Conn, now: datetime, limit: int = 500
) -> list[tuple[AccountId, OrderId]]:
    rows = await conn.fetch(
        "SELECT account_id, order_id FROM oms.orders WHERE status = 'WORKING' "
        "AND expire_at IS NOT NULL AND expire_at <= $1 ORDER BY expire_at LIMIT $2",
        now,
        limit,
    )
    return [(AccountId(r["account_id"]), OrderId(r["order_id"])) for r in rows]


async def volume_opened(
    conn: Conn, account_id: AccountId, since: datetime, until: datetime
) -> Decimal:
    """Lots of the client's own opening orders created in [since, until): filled or executing."""
    value: Decimal = await conn.fetchval(
        "SELECT coalesce(sum(CASE WHEN status = ANY($4::text[]) THEN volume "
        "ELSE filled_volume END), 0) FROM oms.orders WHERE account_id = $1 "
        "AND origin = 'CLIENT' AND position_id IS NULL AND created_at >= $2 AND created_at < $3",
        account_id,
        since,
        until,
        list(IN_FLIGHT),
    )
    return value


async def closing_volume(conn: Conn, position_id: PositionId) -> Decimal:
    """Lots of closing orders of a position still being executed."""
    value: Decimal = await conn.fetchval(
        "SELECT coalesce(sum(volume - filled_volume), 0) FROM oms.orders "
        f"WHERE position_id = $1 AND {IN_FLIGHT_SQL}",
        position_id,
    )
    return value


async def page(
    conn: Conn,
    account_id: AccountId,
    *,
    open_only: bool,
    since: datetime | None,
    until: datetime | None,
    after: tuple[datetime, int] | None,
    limit: int,
) -> list[Order]:
    """Newest first, keyset-paginated on (created_at, order_id) strictly below ``after``."""
    where = ["account_id = $1"]
    args: list[Any] = [account_id]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if open_only:
        where.append(f"status = ANY({arg(list(OPEN))}::text[])")
    if since is not None:
        where.append(f"created_at >= {arg(since)}")
    if until is not None:
        where.append(f"created_at < {arg(until)}")
    if after is not None:
        where.append(f"(created_at, order_id) < ({arg(after[0])}, {arg(after[1])})")
    rows = await conn.fetch(
        f"SELECT {_COLS} FROM oms.orders o WHERE {' AND '.join(where)} "
        f"ORDER BY created_at DESC, order_id DESC LIMIT {arg(limit)}",
        *args,
    )
    return [order_of(r) for r in rows]


async def activity_since(conn: Conn, since: datetime) -> tuple[int, int, int, int]:
    """Orders created since ``since`` (all, filled, rejected) and orders working now."""
    row = await conn.fetchrow(
        "SELECT count(*) AS placed, "
        "count(*) FILTER (WHERE status = 'FILLED') AS filled, "
        "count(*) FILTER (WHERE status = 'REJECTED') AS rejected, "
        "(SELECT count(*) FROM oms.orders WHERE status = 'WORKING') AS working "
        "FROM oms.orders WHERE created_at >= $1",
        since,
    )
    assert row is not None
    return int(row["placed"]), int(row["filled"]), int(row["rejected"]), int(row["working"])
