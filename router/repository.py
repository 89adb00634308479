"""The router's SQL: routing rules, exposure limits, B-book and A-book symbol settings, the
routing-decision audit trail, the order claims (executed / fenced / submitted) and, with them, the
B-book fills, the A-book submissions and the LP fills."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from bbook import BookFill, Side, SymbolSettings, store
from fxmesh.db import Conn
from router.abook import (
    AbookFill,
    AbookOrder,
    AbookSymbolSettings,
    HouseLeg,
    Markup,
    PricePolicy,
)
from router.domain import (
    Book,
    Claim,
    Decision,
    ExecuteCommand,
    ExecutionStatus,
    ExplainedDecision,
    OrderClaim,
    OrderState,
    RecordedDecision,
    RoutingRule,
    VenueLeg,
)
from router.flow import FlowClose, FlowFill
from router.rules import (
    AccountOverride,
    FlowThreshold,
    LpFallback,
    OverLimit,
    RoutingConfig,
    SymbolRouting,
    VolatilityThreshold,
    VolumeLimit,
)
from router.whatif import Proposal, RecordedOrder, inputs_from_explanation

CONFIG_CHANNEL = "router_config"


async def load_rules(conn: Conn) -> list[RoutingRule]:
    """Enabled rules in the order they are tried."""
    rows = await conn.fetch(
        "SELECT rule_id, priority, client_group, symbol, book, c_book_hedge_ratio, reason, enabled "
        "FROM router.routing_rules WHERE enabled ORDER BY priority, rule_id"
    )
    return [routing_rule_of(r) for r in rows]


# --- rows -> routing configuration (the router's loads and the admin snapshot read the same rows)


def routing_rule_of(r: Any) -> RoutingRule:
    return RoutingRule(
        rule_id=r["rule_id"],
        priority=r["priority"],
        client_group=r["client_group"],
        symbol=r["symbol"],
        book=Book(r["book"]),
        reason=r["reason"],
        c_book_hedge_ratio=r["c_book_hedge_ratio"],
        enabled=r["enabled"],
    )


def override_of(r: Any) -> AccountOverride:
    return AccountOverride(
        r["account_id"], Book(r["book"]), r["reason"], r["c_book_hedge_ratio"], r["enabled"]
    )


def volume_limit_of(r: Any) -> VolumeLimit:
    return VolumeLimit(
        r["limit_id"], r["client_group"], r["symbol"], r["max_lots"], OverLimit(r["over_limit"])
    )


def symbol_routing_of(r: Any) -> SymbolRouting:
    return SymbolRouting(r["lot_step"], LpFallback(r["lp_fallback"]), tuple(r["preferred_lps"]))


def flow_threshold_of(r: Any) -> FlowThreshold:
    return FlowThreshold(
        r["threshold_id"],
        r["client_group"],
        r["min_closed_deals"],
        r["net_profit_min"],
        r["win_rate_min"],
        r["min_markout_fills"],
        r["toxicity_min_bps"],
        r["latency_arb_share_min"],
    )


def volatility_threshold_of(r: Any) -> VolatilityThreshold:
    return VolatilityThreshold(
        r["threshold_id"], r["symbol"], r["max_bps"], Book(r["book"]), r["c_book_hedge_ratio"]
    )


async def load_limits(conn: Conn) -> dict[str, Decimal]:
    rows = await conn.fetch("SELECT symbol, max_net_lots FROM router.exposure_limits")
    return {r["symbol"]: r["max_net_lots"] for r in rows}


async def load_symbol_settings(conn: Conn) -> dict[str, SymbolSettings]:
    """B-book execution settings of the symbols that have a row (the rest use the defaults)."""
    rows = await conn.fetch(
        "SELECT symbol, enabled, max_quote_age_ms FROM router.bbook_symbol_settings"
    )
    return {
        r["symbol"]: SymbolSettings(enabled=r["enabled"], max_quote_age_ms=r["max_quote_age_ms"])
        for r in rows
    }


async def load_abook_settings(conn: Conn) -> dict[str, AbookSymbolSettings]:
    """A-book settings of the symbols that have a row (the rest price with MARKUP)."""
    rows = await conn.fetch("SELECT symbol, price_policy FROM router.abook_symbol_settings")
    return {r["symbol"]: AbookSymbolSettings(PricePolicy(r["price_policy"])) for r in rows}


async def load_overrides(conn: Conn) -> list[AccountOverride]:
    rows = await conn.fetch(
        "SELECT account_id, book, c_book_hedge_ratio, reason, enabled "
        "FROM router.account_overrides WHERE enabled"
    )
    return [override_of(r) for r in rows]


async def load_volume_limits(conn: Conn) -> list[VolumeLimit]:
    rows = await conn.fetch(
        "SELECT limit_id, client_group, symbol, max_lots, over_limit FROM router.bbook_volume_limits"
    )
    return [volume_limit_of(r) for r in rows]


async def load_symbol_routing(conn: Conn) -> dict[str, SymbolRouting]:
    rows = await conn.fetch(
        "SELECT symbol, lot_step, lp_fallback, preferred_lps FROM router.routing_symbol_settings"
    )
    return {r["symbol"]: symbol_routing_of(r) for r in rows}


async def load_flow_thresholds(conn: Conn) -> list[FlowThreshold]:
    rows = await conn.fetch(
        "SELECT threshold_id, client_group, min_closed_deals, net_profit_min, win_rate_min, "
        "min_markout_fills, toxicity_min_bps, latency_arb_share_min FROM router.flow_thresholds"
    )
    return [flow_threshold_of(r) for r in rows]


async def load_volatility_thresholds(conn: Conn) -> list[VolatilityThreshold]:
    rows = await conn.fetch(
        "SELECT threshold_id, symbol, max_bps, book, c_book_hedge_ratio "
        "FROM router.volatility_thresholds"
    )
    return [volatility_threshold_of(r) for r in rows]


async def config_version(conn: Conn) -> int:
    version: int = await conn.fetchval("SELECT max(version) FROM router.config_versions")
    return version


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """Every routing configuration table as of one snapshot."""

    routing: RoutingConfig
    limits: dict[str, Decimal]
    bbook: dict[str, SymbolSettings]
    abook: dict[str, AbookSymbolSettings]


async def _load_routing(conn: Conn, version: int) -> RoutingConfig:
    """The rule engine's configuration from the tables as the caller's transaction sees them."""
    return RoutingConfig.build(
        version,
        await load_rules(conn),
        await load_overrides(conn),
        await load_volume_limits(conn),
        await load_limits(conn),
        await load_symbol_routing(conn),
        await load_flow_thresholds(conn),
        await load_volatility_thresholds(conn),
    )


async def load_config(conn: Conn) -> LoadedConfig:
    """The whole configuration and its version, read in one REPEATABLE READ snapshot."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        version = await config_version(conn)
        rules = await load_rules(conn)
        overrides = await load_overrides(conn)
        volume_limits = await load_volume_limits(conn)
        limits = await load_limits(conn)
        symbols = await load_symbol_routing(conn)
        bbook = await load_symbol_settings(conn)
        abook = await load_abook_settings(conn)
        flow = await load_flow_thresholds(conn)
        volatility = await load_volatility_thresholds(conn)
    return LoadedConfig(
        RoutingConfig.build(
            version, rules, overrides, volume_limits, limits, symbols, flow, volatility
        ),
        limits,
        bbook,
        abook,
    )


_STATE_SQL = f"""
SELECT c.claim, c.account_id AS claim_account_id,
       d.book, d.reason, d.rule_id, d.account_id AS decision_account_id, d.status,
       d.reject_reason, d.symbol AS decision_symbol, d.side AS decision_side,
       d.volume AS decision_volume, d.level, d.a_volume, d.b_volume, d.hedge_ratio,
       d.config_version,
       a.order_id AS abook_order_id, a.contract_size AS abook_contract_size, a.price_policy,
       a.markup_bid, a.markup_ask, a.price_places, a.client_worst, a.lp_worst, a.has_limit, a.lps,
       a.preferred_lps,
       a.volume AS abook_volume, a.b_volume AS leg_volume, a.b_price AS leg_price,
       a.quote_to_usd_rate AS leg_usd_rate, a.b_priced_at AS leg_priced_at,
       (SELECT max(version) FROM router.config_versions) AS config_version_now,
       {store.columns("f")}
  FROM (VALUES ($1::text)) AS o (order_id)
  LEFT JOIN router.order_claims c ON c.order_id = o.order_id
  LEFT JOIN router.routing_decisions d ON d.order_id = o.order_id
  LEFT JOIN router.bbook_fills f ON f.order_id = o.order_id
  LEFT JOIN router.abook_orders a ON a.order_id = o.order_id
"""


def _abook_order(row: Any) -> AbookOrder | None:
    if row["abook_order_id"] is None:
        return None
    leg = None
    if row["leg_price"] is not None:
        leg = HouseLeg(
            order_volume=row["decision_volume"],
            volume=row["leg_volume"],
            price=row["leg_price"],
            quote_to_usd_rate=row["leg_usd_rate"],
            priced_at=row["leg_priced_at"],
        )
    return AbookOrder(
        order_id=row["abook_order_id"],
        account_id=row["decision_account_id"],
        symbol=row["decision_symbol"],
        side=Side(row["decision_side"]),
        volume=row["abook_volume"] or row["decision_volume"],
        contract_size=row["abook_contract_size"],
        policy=PricePolicy(row["price_policy"]),
        markup=Markup(row["markup_bid"], row["markup_ask"], row["price_places"]),
        client_worst=row["client_worst"],
        lp_worst=row["lp_worst"],
        has_limit=row["has_limit"],
        lps=tuple(row["lps"]),
        leg=leg,
        preferred_lps=tuple(row["preferred_lps"] or ()),
    )


async def order_state(conn: Conn, order_id: str) -> OrderState:
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
            decision=Decision(
                Book(row["book"]),
                row["reason"],
                row["rule_id"],
                row["hedge_ratio"] or Decimal(0),
                row["a_volume"] or Decimal(0),
                row["b_volume"] or Decimal(0),
                row["level"] or "",
                row["config_version"],
            ),
            account_id=row["decision_account_id"],
            status=ExecutionStatus(row["status"]),
            reject_reason=row["reject_reason"],
        )
        if row["book"] is not None
        else None
    )
    return OrderState(
        claim, recorded, store.from_row(row), _abook_order(row), row["config_version_now"]
    )


async def insert_claim(
    conn: Conn,
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


def explanation_json(decision: Decision) -> str | None:
    """The decision's inputs and steps as stored (``routing_decisions.explanation``)."""
    explanation = decision.explanation
    if explanation is None:
        return None
    return json.dumps(
        {
            "inputs": [list(pair) for pair in explanation.inputs],
            "steps": [
                {"level": s.level.value, "outcome": s.outcome, "detail": s.detail}
                for s in explanation.steps
            ],
        },
        separators=(",", ":"),
    )


def decision_values(decision: Decision) -> tuple[Any, ...]:
    """level, a_volume, b_volume, hedge_ratio, config_version, explanation of a decision."""
    return (
        decision.level or None,
        decision.a_volume,
        decision.b_volume,
        decision.c_book_hedge_ratio,
        decision.config_version,
        explanation_json(decision),
    )


_FILL_PARAMS = ", ".join(f"${i}::{t}" for i, t in enumerate(store.TYPES, start=10))
_CLAIM_AND_FILL_SQL = f"""
WITH claim AS (
    INSERT INTO router.order_claims (order_id, account_id, claim, trace_id)
    SELECT $1::text, $2::text, 'EXECUTED', $3::text
     WHERE $26::bigint IS NULL
        OR $26::bigint >= (SELECT coalesce(max(version), 0) FROM router.config_versions)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING order_id
), decision AS (
    INSERT INTO router.routing_decisions
        (order_id, account_id, symbol, side, volume, book, reason, rule_id, status, trace_id,
         level, a_volume, b_volume, hedge_ratio, config_version, explanation)
    SELECT order_id, $2::text, $4::text, $5::text, $6::numeric, $7::text, $8::text, $9::bigint,
           'FILLED', $3::text, $20::text, $21::numeric, $22::numeric, $23::numeric, $24::bigint,
           $25::jsonb
      FROM claim
    ON CONFLICT (order_id) DO UPDATE
       SET status = EXCLUDED.status, reject_reason = NULL, updated_at = now()
     WHERE router.routing_decisions.status <> 'FILLED'
), fill AS (
    INSERT INTO router.bbook_fills (seq, {store.columns()}) OVERRIDING SYSTEM VALUE
    SELECT $27::bigint, {_FILL_PARAMS} FROM claim
    RETURNING fill_id
)
SELECT count(*) FROM fill
"""


def _claim_and_fill_args(
    cmd: ExecuteCommand, decision: Decision, fill: BookFill, seq: int, decided_with: int | None
) -> tuple[Any, ...]:
    return (
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
        *decision_values(decision),
        decided_with,
        seq,
    )


async def claim_and_fill(
    conn: Conn,
    cmd: ExecuteCommand,
    decision: Decision,
    fill: BookFill,
    seq: int,
    decided_with: int | None = None,
) -> bool:
    """Claim ``cmd``'s order id EXECUTED with its FILLED decision and ``fill``, atomically.

    One statement, so one round trip: the decision and the fill are written only by the
    statement that inserts the claim. False when another claim exists or committed first (a
    racing Execute, or ReconcileExecution's fence); nothing is written then, and the loser reads
    the winner with ``order_state``. Outside a transaction block it commits alone; inside one
    (oms's settling transaction of a B-book order, ``RouterService.prepare_house_fill``) it
    commits with everything else the transaction does.

    ``seq``: the fill's place in the house book's replay order, reserved from the house
    (``House.reserve``). ``decided_with``: the configuration version the order was routed and
    priced with, when the caller did not read the newest one first; the claim is then made only
    while no newer version is committed (False otherwise, and no claim exists: route again with
    the newer one).
    """
    try:
        written: int = await conn.fetchval(
            _CLAIM_AND_FILL_SQL, *_claim_and_fill_args(cmd, decision, fill, seq, decided_with)
        )
    except asyncpg.UniqueViolationError as exc:
        # Claims and fills commit together, so a fill without a claim is a broken invariant.
        raise RuntimeError(f"order {cmd.order_id} has a B-book fill but no claim") from exc
    return written == 1


async def claim_and_fill_group(
    conn: Conn, group: Sequence[tuple[ExecuteCommand, Decision, BookFill, int, int | None]]
) -> list[bool]:
    """``claim_and_fill`` for several orders in one transaction, in the order given (each with
    its ``seq`` and ``decided_with``): for each, whether its claim won. All or nothing: when one
    statement fails nothing is written and the error is raised (write them one by one then, so
    only that one fails).

    Two round trips for the whole group (the statements pipelined, then which fills were
    written); the group commits with one WAL flush. Call outside a transaction block.
    """
    # asyncpg runs the pipelined statements in one implicit transaction (atomic since 0.22).
    await conn.executemany(_CLAIM_AND_FILL_SQL, [_claim_and_fill_args(*c) for c in group])
    # A fill id is new with each attempt: a fill row with it is this group's, so its claim won.
    written = {
        row["fill_id"]
        for row in await conn.fetch(
            "SELECT fill_id FROM router.bbook_fills WHERE fill_id = ANY($1::text[])",
            [fill.fill_id for _, _, fill, _, _ in group],
        )
    }
    return [fill.fill_id in written for _, _, fill, _, _ in group]


async def record_decision(
    conn: Conn,
    cmd: ExecuteCommand,
    decision: Decision,
    status: ExecutionStatus,
    reject_reason: str | None = None,
) -> bool:
    """Insert the decision, or update the last outcome of an existing one (never once filled).

    False when the order's decision is FILLED (or PARTIALLY_FILLED) already: the order was filled
    meanwhile. An insert
    racing with an uncommitted fill of the order waits for it, so False is also what it answers
    once that fill commits.
    """
    tag: str = await conn.execute(
        """
        INSERT INTO router.routing_decisions
            (order_id, account_id, symbol, side, volume, book, reason, rule_id, status,
             reject_reason, trace_id, level, a_volume, b_volume, hedge_ratio, config_version,
             explanation)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
        ON CONFLICT (order_id) DO UPDATE
           SET status = EXCLUDED.status, reject_reason = EXCLUDED.reject_reason, updated_at = now()
         WHERE router.routing_decisions.status NOT IN ('FILLED', 'PARTIALLY_FILLED')
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
        *decision_values(decision),
    )
    return tag.endswith(" 1")


async def decision_row(conn: Conn, order_id: str) -> dict[str, Any] | None:
    """The full audit row of one decision (for admin views and tests)."""
    row = await conn.fetchrow(
        "SELECT * FROM router.routing_decisions WHERE order_id = $1", order_id
    )
    return dict(row) if row is not None else None


# --- A-book ----------------------------------------------------------------------------------------

_SUBMIT_SQL = """
WITH claim AS (
    INSERT INTO router.order_claims (order_id, account_id, claim, trace_id)
    VALUES ($1, $2, 'SUBMITTED', $3)
    ON CONFLICT (order_id) DO NOTHING
    RETURNING order_id
), decision AS (
    INSERT INTO router.routing_decisions
        (order_id, account_id, symbol, side, volume, book, reason, rule_id, status, trace_id,
         level, a_volume, b_volume, hedge_ratio, config_version, explanation)
    SELECT order_id, $2::text, $4::text, $5::text, $6::numeric, $7::text, $8::text, $9::bigint,
           'PENDING', $3::text, $24::text, $25::numeric, $26::numeric, $27::numeric, $28::bigint,
           $29::jsonb
      FROM claim
    ON CONFLICT (order_id) DO UPDATE
       SET status = 'PENDING', reject_reason = NULL, updated_at = now()
     WHERE router.routing_decisions.status NOT IN ('FILLED', 'PARTIALLY_FILLED')
    RETURNING order_id
), submission AS (
    INSERT INTO router.abook_orders
        (order_id, account_id, contract_size, price_policy, markup_bid, markup_ask, price_places,
         client_worst, lp_worst, has_limit, lps, volume, b_volume, b_price, quote_to_usd_rate,
         b_priced_at, preferred_lps)
    SELECT order_id, $2::text, $10::numeric, $11::text, $12::numeric, $13::numeric,
           $14::integer, $15::numeric, $16::numeric, $17::boolean, $18::text[], $19::numeric,
           $20::numeric, $21::numeric, $22::numeric, $23::timestamptz, $30::text[]
      FROM decision
    ON CONFLICT (order_id) DO UPDATE
       SET contract_size = EXCLUDED.contract_size, price_policy = EXCLUDED.price_policy,
           markup_bid = EXCLUDED.markup_bid, markup_ask = EXCLUDED.markup_ask,
           price_places = EXCLUDED.price_places, client_worst = EXCLUDED.client_worst,
           lp_worst = EXCLUDED.lp_worst, has_limit = EXCLUDED.has_limit, lps = EXCLUDED.lps,
           volume = EXCLUDED.volume, b_volume = EXCLUDED.b_volume, b_price = EXCLUDED.b_price,
           quote_to_usd_rate = EXCLUDED.quote_to_usd_rate, b_priced_at = EXCLUDED.b_priced_at,
           preferred_lps = EXCLUDED.preferred_lps, submitted_at = now()
)
SELECT count(*) FROM claim
"""


async def claim_submitted(
    conn: Conn,
    order: AbookOrder,
    decision: Decision,
    trace_id: str | None,
) -> bool:
    """Claim ``order`` SUBMITTED with its decision PENDING and its submission, atomically.

    Written before the order goes to fixgw, so its outcome is always looked for. False when
    another claim exists or committed first (a racing Execute's SUBMITTED, an EXECUTED or a
    FENCED): nothing is written then and the caller reads what won.
    """
    leg = order.leg
    written: int = await conn.fetchval(
        _SUBMIT_SQL,
        order.order_id,
        order.account_id,
        trace_id,
        order.symbol,
        order.side.value,
        order.client_volume,
        decision.book.value,
        decision.reason,
        decision.rule_id,
        order.contract_size,
        order.policy.value,
        order.markup.bid,
        order.markup.ask,
        order.markup.places,
        order.client_worst,
        order.lp_worst,
        order.has_limit,
        list(order.lps),
        order.volume if leg is not None else None,
        leg.volume if leg is not None else None,
        leg.price if leg is not None else None,
        leg.quote_to_usd_rate if leg is not None else None,
        leg.priced_at if leg is not None else None,
        *decision_values(decision),
        list(order.preferred_lps),
    )
    return written == 1


LP_FILL_COLUMNS = (
    "fill_id",
    "order_id",
    "account_id",
    "symbol",
    "client_side",
    "lp",
    "lp_order_id",
    "cl_ord_id",
    "exec_id",
    "volume",
    "lp_price",
    "price",
    "filled_at",
    "received_at",
)
_LP_FILL_TYPES = (
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "text",
    "numeric",
    "numeric",
    "numeric",
    "timestamptz",
    "timestamptz",
)
_UNNEST = ", ".join(f"${i}::{t}[]" for i, t in enumerate(_LP_FILL_TYPES, start=3))
_EXECUTED_SQL = f"""
WITH claim AS (
    UPDATE router.order_claims SET claim = 'EXECUTED', claimed_at = now()
     WHERE order_id = $1 AND claim = 'SUBMITTED'
    RETURNING order_id
), decision AS (
    UPDATE router.routing_decisions d
       SET status = $2::text, reject_reason = NULL, updated_at = now()
      FROM claim
     WHERE d.order_id = claim.order_id
), fills AS (
    INSERT INTO router.lp_fills ({", ".join(LP_FILL_COLUMNS)})
    SELECT f.* FROM unnest({_UNNEST}) AS f ({", ".join(LP_FILL_COLUMNS)})
     WHERE EXISTS (SELECT 1 FROM claim)
    ON CONFLICT DO NOTHING
)
SELECT count(*) FROM claim
"""
_LEG_PARAMS = ", ".join(
    f"${i}::{t}" for i, t in enumerate(store.TYPES, start=3 + len(_LP_FILL_TYPES))
)
_LEG_SEQ = 3 + len(_LP_FILL_TYPES) + len(store.TYPES)
# A C-book order: the same, and its B leg's fill (the house book's) with it.
_EXECUTED_C_SQL = _EXECUTED_SQL.replace(
    "\nSELECT count(*) FROM claim",
    f""", leg AS (
    INSERT INTO router.bbook_fills (seq, {store.columns()}) OVERRIDING SYSTEM VALUE
    SELECT ${_LEG_SEQ}::bigint, {_LEG_PARAMS} FROM claim
)
SELECT count(*) FROM claim""",
)


async def record_executed(
    conn: Conn,
    order_id: str,
    status: ExecutionStatus,
    fills: Sequence[AbookFill],
    leg_fill: BookFill | None = None,
    leg_seq: int | None = None,
) -> bool:
    """Turn the SUBMITTED claim EXECUTED with the decision ``status`` and the fills, atomically.

    ``leg_fill``: a C-book order's B leg (the house's fill), written in the same statement at
    ``leg_seq`` of the house book's replay order (``House.reserve``).

    One statement: of a racing Execute and ReconcileExecution writing the same LP execution, the
    one whose UPDATE of the claim commits first writes everything, the other (its UPDATE finds the
    claim no longer SUBMITTED once it may look at it) writes nothing and answers False, then reads
    the winner's fills. False too when the claim is FENCED or gone.
    """
    columns: list[list[Any]] = [[] for _ in LP_FILL_COLUMNS]
    for fill in fills:
        for column, value in zip(columns, _lp_fill_values(fill), strict=True):
            column.append(value)
    if leg_fill is None:
        written: int = await conn.fetchval(_EXECUTED_SQL, order_id, status.value, *columns)
    else:
        written = await conn.fetchval(
            _EXECUTED_C_SQL, order_id, status.value, *columns, *store.values(leg_fill), leg_seq
        )
    return written == 1


def _lp_fill_values(fill: AbookFill) -> tuple[Any, ...]:
    return (
        fill.fill_id,
        fill.order_id,
        fill.account_id,
        fill.symbol,
        fill.client_side.value,
        fill.lp,
        fill.lp_order_id,
        fill.cl_ord_id,
        fill.exec_id,
        fill.volume,
        fill.lp_price,
        fill.price,
        fill.filled_at,
        fill.received_at,
    )


async def lp_fills(conn: Conn, order_id: str) -> list[AbookFill]:
    """The A-book fills of an order in the order they were received."""
    rows = await conn.fetch(
        f"SELECT {', '.join(LP_FILL_COLUMNS)} FROM router.lp_fills WHERE order_id = $1 "
        "ORDER BY seq",
        order_id,
    )
    return [
        AbookFill(
            fill_id=r["fill_id"],
            order_id=r["order_id"],
            account_id=r["account_id"],
            symbol=r["symbol"],
            client_side=Side(r["client_side"]),
            lp=r["lp"],
            lp_order_id=r["lp_order_id"],
            cl_ord_id=r["cl_ord_id"],
            exec_id=r["exec_id"],
            volume=r["volume"],
            lp_price=r["lp_price"],
            price=r["price"],
            filled_at=r["filled_at"],
            received_at=r["received_at"],
        )
        for r in rows
    ]


_UNSUBMIT_SQL = """
WITH claim AS (
    DELETE FROM router.order_claims WHERE order_id = $1 AND claim = 'SUBMITTED'
    RETURNING order_id
)
UPDATE router.routing_decisions d
   SET status = 'REJECTED', reject_reason = $2, updated_at = now()
  FROM claim
 WHERE d.order_id = claim.order_id
"""

_FENCE_SUBMITTED_SQL = """
WITH claim AS (
    UPDATE router.order_claims SET claim = 'FENCED', claimed_at = now()
     WHERE order_id = $1 AND claim = 'SUBMITTED'
    RETURNING order_id
)
UPDATE router.routing_decisions d
   SET status = 'REJECTED', reject_reason = $2, updated_at = now()
  FROM claim
 WHERE d.order_id = claim.order_id
"""


async def record_rejected(conn: Conn, order_id: str, reject_reason: str) -> bool:
    """The LPs filled nothing: decision REJECTED and the SUBMITTED claim deleted, atomically.

    Without a claim the order id may be executed again (a pending order whose price comes back:
    fixgw then sends a new attempt). False when the claim was no longer SUBMITTED.
    """
    tag: str = await conn.execute(_UNSUBMIT_SQL, order_id, reject_reason)
    return tag.endswith(" 1")


async def fence_submitted(conn: Conn, order_id: str, reject_reason: str) -> bool:
    """Reconciliation found no fill: the SUBMITTED claim becomes FENCED, decision REJECTED.

    False when the claim was no longer SUBMITTED (a racing Execute settled it first).
    """
    tag: str = await conn.execute(_FENCE_SUBMITTED_SQL, order_id, reject_reason)
    return tag.endswith(" 1")


# --- Explain ---------------------------------------------------------------------------------------


async def explain(conn: Conn, order_id: str) -> ExplainedDecision | None:
    """The recorded decision of ``order_id`` with its explanation and the fills per venue."""
    row = await conn.fetchrow(
        "SELECT order_id, account_id, symbol, side, volume, book, reason, rule_id, status, "
        "reject_reason, decided_at, level, a_volume, b_volume, hedge_ratio, config_version, "
        "explanation FROM router.routing_decisions WHERE order_id = $1",
        order_id,
    )
    if row is None:
        return None
    legs = await conn.fetch(
        """
        SELECT 'A' AS book, lp AS venue, sum(volume) AS volume,
               trim_scale(round(sum(volume * price) / sum(volume), 10)) AS price
          FROM router.lp_fills WHERE order_id = $1 GROUP BY lp
        UNION ALL
        SELECT 'B', 'BBOOK', volume, price FROM router.bbook_fills WHERE order_id = $1
        ORDER BY 1, 2
        """,
        order_id,
    )
    stored = json.loads(row["explanation"]) if row["explanation"] is not None else {}
    return ExplainedDecision(
        order_id=row["order_id"],
        account_id=row["account_id"],
        symbol=row["symbol"],
        side=Side(row["side"]),
        volume=row["volume"],
        decision=Decision(
            Book(row["book"]),
            row["reason"],
            row["rule_id"],
            row["hedge_ratio"] or Decimal(0),
            row["a_volume"] or Decimal(0),
            row["b_volume"] or Decimal(0),
            row["level"] or "",
            row["config_version"],
        ),
        status=ExecutionStatus(row["status"]),
        reject_reason=row["reject_reason"] or "",
        decided_at=row["decided_at"],
        legs=tuple(VenueLeg(Book(r["book"]), r["venue"], r["volume"], r["price"]) for r in legs),
        inputs=tuple((str(k), str(v)) for k, v in stored.get("inputs", [])),
        steps=tuple(
            (str(st["level"]), str(st["outcome"]), str(st.get("detail", "")))
            for st in stored.get("steps", [])
        ),
    )


# --- flow inputs (router.flow) -------------------------------------------------------------------

_MID_COLUMNS = ("mid_1s", "mid_10s", "mid_60s")


async def load_flow(conn: Conn) -> tuple[list[FlowFill], list[FlowClose]]:
    """Every recorded client fill and closed deal, in the order they were recorded."""
    fills = await conn.fetch(
        "SELECT fill_id, account_id, symbol, side, price, "
        "(extract(epoch FROM fill_time) * 1000)::bigint AS ms, mid_1s, mid_10s, mid_60s "
        "FROM router.flow_fills ORDER BY fill_time, fill_id"
    )
    closes = await conn.fetch(
        "SELECT position_id, account_id, symbol, profit, "
        "(extract(epoch FROM open_time) * 1000)::bigint AS open_ms, "
        "(extract(epoch FROM close_time) * 1000)::bigint AS close_ms "
        "FROM router.flow_closes ORDER BY close_time, position_id"
    )
    return (
        [
            FlowFill(
                r["fill_id"],
                r["account_id"],
                r["symbol"],
                Side(r["side"]),
                r["price"],
                r["ms"],
                (r["mid_1s"], r["mid_10s"], r["mid_60s"]),
            )
            for r in fills
        ],
        [
            FlowClose(
                r["position_id"],
                r["account_id"],
                r["symbol"],
                r["profit"],
                r["open_ms"],
                r["close_ms"],
            )
            for r in closes
        ],
    )


def _ts(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


# New fills and closes, and the markout mids sampled since, in one statement (one round trip, atomic
# without BEGIN and COMMIT): its CTEs share one snapshot, which is safe because a fill's mids are
# sampled only after its insert committed (``FlowFeed.flush``), never in the same flush. A fill's
# horizons sampled in one flush arrive as rows of their own and are folded into one update.
_MIDS_SET = ", ".join(f"{c} = coalesce(m.{c}, f.{c})" for c in _MID_COLUMNS)
_MIDS_BY_HORIZON = ", ".join(
    f"max(mid) FILTER (WHERE horizon = {i}) AS {c}" for i, c in enumerate(_MID_COLUMNS)
)
_RECORD_FLOW_SQL = f"""
WITH new_fills AS (
    INSERT INTO router.flow_fills (fill_id, account_id, symbol, side, price, volume, fill_time)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[],
                         $6::numeric[], $7::timestamptz[])
    ON CONFLICT (fill_id) DO NOTHING RETURNING fill_id
), new_closes AS (
    INSERT INTO router.flow_closes (position_id, account_id, symbol, profit, open_time, close_time)
    SELECT * FROM unnest($8::text[], $9::text[], $10::text[], $11::numeric[], $12::timestamptz[],
                         $13::timestamptz[])
    ON CONFLICT (position_id) DO NOTHING RETURNING position_id
), sampled AS (
    UPDATE router.flow_fills f SET {_MIDS_SET}
      FROM (SELECT fill_id, {_MIDS_BY_HORIZON}
              FROM unnest($14::text[], $15::int[], $16::numeric[]) AS s (fill_id, horizon, mid)
             GROUP BY fill_id) m
     WHERE f.fill_id = m.fill_id
)
SELECT true AS is_fill, fill_id AS id FROM new_fills
UNION ALL
SELECT false, position_id FROM new_closes
"""


async def record_flow(
    conn: Conn,
    fills: Sequence[tuple[FlowFill, Decimal]],
    closes: Sequence[FlowClose],
    mids: Sequence[tuple[str, int, Decimal]],
) -> tuple[set[str], set[str]]:
    """Insert new fills (with their volume) and closes, and the markout mids sampled since, in one
    statement; returns the fill and position ids that were new (a redelivered event's are not)."""
    rows = await conn.fetch(
        _RECORD_FLOW_SQL,
        [f.fill_id for f, _ in fills],
        [f.account_id for f, _ in fills],
        [f.symbol for f, _ in fills],
        [f.side.value for f, _ in fills],
        [f.price for f, _ in fills],
        [v for _, v in fills],
        [_ts(f.time_ms) for f, _ in fills],
        [c.position_id for c in closes],
        [c.account_id for c in closes],
        [c.symbol for c in closes],
        [c.profit for c in closes],
        [_ts(c.open_ms) for c in closes],
        [_ts(c.close_ms) for c in closes],
        [fill_id for fill_id, _, _ in mids],
        [horizon for _, horizon, _ in mids],
        [mid for _, _, mid in mids],
    )
    new_fills = {r["id"] for r in rows if r["is_fill"]}
    return new_fills, {r["id"] for r in rows if not r["is_fill"]}


# --- what-if (router.whatif) ---------------------------------------------------------------------


async def _apply_proposal(conn: Conn, p: Proposal) -> None:
    """Replace the live tables the proposal sets (inside the caller's transaction)."""
    if p.rules is not None:
        await conn.execute("DELETE FROM router.routing_rules")
        for r in p.rules:
            values = (
                r.priority,
                r.client_group,
                r.symbol,
                r.book.value,
                r.c_book_hedge_ratio,
                r.reason,
                r.enabled,
            )
            if r.rule_id:
                await conn.execute(
                    "INSERT INTO router.routing_rules (rule_id, priority, client_group, symbol, "
                    "book, c_book_hedge_ratio, reason, enabled) OVERRIDING SYSTEM VALUE "
                    "VALUES ($8, $1, $2, $3, $4, $5, $6, $7)",
                    *values,
                    r.rule_id,
                )
            else:
                await conn.execute(
                    "INSERT INTO router.routing_rules (priority, client_group, symbol, book, "
                    "c_book_hedge_ratio, reason, enabled) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    *values,
                )
    if p.overrides is not None:
        await conn.execute("DELETE FROM router.account_overrides")
        await conn.executemany(
            "INSERT INTO router.account_overrides (account_id, book, c_book_hedge_ratio, reason) "
            "VALUES ($1, $2, $3, $4)",
            [(o.account_id, o.book.value, o.c_book_hedge_ratio, o.reason) for o in p.overrides],
        )
    if p.volume_limits is not None:
        await conn.execute("DELETE FROM router.bbook_volume_limits")
        await conn.executemany(
            "INSERT INTO router.bbook_volume_limits (client_group, symbol, max_lots, over_limit) "
            "VALUES ($1, $2, $3, $4)",
            [(v.client_group, v.symbol, v.max_lots, v.over_limit.value) for v in p.volume_limits],
        )
    if p.exposure_limits is not None:
        await conn.execute("DELETE FROM router.exposure_limits")
        await conn.executemany(
            "INSERT INTO router.exposure_limits (symbol, max_net_lots) VALUES ($1, $2)",
            list(p.exposure_limits.items()),
        )
    if p.flow_thresholds is not None:
        await conn.execute("DELETE FROM router.flow_thresholds")
        await conn.executemany(
            "INSERT INTO router.flow_thresholds (client_group, min_closed_deals, net_profit_min, "
            "win_rate_min, min_markout_fills, toxicity_min_bps, latency_arb_share_min) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (
                    t.client_group,
                    t.min_closed_deals,
                    t.net_profit_min,
                    t.win_rate_min,
                    t.min_markout_fills,
                    t.toxicity_min_bps,
                    t.latency_arb_share_min,
                )
                for t in p.flow_thresholds
            ],
        )
    if p.volatility_thresholds is not None:
        await conn.execute("DELETE FROM router.volatility_thresholds")
        await conn.executemany(
            "INSERT INTO router.volatility_thresholds (symbol, max_bps, book, c_book_hedge_ratio) "
            "VALUES ($1, $2, $3, $4)",
            [
                (t.symbol, t.max_bps, t.book.value, t.c_book_hedge_ratio)
                for t in p.volatility_thresholds
            ],
        )


_RECORDED_SQL = """
SELECT d.order_id, d.account_id, d.symbol, d.side, d.volume, d.book, d.reason, d.level,
       d.a_volume, d.b_volume, d.explanation,
       coalesce(b.contract_size, a.contract_size) AS contract_size,
       coalesce(b.quote_to_usd_rate, a.quote_to_usd_rate) AS usd_rate,
       (SELECT sum(x.volume * x.price) / sum(x.volume)
          FROM (SELECT volume, price FROM router.bbook_fills WHERE order_id = d.order_id
                UNION ALL
                SELECT volume, price FROM router.lp_fills WHERE order_id = d.order_id) x
       ) AS price
  FROM router.routing_decisions d
  LEFT JOIN router.bbook_fills b ON b.order_id = d.order_id
  LEFT JOIN router.abook_orders a ON a.order_id = d.order_id
 WHERE d.decided_at >= $1 AND d.decided_at < $2
   AND d.status IN ('FILLED', 'PARTIALLY_FILLED')
 ORDER BY d.decided_at, d.order_id
"""


async def recorded_orders(
    conn: Conn, start: datetime, end: datetime
) -> tuple[list[RecordedOrder], int]:
    """The filled decisions of [start, end), oldest first, and the number of closes left out."""
    orders: list[RecordedOrder] = []
    closes = 0
    for r in await conn.fetch(_RECORDED_SQL, start, end):
        if r["level"] == "CLOSE" or r["reason"] == "CLOSE_FOLLOWS_VENUE":
            closes += 1
            continue
        book = Book(r["book"])
        volume = r["volume"]
        a, b = r["a_volume"], r["b_volume"]
        if a is None or b is None:  # decided before splits were recorded
            a, b = (volume, Decimal(0)) if book is Book.A else (Decimal(0), volume)
        stored = json.loads(r["explanation"]) if r["explanation"] is not None else {}
        recorded = {str(k): str(v) for k, v in stored.get("inputs", [])}
        orders.append(
            RecordedOrder(
                order_id=r["order_id"],
                inputs=inputs_from_explanation(
                    recorded, r["account_id"], r["symbol"], Side(r["side"]), volume
                ),
                book=book,
                reason=r["reason"],
                level=r["level"] or "",
                a_volume=a,
                b_volume=b,
                price=r["price"],
                contract_size=r["contract_size"],
                usd_rate=r["usd_rate"],
            )
        )
    return orders, closes


class ProposalRefused(Exception):
    """The configuration tables refused the proposal (a constraint)."""


async def what_if(
    conn: Conn, proposal: Proposal, start: datetime, end: datetime
) -> tuple[RoutingConfig, list[RecordedOrder], int]:
    """The proposal applied inside a transaction that is rolled back: the configuration it makes
    (its version is the live one it was applied on), the period's recorded orders and the number
    of closes left out. Raises ``ProposalRefused`` for a proposal a table constraint refuses."""
    # The recorded orders first, outside the proposal's transaction: its trigger holds the
    # config-version lock (other configuration changes wait) only while the proposal is applied
    # and loaded.
    orders, closes = await recorded_orders(conn, start, end)
    tx = conn.transaction(isolation="repeatable_read")
    await tx.start()
    try:
        version = await config_version(conn)
        try:
            await _apply_proposal(conn, proposal)
        except (asyncpg.IntegrityConstraintViolationError, asyncpg.DataError) as exc:
            raise ProposalRefused(str(exc)) from exc
        routing = await _load_routing(conn, version)
    finally:
        await tx.rollback()
    return routing, orders, closes
