"""Scenario 1: market orders through the B-book, edge REST to committed fill and back.

Open-loop load at fixed rates (100, 300 and 1000 orders/s, plus a climb to find the highest rate
whose p99 stays within the bound), then a burst of 2000 orders in 2 s whose every order must be in
PostgreSQL afterwards, filled.
"""

from __future__ import annotations

from typing import Any

from bench.context import Context
from bench.scenarios.orders import (
    FULL_PLAN,
    QUICK_PLAN,
    OrderFlow,
    burst_errors,
    run_burst,
    run_rates,
    targets,
)

ACCOUNTS_FULL, ACCOUNTS_QUICK = 1000, 50
# One symbol: the router serialises execution per symbol (house exposure), so this measures the
# path as the most traded instrument sees it.
SYMBOLS = ("EURUSD",)


def hops(router_in_oms: bool) -> tuple[tuple[str, int, str], ...]:
    """The hops of one order and the floor each one is compared with (the router in the oms
    process takes one gRPC hop off, and two commits: the order is accepted, filled by the house
    and booked in one transaction)."""
    grpc = (
        ("grpc_unary", 1, "edge -> oms PlaceOrder (oms calls its router in process)")
        if router_in_oms
        else ("grpc_unary", 2, "edge -> oms PlaceOrder, oms -> router Execute")
    )
    commits = (
        (
            "pg_insert_commit",
            1,
            "one commit: order, router claim + house fill, position/deal/ledger/outbox",
        )
        if router_in_oms
        else (
            "pg_insert_commit",
            3,
            "commits: oms accept+submit, router claim+fill, oms fill/position/deal/ledger/outbox",
        )
    )
    return (
        ("http_trivial", 1, "client -> edge: HTTP request/response"),
        grpc,
        commits,
        (
            "redis_set_publish",
            2,
            "Redis round trips: oms reads prices (MGET), bbook reads the quote",
        ),
    )


async def run(ctx: Context) -> dict[str, Any]:
    plan = QUICK_PLAN if ctx.quick else FULL_PLAN
    stack = ctx.s
    path = ctx.path_floor(hops(stack.router_in_oms))
    demo = await stack.login_demo()
    accounts = await stack.seed_accounts(ACCOUNTS_QUICK if ctx.quick else ACCOUNTS_FULL)
    pool = stack.edge_pool()
    try:
        flow = OrderFlow(pool, accounts, SYMBOLS)
        # One order from the demo account (logged in through edge) proves the path before load.
        probe = OrderFlow(pool, [demo], SYMBOLS, tag=flow.tag)
        kind, order = await probe.place(probe.client_order_id("probe", 0))
        if kind is not None:
            raise RuntimeError(f"first market order was not filled: {kind} {order}")
        ctx.say(f"market_bbook: {len(accounts)} accounts; rates (bound p99 {plan.bound_p99_ms} ms)")
        steps, capacity, first_fail, results = await run_rates(ctx, flow, plan, path)
        ctx.say(f"market_bbook: burst of {plan.burst_orders} in {plan.burst_seconds} s")
        burst = await run_burst(ctx, flow, plan)
    finally:
        await pool.close()
    errors = burst_errors(ctx.quick, results, burst)
    return {
        "load": {
            "accounts": len(accounts),
            "symbols": list(SYMBOLS),
            "volume_lots": "0.01",
            "sides": "alternating BUY/SELL",
            "max_connections": 256,
            "request_timeout_s": plan.timeout,
        },
        "rate_unit": "orders/s",
        "bound_p99_ms": plan.bound_p99_ms,
        "path_floor": path,
        "series": {"market orders": steps},
        "capacity": {
            "max_sustainable_per_s": capacity,
            "first_failing_rate_per_s": first_fail,
            "rule": "p99 <= bound, failures + 503/429 refusals <= 0.1 %, achieved >= 95 % of "
            "offered; a failing step is run once more and fails only if both runs do",
        },
        "burst": burst,
        "targets": targets(ctx.quick, steps, capacity, burst),
        "errors": errors,
    }
