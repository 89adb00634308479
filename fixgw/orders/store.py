"""fixgw's order book in PostgreSQL (schema ``fixgw``): orders, attempts, executions.

An attempt is inserted (and committed) before its NewOrderSingle is sent; every applied report is
one statement that inserts its execution row (unique per LP and ExecID) and updates the attempt
only if that insert happened, so a report applied twice, by any path, changes nothing.
"""

from __future__ import annotations

from typing import Any

from fixgw.config import OrderStyle
from fixgw.orders.domain import (
    Attempt,
    AttemptStatus,
    ExecuteCommand,
    ExecutionRow,
    Fill,
    OrderRecord,
    Side,
)
from fxmesh.db import Conn

_ORDER_COLUMNS = (
    "order_id, account_id, symbol, side, volume, contract_size, fenced, reject_reason, "
    "reject_message"
)
_ATTEMPT_COLUMNS = (
    "a.cl_ord_id, a.order_id, a.attempt_no, a.lp, a.lp_order_id, a.lp_symbol, a.style, "
    "a.limit_price, a.lp_qty, a.qty_factor, a.status, a.filled_lp_qty, a.avg_price, "
    "a.reject_reason, a.reject_message, a.sent_at, a.final_at, o.side"
)
_EXECUTION_COLUMNS = (
    "e.lp, e.exec_id, e.cl_ord_id, e.lp_order_id, e.last_qty, e.last_px, e.transact_time, "
    "e.received_at"
)


def _order(row: Any) -> OrderRecord:
    return OrderRecord(
        order_id=row["order_id"],
        account_id=row["account_id"],
        symbol=row["symbol"],
        side=Side(row["side"]) if row["side"] is not None else None,
        volume=row["volume"],
        contract_size=row["contract_size"],
        fenced=row["fenced"],
        reject_reason=row["reject_reason"],
        reject_message=row["reject_message"],
    )


def _attempt(row: Any, fills: tuple[Fill, ...], exec_ids: frozenset[str]) -> Attempt:
    return Attempt(
        cl_ord_id=row["cl_ord_id"],
        order_id=row["order_id"],
        attempt_no=row["attempt_no"],
        lp=row["lp"],
        lp_symbol=row["lp_symbol"],
        side=Side(row["side"]),
        style=OrderStyle(row["style"]),
        limit_price=row["limit_price"],
        lp_qty=row["lp_qty"],
        qty_factor=row["qty_factor"],
        status=AttemptStatus(row["status"]),
        sent_at=row["sent_at"],
        lp_order_id=row["lp_order_id"],
        filled_lp_qty=row["filled_lp_qty"],
        avg_price=row["avg_price"],
        reject_reason=row["reject_reason"],
        reject_message=row["reject_message"],
        final_at=row["final_at"],
        fills=fills,
        exec_ids=exec_ids,
    )


def _fill(row: Any) -> Fill:
    return Fill(
        lp=row["lp"],
        lp_order_id=row["lp_order_id"] or "",
        exec_id=row["exec_id"],
        cl_ord_id=row["cl_ord_id"],
        price=row["last_px"],
        volume=row["last_qty"],
        transact_time=row["transact_time"],
        received_at=row["received_at"],
    )


async def _attempts(conn: Conn, where: str, *args: Any) -> list[Attempt]:
    """Attempts matching ``where`` (over ``a`` and ``o``) with their fills and ExecIDs."""
    rows = await conn.fetch(
        f"SELECT {_ATTEMPT_COLUMNS} FROM fixgw.attempts a "
        f"JOIN fixgw.orders o ON o.order_id = a.order_id WHERE {where} "
        "ORDER BY a.order_id, a.attempt_no",
        *args,
    )
    if not rows:
        return []
    ids = [r["cl_ord_id"] for r in rows]
    executions = await conn.fetch(
        f"SELECT {_EXECUTION_COLUMNS} FROM fixgw.executions e "
        "WHERE e.cl_ord_id = ANY($1::text[]) ORDER BY e.seq",
        ids,
    )
    fills: dict[str, list[Fill]] = {i: [] for i in ids}
    exec_ids: dict[str, set[str]] = {i: set() for i in ids}
    for e in executions:
        exec_ids[e["cl_ord_id"]].add(e["exec_id"])
        if e["last_qty"] is not None:
            fills[e["cl_ord_id"]].append(_fill(e))
    return [
        _attempt(r, tuple(fills[r["cl_ord_id"]]), frozenset(exec_ids[r["cl_ord_id"]])) for r in rows
    ]


async def load_order(conn: Conn, order_id: str) -> tuple[OrderRecord, list[Attempt]] | None:
    """The order and its attempts (with fills), or None when fixgw never saw the id."""
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS} FROM fixgw.orders WHERE order_id = $1", order_id
    )
    if row is None:
        return None
    return _order(row), await _attempts(conn, "a.order_id = $1", order_id)


async def load_attempt(conn: Conn, cl_ord_id: str) -> Attempt | None:
    found = await _attempts(conn, "a.cl_ord_id = $1", cl_ord_id)
    return found[0] if found else None


async def create_order(conn: Conn, cmd: ExecuteCommand) -> OrderRecord:
    """Insert the order unless it exists; the stored row either way (possibly fenced)."""
    await conn.execute(
        "INSERT INTO fixgw.orders (order_id, account_id, symbol, side, volume, contract_size) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (order_id) DO NOTHING",
        cmd.order_id,
        cmd.account_id,
        cmd.symbol,
        cmd.side.value,
        cmd.volume,
        cmd.contract_size,
    )
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS} FROM fixgw.orders WHERE order_id = $1", cmd.order_id
    )
    return _order(row)


async def fence_order(conn: Conn, order_id: str) -> OrderRecord:
    """Fence an order id fixgw never saw; the stored row (an order that exists stays as it is)."""
    await conn.execute(
        "INSERT INTO fixgw.orders (order_id, fenced) VALUES ($1, true) "
        "ON CONFLICT (order_id) DO NOTHING",
        order_id,
    )
    row = await conn.fetchrow(
        f"SELECT {_ORDER_COLUMNS} FROM fixgw.orders WHERE order_id = $1", order_id
    )
    return _order(row)


async def next_attempt_no(conn: Conn, order_id: str) -> int:
    value: int = await conn.fetchval(
        "SELECT coalesce(max(attempt_no), 0) + 1 FROM fixgw.attempts WHERE order_id = $1",
        order_id,
    )
    return value


_INSERT_ATTEMPT = """
WITH attempt AS (
    INSERT INTO fixgw.attempts
        (cl_ord_id, order_id, attempt_no, lp, lp_symbol, style, limit_price, lp_qty, qty_factor,
         status, sent_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    RETURNING order_id
)
UPDATE fixgw.orders o SET reject_reason = NULL, reject_message = NULL
  FROM attempt WHERE o.order_id = attempt.order_id
"""


async def insert_attempt(conn: Conn, attempt: Attempt) -> None:
    """Record an attempt (committed before its NewOrderSingle is sent)."""
    await conn.execute(
        _INSERT_ATTEMPT,
        attempt.cl_ord_id,
        attempt.order_id,
        attempt.attempt_no,
        attempt.lp,
        attempt.lp_symbol,
        attempt.style.value,
        attempt.limit_price,
        attempt.lp_qty,
        attempt.qty_factor,
        attempt.status.value,
        attempt.sent_at,
    )


async def end_run(conn: Conn, order_id: str, reason: str, message: str | None) -> None:
    """An execution run that sent nothing (NO_LIQUIDITY): the order's latest outcome."""
    await conn.execute(
        "UPDATE fixgw.orders SET reject_reason = $2, reject_message = $3 WHERE order_id = $1",
        order_id,
        reason,
        message,
    )


_UPDATE_SET = """
       lp_order_id = $2, status = $3, filled = $4, filled_lp_qty = $5, avg_price = $6,
       reject_reason = $7, reject_message = $8, final_at = $9
"""

_APPLY_EXECUTION = f"""
WITH execution AS (
    INSERT INTO fixgw.executions
        (lp, exec_id, cl_ord_id, exec_type, ord_status, lp_order_id, last_qty, last_px,
         transact_time, received_at, poss_dup)
    VALUES ($10, $11, $1, $12, $13, $2, $14, $15, $16, $17, $18)
    ON CONFLICT (lp, exec_id) DO NOTHING
    RETURNING 1
), attempt AS (
    UPDATE fixgw.attempts SET {_UPDATE_SET}
     WHERE cl_ord_id = $1 AND EXISTS (SELECT 1 FROM execution)
)
SELECT count(*) FROM execution
"""


def _attempt_values(attempt: Attempt) -> list[Any]:
    return [
        attempt.cl_ord_id,
        attempt.lp_order_id,
        attempt.status.value,
        attempt.filled,
        attempt.filled_lp_qty,
        attempt.avg_price,
        attempt.reject_reason,
        attempt.reject_message,
        attempt.final_at,
    ]


async def apply_execution(conn: Conn, attempt: Attempt, execution: ExecutionRow) -> bool:
    """Store ``execution`` and the attempt it produced, in one statement; False: seen before."""
    applied: int = await conn.fetchval(
        _APPLY_EXECUTION,
        *_attempt_values(attempt),
        execution.lp,
        execution.exec_id,
        execution.exec_type,
        execution.ord_status,
        execution.last_qty,
        execution.last_px,
        execution.transact_time,
        execution.received_at,
        execution.poss_dup,
    )
    return applied == 1


async def update_attempt(conn: Conn, attempt: Attempt) -> None:
    """Store the attempt's state (a change without an execution row: a reject, a hold...)."""
    await conn.execute(
        f"UPDATE fixgw.attempts SET {_UPDATE_SET} WHERE cl_ord_id = $1", *_attempt_values(attempt)
    )


async def hold_unresolved(conn: Conn) -> list[tuple[OrderRecord, list[Attempt]]]:
    """At start: every attempt still PENDING becomes UNKNOWN (held); the orders that have one.

    fixgw runs one instance per LP session, so an attempt PENDING at start was in flight when the
    previous process ended: its fate is learned from the LP before the LP gets new flow.
    """
    await conn.execute("UPDATE fixgw.attempts SET status = 'UNKNOWN' WHERE status = 'PENDING'")
    rows = await conn.fetch(
        f"SELECT {_ORDER_COLUMNS} FROM fixgw.orders WHERE order_id IN "
        "(SELECT order_id FROM fixgw.attempts WHERE status = 'UNKNOWN')"
    )
    if not rows:
        return []
    records = {r["order_id"]: _order(r) for r in rows}
    attempts = await _attempts(conn, "a.order_id = ANY($1::text[])", list(records))
    by_order: dict[str, list[Attempt]] = {order_id: [] for order_id in records}
    for attempt in attempts:
        by_order[attempt.order_id].append(attempt)
    return [(records[order_id], by_order[order_id]) for order_id in records]
