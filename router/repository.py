"""The router's SQL: routing rules, exposure limits, B-book symbol settings, the routing-decision
audit trail, the order claims (executed / fenced) and, with them, the B-book fills."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from bbook import BookFill, SymbolSettings, store
from router.domain import (
    Book,
    Claim,
    Decision,
    ExecuteCommand,
    ExecutionStatus,
    OrderClaim,
    OrderState,
    RecordedDecision,
    RoutingRule,
)

CONFIG_CHANNEL = "router_config"


async def load_rules(conn: asyncpg.Connection) -> list[RoutingRule]:
    """Enabled rules in the order they are tried."""
    rows = await conn.fetch(
        "SELECT rule_id, priority, client_group, symbol, book, c_book_hedge_ratio, reason, enabled "
        "FROM router.routing_rules WHERE enabled ORDER BY priority, rule_id"
    )
    return [
        RoutingRule(
            rule_id=r["rule_id"],
            priority=r["priority"],
            client_group=r["client_group"],
            symbol=r["symbol"],
            book=Book(r["book"]),
            reason=r["reason"],
            c_book_hedge_ratio=r["c_book_hedge_ratio"],
            enabled=r["enabled"],
        )
        for r in rows
    ]


async def load_limits(conn: asyncpg.Connection) -> dict[str, Decimal]:
    rows = await conn.fetch("SELECT symbol, max_net_lots FROM router.exposure_limits")
    return {r["symbol"]: r["max_net_lots"] for r in rows}


async def load_symbol_settings(conn: asyncpg.Connection) -> dict[str, SymbolSettings]:
    """B-book execution settings of the symbols that have a row (the rest use the defaults)."""
    rows = await conn.fetch(
        "SELECT symbol, enabled, max_quote_age_ms FROM router.bbook_symbol_settings"
    )
    return {
        r["symbol"]: SymbolSettings(enabled=r["enabled"], max_quote_age_ms=r["max_quote_age_ms"])
        for r in rows
    }


_STATE_SQL = f"""
SELECT c.claim, c.account_id AS claim_account_id,
       d.book, d.reason, d.rule_id, d.account_id AS decision_account_id, d.status,
       d.reject_reason,
       {store.columns("f")}
  FROM (VALUES ($1::text)) AS o (order_id)
  LEFT JOIN router.order_claims c ON c.order_id = o.order_id
  LEFT JOIN router.routing_decisions d ON d.order_id = o.order_id
  LEFT JOIN router.bbook_fills f ON f.order_id = o.order_id
"""


async def order_state(conn: asyncpg.Connection, order_id: str) -> OrderState:
    """The committed claim, recorded decision and B-book fill of ``order_id``, in one read.

    One statement reads all three from one snapshot: a claim EXECUTED comes with the decision and
    the fill it committed with.
    """
    row = await conn.fetchrow(_STATE_SQL, order_id)
    if row is None:  # the VALUES row always yields one row; this narrows the type
        raise RuntimeError("order state query returned no row")
    claim = (
        OrderClaim(Claim(row["claim"]), row["claim_account_id"])
        if row["claim"] is not None
        else None
    )
    recorded = (
        RecordedDecision(
            decision=Decision(Book(row["book"]), row["reason"], row["rule_id"]),
            account_id=row["decision_account_id"],
            status=ExecutionStatus(row["status"]),
            reject_reason=row["reject_reason"],
        )
        if row["book"] is not None
        else None
    )
    return OrderState(claim, recorded, store.from_row(row))


async def insert_claim(
    conn: asyncpg.Connection,
    order_id: str,
    account_id: str,
    claim: Claim,
    trace_id: str | None,
) -> bool:
    """Claim ``order_id``; False when another claim exists (or committed first, if concurrent).

    A concurrent uncommitted claim on the same order id makes this wait for its transaction, so of
    two racing claims exactly one is inserted; the loser reads the winner with ``order_state``.
    """
    status: str = await conn.execute(
        "INSERT INTO router.order_claims (order_id, account_id, claim, trace_id) "
        "VALUES ($1, $2, $3, $4) ON CONFLICT (order_id) DO NOTHING",
        order_id,
        account_id,
        claim.value,
        trace_id,
    )
    return status.endswith(" 1")


_FILL_PARAMS = ", ".join(f"${i}::{t}" for i, t in enumerate(store.TYPES, start=10))
_CLAIM_AND_FILL_SQL = f"""
WITH claim AS (
    INSERT INTO router.order_claims (order_id, account_id, claim, trace_id)
    VALUES ($1, $2, 'EXECUTED', $3)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING order_id
), decision AS (
    INSERT INTO router.routing_decisions
        (order_id, account_id, symbol, side, volume, book, reason, rule_id, status, trace_id)
    SELECT order_id, $2::text, $4::text, $5::text, $6::numeric, $7::text, $8::text, $9::bigint,
           'FILLED', $3::text
      FROM claim
    ON CONFLICT (order_id) DO UPDATE
       SET status = EXCLUDED.status, reject_reason = NULL, updated_at = now()
     WHERE router.routing_decisions.status <> 'FILLED'
), fill AS (
    INSERT INTO router.bbook_fills ({store.columns()})
    SELECT {_FILL_PARAMS} FROM claim
    RETURNING fill_id
)
SELECT count(*) FROM fill
"""


async def claim_and_fill(
    conn: asyncpg.Connection, cmd: ExecuteCommand, decision: Decision, fill: BookFill
) -> bool:
    """Claim ``cmd``'s order id EXECUTED with its FILLED decision and ``fill``, atomically.

    One statement, so one transaction and one round trip: the decision and the fill are written
    only by the statement that inserts the claim. False when another claim exists or committed
    first (a racing Execute, or ReconcileExecution's fence); nothing is written then, and the
    loser reads the winner with ``order_state``. Call outside a transaction block, or the claim
    commits with whatever that transaction does.
    """
    try:
        written: int = await conn.fetchval(
            _CLAIM_AND_FILL_SQL,
            cmd.order_id,
            cmd.account_id,
            cmd.trace_id,
            cmd.symbol,
            cmd.side.value,
            cmd.volume,
            decision.book.value,
            decision.reason,
            decision.rule_id,
            *store.values(fill),
        )
    except asyncpg.UniqueViolationError as exc:
        # Claims and fills commit together, so a fill without a claim is a broken invariant.
        raise RuntimeError(f"order {cmd.order_id} has a B-book fill but no claim") from exc
    return written == 1


async def record_decision(
    conn: asyncpg.Connection,
    cmd: ExecuteCommand,
    decision: Decision,
    status: ExecutionStatus,
    reject_reason: str | None = None,
) -> bool:
    """Insert the decision, or update the last outcome of an existing one (never once FILLED).

    False when the order's decision is FILLED already: the order was filled meanwhile. An insert
    racing with an uncommitted fill of the order waits for it, so False is also what it answers
    once that fill commits.
    """
    tag: str = await conn.execute(
        """
        INSERT INTO router.routing_decisions
            (order_id, account_id, symbol, side, volume, book, reason, rule_id, status,
             reject_reason, trace_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
        ON CONFLICT (order_id) DO UPDATE
           SET status = EXCLUDED.status, reject_reason = EXCLUDED.reject_reason, updated_at = now()
         WHERE router.routing_decisions.status <> 'FILLED'
        """,
        cmd.order_id,
        cmd.account_id,
        cmd.symbol,
        cmd.side.value,
        cmd.volume,
        decision.book.value,
        decision.reason,
        decision.rule_id,
        status.value,
        reject_reason,
        cmd.trace_id,
    )
    return tag.endswith(" 1")


async def decision_row(conn: asyncpg.Connection, order_id: str) -> dict[str, Any] | None:
    """The full audit row of one decision (for admin views and tests)."""
    row = await conn.fetchrow(
        "SELECT * FROM router.routing_decisions WHERE order_id = $1", order_id
    )
    return dict(row) if row is not None else None
