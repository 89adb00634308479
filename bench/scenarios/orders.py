"""Market-order load through edge, shared by the B-book and A-book scenarios.

Orders are spread round-robin over many funded accounts (one account's orders serialise on its
row lock, and every order opens a position the next margin check reads), alternate BUY and SELL
(the house book stays flat), and carry a unique clientOrderId so the burst can be checked in
PostgreSQL afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench import hops
from bench.context import Context
from bench.loadgen import REFUSED, Send, StepResult, run_open_loop, search_capacity
from bench.rawhttp import HttpError, HttpPool
from bench.stackctl import BenchAccount
from bench.stats import Latencies

VOLUME = "0.01"
PATH = "/api/orders/market"
# Overload refusals (admission control): answered fast with Retry-After, nothing was stored.
REFUSAL_STATUSES = frozenset({503, 429})
MAX_REFUSED_RETRIES = 30
OVERLOAD_FACTOR = 2.0
LOOP_LAG_BOUNDS_S = (0.025, 0.05, 0.1)  # bucket bounds of fxmesh.metrics.LATENCY_BUCKETS


@dataclass(frozen=True, slots=True)
class LoadPlan:
    """Rates and durations of one order-rate scenario."""

    bound_p99_ms: float
    ladder: tuple[float, ...]
    fixed_rates: tuple[float, ...]
    duration: float
    warmup: float
    overload_duration: float
    burst_orders: int
    burst_seconds: float
    timeout: float = 30.0
    search: bool = True
    # Low rates run longer so their percentiles rest on at least this many orders (max 20 s).
    min_samples: int = 0

    def duration_at(self, rate: float) -> float:
        return max(self.duration, min(20.0, self.min_samples / rate))


FULL_PLAN = LoadPlan(
    bound_p99_ms=50.0,
    ladder=(10, 25, 50, 100, 200, 300, 400, 600, 800, 1000, 1400, 2000),
    fixed_rates=(100, 300, 1000),
    duration=8.0,
    warmup=2.0,
    overload_duration=4.0,
    burst_orders=2000,
    burst_seconds=2.0,
    min_samples=200,
)
QUICK_PLAN = LoadPlan(
    bound_p99_ms=50.0,
    ladder=(),
    fixed_rates=(20,),
    duration=2.0,
    warmup=0.5,
    overload_duration=2.0,
    # Well inside what a busy 2-core CI machine sustains: --quick asserts no errors, so it must not
    # push edge's 5 s deadline to oms.
    burst_orders=100,
    burst_seconds=0.5,
    search=False,
)


@dataclass(slots=True)
class OrderFlow:
    """Builds ``send`` functions that place market orders for a pool of accounts."""

    pool: HttpPool
    accounts: Sequence[BenchAccount]
    symbols: Sequence[str]
    tag: str = field(default_factory=lambda: secrets.token_hex(3))
    seq: int = 0
    acked: dict[str, str] = field(default_factory=dict)  # clientOrderId -> orderId (if recording)
    # Every 503 / 429 answer (first tries and retries), and its time from send to refusal.
    refusals: collections.Counter[int] = field(default_factory=collections.Counter)
    time_to_refusal: Latencies = field(default_factory=Latencies)
    # clientOrderId -> times it was sent again after Retry-After
    retries: collections.Counter[str] = field(default_factory=collections.Counter)
    _auth: list[dict[str, str]] = field(init=False)

    def __post_init__(self) -> None:
        self._auth = [{"authorization": f"Bearer {a.token}"} for a in self.accounts]

    def client_order_id(self, prefix: str, i: int) -> str:
        return f"{self.tag}-{prefix}-{i}"

    async def place(self, client_order_id: str) -> tuple[str | None, dict[str, Any] | None]:
        """One order; (failure kind or None, the order JSON when there was one)."""
        kind, order, _ = await self._place(client_order_id, self._next())
        return kind, order

    def _next(self) -> int:
        k = self.seq
        self.seq += 1
        return k

    async def _place(
        self, client_order_id: str, k: int
    ) -> tuple[str | None, dict[str, Any] | None, int | None]:
        """Order ``k`` (its account, symbol and side); the kind, the order, a refusal's
        Retry-After. A 503 / 429 is a refusal (``refused_<status>``), timed apart."""
        body = json.dumps(
            {
                "symbol": self.symbols[k % len(self.symbols)],
                "side": "BUY" if k % 2 == 0 else "SELL",
                "volume": VOLUME,
                "clientOrderId": client_order_id,
            },
            separators=(",", ":"),
        ).encode()
        started = time.perf_counter()
        try:
            # Idempotency-Key: a retry keeps the place in edge's line its first refusal gave it.
            headers = {**self._auth[k % len(self._auth)], "idempotency-key": client_order_id}
            reply = await self.pool.request("POST", PATH, body, headers)
        except HttpError as exc:
            return f"connection_error:{str(exc).split(':')[0]}", None, None
        if reply.status in REFUSAL_STATUSES:
            self.refusals[reply.status] += 1
            self.time_to_refusal.record(time.perf_counter() - started)
            return f"{REFUSED}{reply.status}", None, reply.retry_after
        if reply.status != 200:
            # 504 ORDER_OUTCOME_UNKNOWN carries Retry-After too: the same clientOrderId finds it.
            return f"http_{reply.status}", None, reply.retry_after
        order: dict[str, Any] = reply.json()["order"]
        if order["status"] != "FILLED":
            return f"{order['status'].lower()}:{order.get('rejectReason')}", order, None
        return None, order, None

    def sender(self, prefix: str, *, record: bool = False, retry_refused: bool = False) -> Send:
        """``record``: keep each FILLED order's id. ``retry_refused``: a refused order (or one
        whose outcome edge could not tell) is sent again with the same clientOrderId after its
        Retry-After, as a client should, until it is answered otherwise
        (``MAX_REFUSED_RETRIES`` at most)."""

        async def send(i: int, _scheduled: float) -> str | None:
            cid = self.client_order_id(prefix, i)
            k = self._next()
            kind, order, retry_after = await self._place(cid, k)
            retries = 0
            while retry_refused and retry_after is not None and retries < MAX_REFUSED_RETRIES:
                self.retries[cid] += 1
                retries += 1
                await asyncio.sleep(retry_after)
                kind, order, retry_after = await self._place(cid, k)
            if record and kind is None and order is not None:
                self.acked[cid] = order["orderId"]
            return kind

        return send


def ratios(step: StepResult, path: dict[str, Any]) -> dict[str, float | None]:
    if step.ok == 0:
        return {"p50": None, "p99": None}
    return {
        "p50": round(step.latency.percentile_ms(50.0) / path["p50_ms"], 2),
        "p99": round(step.latency.percentile_ms(99.0) / path["p99_ms"], 2),
    }


async def run_rates(
    ctx: Context, flow: OrderFlow, plan: LoadPlan, path: dict[str, Any]
) -> tuple[list[dict[str, Any]], float | None, float | None, list[StepResult]]:
    """Capacity search plus the fixed rates; step documents sorted by rate."""
    meter = ctx.s.cpu_meter()
    chain = ctx.s.order_hops()
    lag_hops = ctx.s.loop_lag_hops()
    wait_hops, commit_hops, group_hops = ctx.s.queue_hops()
    count_hops = ctx.s.count_hops()
    hop_list = [hop for hop, _ in chain] + lag_hops + wait_hops + commit_hops + group_hops
    hop_list += count_hops
    kinds = {hop.name: "lag" for hop in lag_hops}
    kinds |= {hop.name: "wait" for hop in wait_hops}
    kinds |= {hop.name: "commit" for hop in commit_hops}
    kinds |= {hop.name: "group" for hop in group_hops}
    kinds |= {hop.name: "count" for hop in count_hops}

    def split(snapshot: hops.Snapshot, kind: str) -> hops.Snapshot:
        """The readings of one kind: the order path's handler timings ("path"), the processes'
        loop lag, the queue waits, the group commit's timings, the group sizes or the
        counters."""
        return {k: v for k, v in snapshot.items() if kinds.get(k, "path") == kind}

    steps: dict[float, StepResult] = {}
    first_fail: float | None = None

    async def run_rate(rate: float, duration: float | None = None) -> StepResult:
        scrapes: list[asyncio.Task[hops.Texts]] = []
        step = await run_open_loop(
            flow.sender(f"r{int(rate)}x{len(steps)}"),
            rate=rate,
            duration=duration or plan.duration_at(rate),
            warmup=plan.warmup,
            request_timeout=plan.timeout,
            meter=meter,
            on_measure_start=lambda: scrapes.append(asyncio.create_task(hops.fetch(hop_list))),
        )
        before = hops.read(hop_list, await scrapes[0])
        earlier = steps.get(rate)
        if earlier is not None:  # the capacity search ran this rate again: keep what it saw
            step.extra["earlier_attempts"] = [
                *earlier.extra.pop("earlier_attempts", []),
                earlier.as_json(plan.bound_p99_ms),
            ]
        steps[rate] = step
        lat = step.latency.summary()
        after = await hops.scrape(hop_list)
        means = hops.mean_ms(split(before, "path"), split(after, "path"))
        lag_before, lag_after = split(before, "lag"), split(after, "lag")
        # A step's outliers with a late timer beside them were the process stopped (a long
        # callback, a collection, the CPU elsewhere); without one they waited on something else.
        step.extra["event_loop_lag"] = {
            "note": "timer wake-ups every 100 ms per process over the step, and how many came "
            "more than 25 / 50 / 100 ms late",
            "by_process": hops.over(lag_before, lag_after, LOOP_LAG_BOUNDS_S),
        }
        step.extra["queues"] = {
            "note": "mean wait of the orders that queued for admission (observations: how many "
            "did); oms's group commit: the mean wait of its order-path transactions (two per "
            "order) for a committer, and the mean duration of one shared transaction, which each "
            "of its bodies waits whole (answered at its COMMIT); and mean transactions per "
            "commit of oms's group commit and of the router's house-book groups (one symbol's "
            "B-book fills)",
            "admission_wait_ms": hops.mean_ms(split(before, "wait"), split(after, "wait")),
            "group_commit_ms": hops.mean_ms(split(before, "commit"), split(after, "commit")),
            "group_size": hops.mean_size(split(before, "group"), split(after, "group")),
        }
        step.extra["per_order"] = {
            "note": "what each counter rose by over the measured window, per order answered in "
            "it (AMQP messages of oms's outbox relay: events of every kind, one message per "
            "account and trace per relay pass)",
            "counts": hops.per_order(split(before, "count"), split(after, "count"), step.ok),
        }
        step.extra["hops"] = {
            "note": "means from each service's own histograms over the measured window (the "
            "requests still in flight when it opened included)",
            "mean_ms_by_hop": means,
            "breakdown_of_client_mean": hops.nested_breakdown(
                lat.get("mean", 0.0), means, [(hop.name, covers) for hop, covers in chain]
            ),
        }
        ctx.say(
            f"  {rate:7.0f}/s: achieved {step.achieved_per_s:7.1f}/s ok {step.ok} "
            f"failures {step.failure_count} refused {step.refused_count} "
            f"(p99 {step.refusal_latency.summary().get('p99')} ms) "
            f"p50 {lat.get('p50')} p99 {lat.get('p99')} ms "
            f"(generator CPU {step.cpu.get('percent_of_one_core', {}).get('bench (load generator)')}%)"
            f" late timers >25 ms: "
            + " ".join(
                f"{name} {lag.get('over_25_ms')}"
                for name, lag in step.extra["event_loop_lag"]["by_process"].items()
            )
            + "; mean group sizes: "
            + " ".join(
                f"{name} {group.get('mean')}"
                for name, group in step.extra["queues"]["group_size"].items()
            )
            + "; per order: "
            + " ".join(f"{name} {n}" for name, n in step.extra["per_order"]["counts"].items())
            + "; main threads running + waiting for a core %: "
            + " ".join(
                f"{name} {t['running']}+{t['waiting_for_a_core']}"
                for name, t in step.cpu.get("main_thread_pct_of_wall", {}).items()
                if name in ("edge", "oms")
            )
        )
        # Let queues drain before the next step; longer after an overloaded one.
        await asyncio.sleep(1.0 if step.passes(plan.bound_p99_ms) else 5.0)
        return step

    best: float | None = None
    if plan.search:
        best, first_fail = await search_capacity(run_rate, list(plan.ladder), plan.bound_p99_ms)
    overload: float | None = None
    if best is not None:
        # Issue 12's overload test: twice what the stack sustains, for a full step.
        overload = float(round(OVERLOAD_FACTOR * best))
        if overload not in steps:
            await run_rate(overload)
    for rate in plan.fixed_rates:
        if rate in steps:
            continue
        overloaded = first_fail is not None and rate >= first_fail
        await run_rate(rate, plan.overload_duration if overloaded else None)
    docs = []
    for rate in sorted(steps):
        doc = steps[rate].as_json(plan.bound_p99_ms)
        doc["ratio_to_floor_sum"] = ratios(steps[rate], path)
        if rate == overload:
            doc["overload_of_capacity"] = OVERLOAD_FACTOR
        docs.append(doc)
    return docs, best, first_fail, [steps[r] for r in sorted(steps)]


async def run_burst(ctx: Context, flow: OrderFlow, plan: LoadPlan) -> dict[str, Any]:
    """``burst_orders`` in ``burst_seconds``; then every one must be in PostgreSQL, terminal.

    A refused order (503 / 429) is sent again with its clientOrderId after Retry-After, as a
    well-behaved client does, so the burst still ends with every order stored and answered; the
    refusals and their time to refusal are reported."""
    prefix = "burst"
    refusals_before = sum(flow.refusals.values())
    refusal_times = flow.time_to_refusal = Latencies()
    step = await run_open_loop(
        flow.sender(prefix, record=True, retry_refused=True),
        rate=plan.burst_orders / plan.burst_seconds,
        duration=plan.burst_seconds,
        warmup=0.0,
        request_timeout=120.0,
    )
    pattern = f"{flow.tag}-{prefix}-%"
    burst_retries = [n for cid, n in flow.retries.items() if cid.startswith(pattern[:-1])]
    conn = await asyncpg.connect(ctx.s.dsn)
    try:
        by_status = await _statuses(conn, pattern)
        not_terminal_at_end = _in_flight(by_status)
        # oms settles orders left in flight (an Execute whose answer was lost to a deadline) with
        # its periodic recovery; nothing is lost if every order ends terminal.
        settle_started = time.perf_counter()
        while _in_flight(by_status) and time.perf_counter() - settle_started < SETTLE_WITHIN_S:
            await asyncio.sleep(1.0)
            by_status = await _statuses(conn, pattern)
        settled_in = round(time.perf_counter() - settle_started, 1)
        acked_ids = [int(v) for v in flow.acked.values()]
        acked_found = await conn.fetchval(
            "SELECT count(*) FROM oms.orders WHERE order_id = ANY($1::bigint[]) "
            "AND status = 'FILLED'",
            acked_ids,
        )
    finally:
        await conn.close()
    in_db = sum(by_status.values())
    not_terminal = _in_flight(by_status)
    never_stored = step.sent - in_db
    ok = (
        step.failure_count == 0
        and step.refused_count == 0
        and never_stored == 0
        and not_terminal == 0
        and acked_found == len(acked_ids)
    )
    return {
        "orders": plan.burst_orders,
        "seconds": plan.burst_seconds,
        "sent": step.sent,
        "filled_responses": step.ok,
        "failures": dict(step.failures),
        "refused_in_the_end": dict(step.refused),
        "refusals": sum(flow.refusals.values()) - refusals_before,
        "orders_retried_after_refusal": len(burst_retries),
        # An order refused 30 times is given up (MAX_REFUSED_RETRIES): how close one came.
        "most_retries_of_one_order": max(burst_retries, default=0),
        "time_to_refusal_ms": refusal_times.summary(),
        "latency_ms": step.latency.summary(),
        "latency_note": "from the order's scheduled time to its final answer, retries included",
        "completed_in_s": round(step.ok / step.achieved_per_s, 2) if step.achieved_per_s else None,
        "in_postgresql_by_status": by_status,
        "acknowledged": len(acked_ids),
        "acknowledged_found_filled": acked_found,
        "in_flight_when_the_last_response_came": not_terminal_at_end,
        "seconds_until_none_in_flight": settled_in if not not_terminal else None,
        "not_terminal": not_terminal,
        "never_stored": never_stored,
        "no_errors_nothing_lost": ok,
    }


SETTLE_WITHIN_S = 60.0
IN_FLIGHT = frozenset({"PENDING", "ACCEPTED", "FILLING", "PARTIALLY_FILLED"})


async def _statuses(conn: asyncpg.Connection, pattern: str) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM oms.orders WHERE client_order_id LIKE $1 "
        "GROUP BY status",
        pattern,
    )
    return {r["status"]: r["n"] for r in rows}


def _in_flight(by_status: dict[str, int]) -> int:
    return sum(n for status, n in by_status.items() if status in IN_FLIGHT)


def burst_errors(quick: bool, steps: list[StepResult], burst: dict[str, Any]) -> list[str]:
    """What fails the command: in --quick any failed order; in a full run only an acknowledged
    order missing from PostgreSQL (overload failures there are data, judged by the targets)."""
    errors = []
    missing = burst["acknowledged"] - burst["acknowledged_found_filled"]
    if missing:
        errors.append(f"burst: {missing} acknowledged (FILLED) orders are not FILLED in PostgreSQL")
    if quick:
        errors += [f"{s.rate}/s: {dict(s.failures)}" for s in steps if s.failure_count]
        if not burst["no_errors_nothing_lost"]:
            errors.append(
                f"burst: failures {burst['failures']}, never stored {burst['never_stored']}, "
                f"not terminal {burst['not_terminal']}"
            )
    return errors


def targets(
    quick: bool,
    step_docs: list[dict[str, Any]],
    capacity: float | None,
    burst: dict[str, Any],
    *,
    min_capacity: float = 1000.0,
    milestone: float = 500.0,
) -> list[dict[str, Any]]:
    """Issue 12's targets for a market-order scenario (not judged in --quick)."""
    lightest = [step_docs[0]] if step_docs else []
    p50 = lightest[0]["ratio_to_floor_sum"]["p50"] if lightest else None
    overloaded = [d for d in step_docs if d.get("overload_of_capacity")]
    over = overloaded[0] if overloaded else None
    goodput = over["achieved_per_s"] / capacity if over and capacity else None
    over_p99 = over["latency_ms"].get("p99") if over else None
    refusal_p99 = over["time_to_refusal_ms"].get("p99") if over else None
    rows = [
        (
            "p50 <= 3x floor sum at the lightest rate",
            "3.0",
            p50,
            p50 is not None and p50 <= 3.0,
            [d["offered_per_s"] for d in lightest],
        ),
        (
            f"max sustainable rate >= {milestone:.0f} orders/s (first milestone)",
            f"{milestone:.0f}",
            capacity,
            capacity is not None and capacity >= milestone,
            None,
        ),
        (
            f"max sustainable rate >= {min_capacity:.0f} orders/s",
            f"{min_capacity:.0f}",
            capacity,
            capacity is not None and capacity >= min_capacity,
            None,
        ),
        (
            "offered 2x capacity: goodput >= 90 % of capacity",
            "0.9",
            None if goodput is None else round(goodput, 2),
            goodput is not None and goodput >= 0.9,
            [over["offered_per_s"]] if over else None,
        ),
        (
            "offered 2x capacity: accepted orders p99 < 100 ms",
            "100",
            over_p99,
            over_p99 is not None and over_p99 < 100.0,
            [over["offered_per_s"]] if over else None,
        ),
        (
            "offered 2x capacity: refusals (503/429) answered in < 10 ms at p99",
            "10",
            refusal_p99,
            # No refusal at all is fine only if nothing failed either.
            (refusal_p99 is None and over is not None and not over["failures"])
            or (refusal_p99 is not None and refusal_p99 < 10.0),
            [over["offered_per_s"]] if over else None,
        ),
        (
            f"burst of {burst['orders']} orders in {burst['seconds']} s: no errors, nothing lost",
            "true",
            burst["no_errors_nothing_lost"],
            bool(burst["no_errors_nothing_lost"]),
            None,
        ),
    ]
    if milestone >= min_capacity:
        rows = [r for r in rows if "milestone" not in r[0]]
    return [
        {
            "target": name,
            "limit": limit,
            "measured": value,
            "judged_at_rates": rates,
            "pass": None if quick else passed,
        }
        for name, limit, value, passed, rates in rows
    ]
