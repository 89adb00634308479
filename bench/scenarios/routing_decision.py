"""Scenario 7: one routing decision in process, with 10 to 10 000 rules and every input.

The router's rule engine (``router.rules.route``) decides orders against a configuration of N
routing rules over 50 client groups and 40 symbols, 1 000 account overrides, B-book volume maxima
per symbol and per group, exposure limits, flow thresholds (per group and for any group),
volatility thresholds (per symbol and for any symbol) and LP health; every order carries its
account's flow figures (closed deals, markouts, holding times, latency arbitrage) and its symbol's
realized volatility, as the router's flow feed computes them. Orders hit rules, overrides, the
volatility / profitable / toxic levels, splits, exposure hedges and the LP fallback in a fixed mix. Each decision is timed on its own (no I/O: the
inputs are what the router has in memory when an order arrives); the explanation's JSON, which the
router stores with the decision, is timed separately.

Targets: p99 < 100 us with 1 000 rules, and growth with the rule count no faster than log n
(p99 at 10 000 rules / p99 at 10 rules below log2(10 000) / log2(10) = 4).
"""

from __future__ import annotations

import gc
import math
import random
import time
from decimal import Decimal
from typing import Any

from bbook import Side
from bench.context import Context
from bench.stats import Latencies
from router import (
    AccountOverride,
    Book,
    FlowThreshold,
    LpFallback,
    LpHealth,
    OverLimit,
    RoutingConfig,
    RoutingInputs,
    RoutingRule,
    SymbolRouting,
    TraderStats,
    VolatilityThreshold,
    VolumeLimit,
    explanation_json,
    route,
)

RULE_COUNTS = (10, 100, 1_000, 10_000)
ZERO = Decimal(0)
TARGET_P99_US = 100.0
GROUPS = [f"g{i}" for i in range(50)]
SYMBOLS = [f"S{i:02d}" for i in range(40)]
HEALTH = (
    LpHealth(True, ("LPA", "LPB"), (), 120),
    LpHealth(True, ("LPB",), ("LPA",), 300),
    LpHealth(True, (), ("LPA", "LPB"), 80),
    LpHealth(False),
    # fixgw's health block: one LP degraded (the other healthy), every LP degraded.
    LpHealth(True, ("LPB",), (), 150, (("LPA", "REJECT_RATIO"),)),
    LpHealth(True, (), (), 90, (("LPA", "REJECT_RATIO"), ("LPB", "FILL_LATENCY"))),
)


def _config(rule_count: int, rnd: random.Random) -> RoutingConfig:
    books = (Book.A, Book.B, Book.C)
    rules = [
        RoutingRule(
            rule_id=i,
            priority=rnd.randrange(1000),
            client_group=rnd.choice([None, *GROUPS]),
            symbol=rnd.choice([None, *SYMBOLS]),
            book=books[i % 3],
            reason=f"RULE_{i}",
            c_book_hedge_ratio=Decimal("0.35"),
        )
        for i in range(1, rule_count + 1)
    ]
    overrides = [
        AccountOverride(str(100_000 + i), books[i % 3], "FORCED", Decimal("0.5"))
        for i in range(1000)
    ]
    limits = [VolumeLimit(i, None, s, Decimal(5), OverLimit.SPLIT) for i, s in enumerate(SYMBOLS)]
    limits += [VolumeLimit(100 + i, g, None, Decimal(3), OverLimit.A) for i, g in enumerate(GROUPS)]
    flow = [
        FlowThreshold(
            i + 1,
            g,
            min_closed_deals=20,
            net_profit_min=Decimal(5000 + 100 * i),
            win_rate_min=Decimal("0.65"),
            min_markout_fills=20,
            toxicity_min_bps=Decimal("1.5"),
            latency_arb_share_min=Decimal("0.25"),
        )
        for i, g in enumerate([None, *GROUPS[::2]])
    ]
    volatility = [
        VolatilityThreshold(
            i + 1, s, Decimal(12 + i % 7), books[i % 3], Decimal("0.5") if i % 3 == 2 else ZERO
        )
        for i, s in enumerate([None, *SYMBOLS[::2]])
    ]
    return RoutingConfig.build(
        42,
        rules,
        overrides,
        limits,
        {s: Decimal(20) for s in SYMBOLS},
        {
            s: SymbolRouting(Decimal("0.01"), LpFallback(("B", "REJECT")[i % 2]))
            for i, s in enumerate(SYMBOLS)
        },
        flow,
        volatility,
    )


def _trader(rnd: random.Random) -> TraderStats:
    """Flow figures of one account: mostly ordinary, some profitable, some toxic."""
    closed = rnd.randrange(0, 200)
    wins = rnd.randrange(0, closed + 1)
    markout = [Decimal(rnd.randrange(-300, 400)) / 100 for _ in range(3)]
    return TraderStats(
        closed_deals=closed,
        wins=wins,
        net_profit=Decimal(rnd.randrange(-20_000, 12_000)),
        markout_fills=rnd.randrange(0, 400),
        markout_1s_bps=markout[0],
        markout_10s_bps=markout[1],
        markout_60s_bps=markout[2],
        avg_holding_seconds=Decimal(rnd.randrange(1, 36_000)) / 10,
        latency_arb_deals=rnd.randrange(0, wins // 3 + 1),
    )


def _orders(count: int, rnd: random.Random) -> list[RoutingInputs]:
    traders = [_trader(rnd) for _ in range(500)]
    return [
        RoutingInputs(
            account_id=str(rnd.randrange(100_000, 102_000)),  # half of them overridden
            client_group=rnd.choice([*GROUPS, "standard"]),
            symbol=rnd.choice(SYMBOLS),
            side=rnd.choice((Side.BUY, Side.SELL)),
            volume=Decimal(rnd.randrange(1, 800)) / 100,
            house_net_lots=Decimal(rnd.randrange(-2500, 2500)) / 100,
            lp_health=rnd.choice(HEALTH),
            trader=rnd.choice(traders),
            volatility=Decimal(rnd.randrange(0, 2500)) / 100,
        )
        for _ in range(count)
    ]


def measure(rule_count: int, decisions: int, seed: int = 7) -> dict[str, Any]:
    """Time ``decisions`` decisions against ``rule_count`` rules; latencies in microseconds."""
    rnd = random.Random(seed)
    config = _config(rule_count, rnd)
    orders = _orders(decisions, rnd)
    for inputs in orders[:2000]:  # warm up
        route(config, inputs)
    decide, explain = Latencies(), Latencies()
    books: dict[str, int] = {}
    levels: dict[str, int] = {}
    gc.disable()
    try:
        for inputs in orders:
            began = time.perf_counter()
            decision = route(config, inputs)
            decided = time.perf_counter()
            explanation_json(decision)
            explain.record(time.perf_counter() - decided)
            decide.record(decided - began)
            books[decision.book.value] = books.get(decision.book.value, 0) + 1
            levels[decision.level] = levels.get(decision.level, 0) + 1
    finally:
        gc.enable()
    return {
        "rules": rule_count,
        "decide_us": _us(decide),
        "explanation_json_us": _us(explain),
        "books": books,
        "levels": levels,
    }


def _us(lat: Latencies) -> dict[str, float]:
    summary = lat.summary()
    return {k: round(summary[k] * 1000, 1) for k in ("p50", "p99", "max") if k in summary}


async def run(ctx: Context) -> dict[str, Any]:
    decisions = 5_000 if ctx.quick else 50_000
    steps = []
    for count in RULE_COUNTS:
        ctx.say(f"routing decision: {count} rules")
        steps.append(measure(count, decisions))
    by_count = {s["rules"]: s for s in steps}
    p99_1000 = by_count[1_000]["decide_us"]["p99"]
    growth = by_count[10_000]["decide_us"]["p99"] / max(by_count[10]["decide_us"]["p99"], 0.1)
    log_bound = math.log2(10_000) / math.log2(10)
    judged = not ctx.quick
    return {
        "result": {"decisions_per_step": decisions, "steps": steps},
        "targets": [
            {
                "target": f"p99 of one decision with 1 000 rules < {TARGET_P99_US:g} us",
                "limit": str(TARGET_P99_US),
                "measured": p99_1000,
                "pass": p99_1000 < TARGET_P99_US if judged else None,
            },
            {
                "target": "p99 grows with the rule count no faster than log n (10 -> 10 000)",
                "limit": str(round(log_bound, 2)),
                "measured": round(growth, 2),
                "pass": growth < log_bound if judged else None,
            },
        ],
        "errors": [],
    }
