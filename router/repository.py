"""The router's SQL: routing rules, exposure limits, B-book symbol settings, the routing-decision
audit trail and the order claims (executed / fenced)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from bbook import SymbolSettings
from router.domain import (
    Book,
    Claim,
    Decision,
    ExecuteCommand,
    ExecutionStatus,
    OrderClaim,
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


async def get_decision(conn: asyncpg.Connection, order_id: str) -> RecordedDecision | None:
    """The decision already taken for ``order_id`` (a retried Execute reuses it)."""
    row = await conn.fetchrow(
        "SELECT book, reason, rule_id, account_id, status, reject_reason "
        "FROM router.routing_decisions WHERE order_id = $1",
        order_id,
    )
    if row is None:
        return None
    return RecordedDecision(
        decision=Decision(Book(row["book"]), row["reason"], row["rule_id"]),
        account_id=row["account_id"],
        status=ExecutionStatus(row["status"]),
        reject_reason=row["reject_reason"],
    )


async def get_claim(conn: asyncpg.Connection, order_id: str) -> OrderClaim | None:
    """The committed claim on ``order_id`` and the account it was made for, if any."""
    row = await conn.fetchrow(
        "SELECT claim, account_id FROM router.order_claims WHERE order_id = $1", order_id
    )
    return OrderClaim(Claim(row["claim"]), row["account_id"]) if row is not None else None


async def insert_claim(
    conn: asyncpg.Connection,
    order_id: str,
    account_id: str,
    claim: Claim,
    trace_id: str | None,
) -> bool:
    """Claim ``order_id``; False when another claim exists (or committed first, if concurrent).

    A concurrent uncommitted claim on the same order id makes this wait for its transaction, so of
    two racing claims exactly one is inserted; the loser reads the winner with ``get_claim``.
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


async def record_decision(
    conn: asyncpg.Connection,
    cmd: ExecuteCommand,
    decision: Decision,
    status: ExecutionStatus,
    reject_reason: str | None = None,
) -> None:
    """Insert the decision, or update the last outcome of an existing one (never once FILLED)."""
    await conn.execute(
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


async def decision_row(conn: asyncpg.Connection, order_id: str) -> dict[str, Any] | None:
    """The full audit row of one decision (for admin views and tests)."""
    row = await conn.fetchrow(
        "SELECT * FROM router.routing_decisions WHERE order_id = $1", order_id
    )
    return dict(row) if row is not None else None
