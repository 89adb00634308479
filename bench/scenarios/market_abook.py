"""Scenario 2: market orders through the A-book, edge -> oms -> router -> fixgw -> LP and back.

A routing rule sends a bench-only client group to the A-book; every order is sent by fixgw to the
stack's LP simulator as a NewOrderSingle and booked at the LP's fill (plus markup). The scenario
runs the same rates and burst as scenario 1 with the LP hop in the floor sum, and measures the
gateway on its own: fixgw's ExecuteOrder over gRPC (fixgw -> LP -> fills durable in fixgw), and
the LP end alone (a bare QuickFIX initiator of the bench talking to the stack's LP simulator).
When the first order is not routed to the A-book (a router that cannot execute there), the
scenario reports ``skipped`` with what it could measure.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg

from bench.context import Context
from bench.floors.quickfix import round_trips
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
from bench.stats import Latencies
from fxmesh.grpcclient import open_channel
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, types_pb2

CLIENT_GROUP = "bench_abook"
RULE_REASON = "BENCH_A_BOOK"
SYMBOLS = ("EURUSD",)
ACCOUNTS_FULL, ACCOUNTS_QUICK = 1000, 20


def hops(router_in_oms: bool) -> tuple[tuple[str, int, str], ...]:
    """The hops of one order and the floor each one is compared with (the router in the oms
    process takes the oms -> router gRPC hop off)."""
    grpc = (
        ("grpc_unary", 2, "edge -> oms PlaceOrder, router (in oms) -> fixgw ExecuteOrder")
        if router_in_oms
        else (
            "grpc_unary",
            3,
            "edge -> oms PlaceOrder, oms -> router Execute, router -> fixgw ExecuteOrder",
        )
    )
    return (
        ("http_trivial", 1, "client -> edge: HTTP request/response"),
        grpc,
        (
            "pg_insert_commit",
            5,
            "commits: oms accept+submit, router claim, fixgw attempt, fixgw fills + router "
            "fills, oms fill/position/deal/ledger/outbox",
        ),
        (
            "redis_set_publish",
            2,
            "Redis round trips: oms reads prices (MGET), router reads the quote",
        ),
        ("quickfix_nos_er", 1, "fixgw -> LP NewOrderSingle -> ExecutionReport"),
    )


FIXGW_PATH = (
    ("grpc_unary", 1, "bench -> fixgw ExecuteOrder"),
    ("pg_insert_commit", 2, "fixgw commits: the attempt before sending, the fills after"),
    ("quickfix_nos_er", 1, "fixgw -> LP NewOrderSingle -> ExecutionReport"),
)


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


async def _fixgw_round_trips(ctx: Context, count: int) -> dict[str, Any]:
    """fixgw's ExecuteOrder alone, one order at a time, straight from the bench over gRPC."""
    config = ctx.s.s.config
    address = f"{config.host}:{config.ports.fixgw}"
    run = uuid.uuid4().hex[:8]
    latencies = Latencies()
    statuses: dict[str, int] = {}
    async with open_channel(address) as channel:
        stub = fixgw_pb2_grpc.FixGatewayServiceStub(channel)
        for n in range(count):
            request = fixgw_pb2.ExecuteOrderRequest(
                order_id=f"bench-{run}-{n}",
                account_id="bench",
                symbol="EURUSD",
                side=types_pb2.SIDE_BUY if n % 2 == 0 else types_pb2.SIDE_SELL,
                volume="0.01",
                contract_size="100000",
            )
            started = time.perf_counter()
            response = await stub.ExecuteOrder(request, timeout=10)
            latencies.record(time.perf_counter() - started)
            status = fixgw_pb2.LpOrderStatus.Name(response.execution.status)
            statuses[status] = statuses.get(status, 0) + 1
    summary = latencies.summary()
    floor = ctx.path_floor(FIXGW_PATH)
    return {
        "what": "bench -> fixgw ExecuteOrder (attempt committed, NewOrderSingle to the stack's LP "
        "simulator, reports aggregated, fills committed) -> answer; one order in flight",
        "latency_ms": summary,
        "statuses": statuses,
        "path_floor": floor,
        "ratio_to_floor_sum": {
            pct: round(summary[pct] / floor[f"{pct}_ms"], 2) if floor.get(f"{pct}_ms") else None
            for pct in ("p50", "p99")
        },
    }


async def _measure_gateway(ctx: Context) -> dict[str, Any]:
    fixgw = await _fixgw_round_trips(ctx, 100 if ctx.quick else 1000)
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
        "fixgw_execute_order_round_trip": fixgw,
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
    path = ctx.path_floor(hops(stack.router_in_oms))
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
                "measured_now": await _measure_gateway(ctx),
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
        "gateway": await _measure_gateway(ctx),
        "targets": targets(ctx.quick, steps, capacity, burst, min_capacity=500.0),
        "errors": errors,
    }
