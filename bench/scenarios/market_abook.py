"""Scenario 2: market orders through the A-book, edge -> oms -> router -> fixgw -> LP and back.

A routing rule sends a bench-only client group to the A-book. The first order tells whether
A-book execution exists: a reject with BOOK_UNAVAILABLE means the router cannot execute there yet,
and the scenario reports ``skipped`` with what it could measure of the path today. When A-book
orders fill, it runs the same rates and burst as scenario 1 (LP hop included in the floor sum).

What exists of the path now: fixgw's own NOS -> ER round trip is measured only if fixgw exposes
order entry over gRPC (it does not yet: FixGatewayService lists sessions only); the LP simulator's
side of that hop is measured by a bare QuickFIX initiator of the bench talking to the stack's LP
simulator, against the two-bare-engines floor.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from bench.context import Context
from bench.floors.quickfix import round_trips
from bench.scenarios.market_bbook import PATH as BBOOK_PATH
from bench.scenarios.orders import (
    FULL_PLAN,
    QUICK_PLAN,
    OrderFlow,
    burst_errors,
    run_burst,
    run_rates,
    targets,
)
from bench.stackctl import BENCH_COMP_ID, LPSIM_COMP_ID
from fxmesh.v1 import fixgw_pb2

CLIENT_GROUP = "bench_abook"
RULE_REASON = "BENCH_A_BOOK"
SYMBOLS = ("EURUSD",)
ACCOUNTS_FULL, ACCOUNTS_QUICK = 1000, 20
PATH = (
    *BBOOK_PATH,
    ("quickfix_nos_er", 1, "fixgw -> LP NewOrderSingle -> ExecutionReport"),
)
# gRPC methods of FixGatewayService that are not order entry.
FIXGW_NON_ORDER_METHODS = frozenset({"ListSessions"})


async def _route_group_to_a_book(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        rule_id: int = await conn.fetchval(
            "INSERT INTO router.routing_rules (priority, client_group, symbol, book, reason) "
            "VALUES (-1000, $1, NULL, 'A', $2) RETURNING rule_id",
            CLIENT_GROUP,
            RULE_REASON,
        )
        return rule_id
    finally:
        await conn.close()


async def _drop_rule(dsn: str, rule_id: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("DELETE FROM router.routing_rules WHERE rule_id = $1", rule_id)
    finally:
        await conn.close()


async def _probe(flow: OrderFlow, within: float = 20.0) -> tuple[str | None, dict[str, Any] | None]:
    """Place orders until one is routed by the bench rule (the router reloads rules on NOTIFY)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    n = 0
    while True:
        kind, order = await flow.place(flow.client_order_id("probe", n))
        n += 1
        if order is None or order.get("book") == "A" or loop.time() > deadline:
            return kind, order
        await asyncio.sleep(0.5)


def _fixgw_order_entry() -> list[str]:
    service = fixgw_pb2.DESCRIPTOR.services_by_name["FixGatewayService"]
    return sorted(m for m in service.methods_by_name if m not in FIXGW_NON_ORDER_METHODS)


async def _measure_existing(ctx: Context) -> dict[str, Any]:
    order_entry = _fixgw_order_entry()
    fixgw: dict[str, Any] = {
        "skipped": "fixgw exposes no order entry over gRPC yet (FixGatewayService: "
        + ", ".join(
            sorted(fixgw_pb2.DESCRIPTOR.services_by_name["FixGatewayService"].methods_by_name)
        )
        + ")"
    }
    if order_entry:
        fixgw = {"skipped": f"fixgw now has {order_entry}: wire its round trip into this scenario"}
    lpsim = await round_trips(
        200 if ctx.quick else 2000,
        acceptor_port=ctx.s.lpsim_fix_port,
        sender=BENCH_COMP_ID,
        target=LPSIM_COMP_ID,
    )
    floor_p50 = ctx.floor_ms("quickfix_nos_er", "p50")
    floor_p99 = ctx.floor_ms("quickfix_nos_er", "p99")
    lat = lpsim["latency_ms"]
    return {
        "fixgw_nos_er_round_trip": fixgw,
        "lpsim_nos_er_round_trip": {
            "what": "a bare QuickFIX initiator in the bench -> the stack's LP simulator "
            "(FIX 4.4 acceptor, decisions on its asyncio loop) -> New + Fill ExecutionReports; "
            "the LP end of the A-book hop",
            **lpsim,
            "ratio_to_quickfix_floor": {
                "p50": round(lat["p50"] / floor_p50, 2),
                "p99": round(lat["p99"] / floor_p99, 2),
            },
        },
    }


async def run(ctx: Context) -> dict[str, Any]:
    plan = QUICK_PLAN if ctx.quick else FULL_PLAN
    stack = ctx.s
    path = ctx.path_floor(PATH)
    accounts = await stack.seed_accounts(
        ACCOUNTS_QUICK if ctx.quick else ACCOUNTS_FULL, client_group=CLIENT_GROUP, prefix="abook"
    )
    rule_id = await _route_group_to_a_book(stack.dsn)
    pool = stack.edge_pool()
    errors: list[str] = []
    try:
        flow = OrderFlow(pool, accounts, SYMBOLS)
        kind, order = await _probe(flow)
        probe = {"outcome": kind or "FILLED", "order": order}
        if order is None:
            raise RuntimeError(f"A-book probe order failed: {kind}")
        if order.get("rejectReason") == "BOOK_UNAVAILABLE" or order.get("book") != "A" or kind:
            return {
                "skipped": "A-book routing not available",
                "probe": probe,
                "path_floor": path,
                "measured_now": await _measure_existing(ctx),
                "errors": errors,
            }
        ctx.say(f"market_abook: A-book fills; rates (bound p99 {plan.bound_p99_ms} ms)")
        steps, capacity, first_fail, results = await run_rates(ctx, flow, plan, path)
        burst = await run_burst(ctx, flow, plan)
    finally:
        await pool.close()
        await _drop_rule(stack.dsn, rule_id)
    errors = burst_errors(ctx.quick, results, burst)
    return {
        "load": {"accounts": len(accounts), "client_group": CLIENT_GROUP, "symbols": list(SYMBOLS)},
        "probe": probe,
        "rate_unit": "orders/s",
        "bound_p99_ms": plan.bound_p99_ms,
        "path_floor": path,
        "series": {"A-book market orders": steps},
        "capacity": {"max_sustainable_per_s": capacity, "first_failing_rate_per_s": first_fail},
        "burst": burst,
        "measured_now": await _measure_existing(ctx),
        "targets": targets(ctx.quick, steps, capacity, burst),
        "errors": errors,
    }
