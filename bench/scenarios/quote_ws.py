"""Scenario 3: the quote path, LP simulator FIX market data to edge WebSocket clients.

The LP simulator streams EURUSD itself at the step's rate (``PUT /streams/EURUSD``, pattern
``ramp``; open loop, no control call per tick): tick ``g`` is due at
``startTime + (g - firstSeq) / rate`` and priced ``BASE_BID + (g mod CYCLE)`` points. It goes
over FIX to fixgw, to quotes, into Redis and out of edge to every subscribed socket. Each frame's
price says which tick it is modulo ``CYCLE``, the quote's timestamp (the LP's FIX SendingTime)
says which cycle, and its latency is from the tick's *due* time to the frame's arrival. Edge
conflates ticks for a slow socket (only the newest unsent one is kept): a tick a client never got
because a newer one replaced it counts with the arrival time of that newer one, so conflation
shows as latency, never as a hole. ``since_quote_timestamp_ms`` times the same frames from the
quote's own timestamp (1 ms resolution), which leaves out the simulator's own lag. A tick that
never reached a client by the end of its step (nor any newer one) is undelivered: an error.
``ws_tick_frames_per_s`` is what edge delivered to all its clients together in the measured
window; ticks the simulator had to skip (more than a second late) are failures of the step.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from array import array
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench import hops
from bench.context import Context
from bench.loadgen import StepResult, search_capacity
from bench.stats import Latencies
from bench.wsclients import WsFleet
from devstack import DEMO_BY_SYMBOL

SYMBOL = "EURUSD"
SPEC = DEMO_BY_SYMBOL[SYMBOL]
POINT = SPEC.point
MARKUP_BID = SPEC.markup_bid_points * POINT
BASE_BID = Decimal("1.08000")
CYCLE = 1000  # distinct prices (1000 points ~ 0.9 %: under quotes' 2 % spike filter)
SPREAD = 2 * POINT
BOUND_P99_MS = 50.0
LADDER = (5, 10, 25, 50, 100, 200, 400, 800)
MIN_TICKS = 100  # a low rate runs longer so its percentiles rest on this many ticks (max 20 s)
QUICK_RATE = 20.0
DELIVERY_GRACE_S = 5.0
STREAM_START_DELAY_MS = 200
MAX_LP_LAG_S = 1.5  # the simulator skips ticks over 1 s late; a little slack for its clock  # the tracker knows the stream's clock before its first tick
# One edge process should deliver this many WebSocket messages per second (1000 x 100 ticks/s).
TARGET_FRAMES_PER_S = 100_000


def lp_price(g: int) -> tuple[str, str]:
    """The simulator's ramp price of tick ``g`` (what ``PUT /streams`` is asked to send)."""
    bid = BASE_BID + (g % CYCLE) * POINT
    return str(bid), str(bid + SPREAD)


@dataclass(frozen=True, slots=True)
class StreamClock:
    """When the simulator's stream makes each tick due (epoch seconds)."""

    first_seq: int
    start_time: float
    rate: float

    def due(self, g: int) -> float:
        return self.start_time + (g - self.first_seq) / self.rate

    def near(self, at: float) -> float:
        """The (fractional) tick due at ``at``."""
        return self.first_seq + (at - self.start_time) * self.rate


class Timings:
    """Latencies of one step, appended as raw seconds (the cheapest record per frame) and turned
    into a histogram once, when the step is over."""

    def __init__(self) -> None:
        self.samples = array("d")
        self.add = self.samples.append

    @property
    def count(self) -> int:
        return len(self.samples)

    def latencies(self) -> Latencies:
        out = Latencies()
        for micros, n in Counter(int(x * 1e6) for x in self.samples).items():
            # One record per distinct value (hdrh takes a count), not one per sample.
            out._hist.record_value(min(max(micros, 1), 600_000_000), n)
        return out


class TickTracker:
    """Which tick each client has seen, and how late; ticks numbered by the stream's seq."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.subscribed = 0
        self.other_frames = 0
        self.changed = asyncio.Event()
        self._wanted = 1 << 62  # wake wait_all_seen once a client reaches this tick
        self.begin(StreamClock(0, 0.0, 1.0), 0, 0)

    def begin(self, clock: StreamClock, measure_from: int, measure_to: int) -> None:
        """Start a step: ticks ``measure_from <= g < measure_to`` are measured."""
        self.clock = clock
        self.seen = [clock.first_seq - 1] * self.clients
        self.reached: dict[int, int] = {}  # tick -> clients that have it
        self.measure_from, self.measure_to = measure_from, measure_to
        self.every, self.last_client, self.since_quote_ts = Timings(), Timings(), Timings()
        self.conflated = self.duplicates = self.frames_measured = 0
        # Every client gets the same text for a tick: identify it once per step.
        self._ticks: dict[str, tuple[int, float]] = {}
        self._epoch_offset = time.time() - time.perf_counter()

    def identify(self, frame: str) -> tuple[int, float]:
        """(tick g, quote timestamp in epoch seconds) of a tick frame; g = -1: not ours."""
        msg = json.loads(frame)
        if msg.get("symbol") != SYMBOL:
            return -1, 0.0
        k = int((Decimal(msg["bid"]) + MARKUP_BID - BASE_BID) / POINT) % CYCLE
        ts = int(msg["ts"]) / 1000
        approx = self.clock.near(ts)
        g = k + CYCLE * round((approx - k) / CYCLE)
        # The LP stamps a tick when it sends it: at or after its due time (ms resolution), at
        # most a second late (the stream skips later ones). Any other price is not the stream's
        # (the quote a client got on subscribing, a price from before the stream).
        if not -0.002 <= ts - self.clock.due(g) <= MAX_LP_LAG_S:
            return -1, 0.0
        return g, ts

    def on_frame(self, client: int, frame: str, at: float) -> None:
        tick = self._ticks.get(frame)
        if tick is None:
            if '"tick"' not in frame:
                self.other_frames += 1
                if '"subscribed"' in frame:
                    self.subscribed += 1
                    self.changed.set()
                return
            tick = self._ticks[frame] = self.identify(frame)
        g, ts = tick
        before = self.seen[client]
        if g <= before:
            if g >= self.clock.first_seq:
                self.duplicates += 1  # a re-send of an unchanged price
            return
        self.seen[client] = g
        at_epoch = at + self._epoch_offset
        lo, hi = self.measure_from, self.measure_to
        if lo <= g < hi:
            self.frames_measured += 1
            self.since_quote_ts.add(max(0.0, at_epoch - ts))
        reached, due = self.reached, self.clock.due
        for t in range(max(before + 1, g - CYCLE + 1), g + 1):
            n = reached.get(t, 0) + 1
            reached[t] = n
            if lo <= t < hi:
                latency = at_epoch - due(t)
                self.every.add(latency)
                if t < g:
                    self.conflated += 1
                if n == self.clients:
                    self.last_client.add(latency)
        if g >= self._wanted:
            self.changed.set()

    def undelivered(self, upto: int) -> int:
        return sum(max(0, upto - s) for s in self.seen)

    async def wait_all_seen(self, g: int, within: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        self._wanted = g
        try:
            while min(self.seen) < g:
                self.changed.clear()
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return False
                try:
                    await asyncio.wait_for(self.changed.wait(), remaining)
                except TimeoutError:
                    return False
            return True
        finally:
            self._wanted = 1 << 62


async def _sleep_until(epoch: float) -> None:
    await asyncio.sleep(max(0.0, epoch - time.time()))


class QuoteLoad:
    """The simulator's EURUSD stream at a fixed rate into one fleet of subscribed clients."""

    def __init__(self, ctx: Context, clients: int, token: str) -> None:
        self.ctx = ctx
        self.clients = clients
        self.tracker = TickTracker(clients)
        self.fleet = WsFleet(f"{ctx.s.s.edge_ws_url}?token={token}", clients, self.tracker.on_frame)
        self.next_g = 0
        self.meter = ctx.s.cpu_meter()

    async def open(self) -> None:
        await self.fleet.open(hello=json.dumps({"type": "subscribe", "symbols": [SYMBOL]}))
        async with asyncio.timeout(60):
            while self.tracker.subscribed < self.clients:
                self.tracker.changed.clear()
                await self.tracker.changed.wait()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ctx.s.lpsim("DELETE", f"/streams/{SYMBOL}", b"")
        await self.fleet.close()

    async def step(self, rate: float, duration: float, warmup: float) -> StepResult:
        first = self.next_g
        tr = self.tracker
        total = max(1, round(rate * (warmup + duration)))
        measure_from, measure_to = first + round(rate * warmup), first + total
        bid, ask = lp_price(0)
        request = {
            "ticksPerSecond": rate,
            "pattern": "ramp",
            "firstSeq": first,
            "bid": bid,
            "ask": ask,
            "cycle": CYCLE,
            "startDelayMs": STREAM_START_DELAY_MS,
        }
        started = await self.ctx.s.lpsim("PUT", f"/streams/{SYMBOL}", json.dumps(request).encode())
        clock = StreamClock(first, float(started["startTime"]), rate)
        tr.begin(clock, measure_from, measure_to)
        hop_list = self.ctx.s.quote_hops()
        try:
            await _sleep_until(clock.due(measure_from))
            cpu_from = self.meter.snapshot()
            before = await hops.scrape(hop_list)
            await _sleep_until(clock.due(measure_to))
            cpu = self.meter.usage(cpu_from, self.meter.snapshot())
        finally:
            stopped = await self.ctx.s.lpsim("DELETE", f"/streams/{SYMBOL}", b"")
        after = await hops.scrape(hop_list)
        last = stopped["lastSeq"] if stopped["lastSeq"] is not None else first - 1
        self.next_g = last + 1
        await tr.wait_all_seen(last, DELIVERY_GRACE_S)
        undelivered = tr.undelivered(last)
        lag = stopped["lagMs"]
        result = StepResult(rate=rate, duration_s=duration, warmup_s=warmup)
        result.sent = int(stopped["sent"])
        result.measured = measure_to - measure_from
        result.ok = tr.last_client.count  # measured ticks that reached every client
        result.latency = tr.every.latencies()
        result.achieved_per_s = result.ok / duration
        result.cpu = cpu
        if undelivered:
            result.failures["undelivered"] += undelivered
        if stopped["skipped"]:
            result.failures["lpsim_skipped"] += int(stopped["skipped"])
        result.extra = {
            "clients": self.clients,
            "ticks_measured": result.measured,
            "tick_client_pairs": tr.every.count,
            "ws_tick_frames_per_s": round(tr.frames_measured / duration),
            "conflated_pairs": tr.conflated,
            "duplicate_frames": tr.duplicates,
            "undelivered_pairs": undelivered,
            "last_client_ms": tr.last_client.latencies().summary(),
            "since_quote_timestamp_ms": tr.since_quote_ts.latencies().summary(),
            "lpsim_stream": {
                "sent": stopped["sent"],
                "skipped": stopped["skipped"],
                "lag_ms": lag,
            },
            # The measuring tool itself: the simulator could not send at this rate on time.
            "lpsim_behind": bool(stopped["skipped"])
            or (lag.get("p99") is not None and lag["p99"] > BOUND_P99_MS),
            "hops": {
                "note": "means over the step from the services' own histograms; the rest of the "
                "path (LP simulator, FIX, Redis pub/sub, edge fan-out) has no histogram",
                "mean_ms_by_hop": hops.mean_ms(before, after),
            },
        }
        await asyncio.sleep(0.5)
        return result


async def _one_fleet(
    ctx: Context, clients: int, token: str, floor_p99: float
) -> tuple[list[dict[str, Any]], float | None, float | None]:
    load = QuoteLoad(ctx, clients, token)
    steps: list[StepResult] = []
    duration, warmup = (1.5, 0.5) if ctx.quick else (5.0, 1.0)

    async def run_rate(rate: float) -> StepResult:
        seconds = duration if ctx.quick else max(duration, min(20.0, MIN_TICKS / rate))
        step = await load.step(rate, seconds, warmup)
        steps.append(step)
        lat = step.latency.summary()
        ctx.say(
            f"  {clients} clients, {rate:5.0f} ticks/s: p50 {lat.get('p50')} p99 {lat.get('p99')} "
            f"ms, {step.extra['ws_tick_frames_per_s']} frames/s, conflated "
            f"{step.extra['conflated_pairs']}, undelivered {step.extra['undelivered_pairs']}, "
            f"edge {step.cpu.get('percent_of_one_core', {}).get('edge')} % of a core"
        )
        return step

    try:
        await load.open()
        if ctx.quick:
            await run_rate(QUICK_RATE)
            best = first_fail = None
        else:
            best, first_fail = await search_capacity(run_rate, list(LADDER), BOUND_P99_MS)
    finally:
        await load.close()
    docs = []
    for step in sorted(steps, key=lambda s: s.rate):
        doc = step.as_json(BOUND_P99_MS)
        doc["ratio_to_floor_sum"] = {
            "p50": None,
            "p99": round(step.latency.percentile_ms(99.0) / floor_p99, 2) if step.ok else None,
        }
        docs.append(doc)
    return docs, best, first_fail


async def run(ctx: Context) -> dict[str, Any]:
    stack = ctx.s
    demo = await stack.login_demo()
    # Other symbols stand still and the periodic re-send is rare: the stream is the load.
    await stack.lpsim("PUT", "/config", b'{"walk":false,"tickIntervalMs":1000}')
    series: dict[str, list[dict[str, Any]]] = {}
    floors: dict[str, float] = {}
    capacity: dict[str, Any] = {}
    targets: list[dict[str, Any]] = []
    errors: list[str] = []
    redis_p99 = ctx.floor_ms("redis_pubsub", "p99")
    try:
        for n in ctx.ws_client_counts:
            ws_p99 = ctx.floors["ws_broadcast"]["by_clients"][str(n)]["last_client_ms"]["p99"]
            floor_p99 = round(redis_p99 + ws_p99, 3)
            label = f"{n} client{'s' if n > 1 else ''}"
            ctx.say(f"quote_ws: {label}")
            docs, best, first_fail = await _one_fleet(ctx, n, demo.token, floor_p99)
            series[label] = docs
            floors[label] = floor_p99
            capacity[label] = {
                "max_ticks_per_s": best,
                "first_failing_ticks_per_s": first_fail,
                "max_ws_tick_frames_per_s_within_bound": max(
                    (d["ws_tick_frames_per_s"] for d in docs if d["within_bound"]), default=None
                ),
            }
            failing = [d for d in docs if d["offered_per_s"] == first_fail]
            if failing and failing[0]["lpsim_behind"]:
                capacity[label]["limited_by"] = (
                    "the LP simulator (ticks skipped or sent late): the measuring tool "
                    "saturated first, not the quote path; see since_quote_timestamp_ms"
                )
            judged = [
                d
                for d in docs
                if best is not None
                and d["offered_per_s"] <= max(best / 2, docs[0]["offered_per_s"])
            ] or docs[:1]
            worst = (
                max((d["ratio_to_floor_sum"]["p99"] or float("inf")) for d in judged)
                if judged
                else None
            )
            targets.append(
                {
                    "target": f"tick-to-WS p99 <= 3x (Redis pub/sub floor + broadcast floor) with {label}",
                    "limit": "3.0",
                    "measured": worst,
                    "judged_at_rates": [d["offered_per_s"] for d in judged],
                    "pass": None if ctx.quick else (worst is not None and worst <= 3.0),
                }
            )
            if n == 1000:
                delivered = capacity[label]["max_ws_tick_frames_per_s_within_bound"]
                targets.append(
                    {
                        "target": "one edge process delivers >= 100000 WebSocket messages/s "
                        f"(1000 clients x 100 ticks/s) with tick-to-WS p99 <= {BOUND_P99_MS} ms",
                        "limit": str(TARGET_FRAMES_PER_S),
                        "measured": delivered,
                        "pass": None
                        if ctx.quick
                        else (delivered is not None and delivered >= TARGET_FRAMES_PER_S),
                    }
                )
            for d in docs:
                undelivered = d.get("undelivered_pairs", 0)
                lpsim_fail = {k: v for k, v in d["failures"].items() if k != "undelivered"}
                if (ctx.quick and (undelivered or lpsim_fail)) or (
                    undelivered and d["offered_per_s"] <= (best or 0)
                ):
                    errors.append(
                        f"{label} at {d['offered_per_s']}/s: undelivered {undelivered}, {lpsim_fail}"
                    )
    finally:
        await stack.lpsim("PUT", "/config", b'{"walk":true,"tickIntervalMs":100}')
    return {
        "rate_unit": "ticks/s",
        "symbol": SYMBOL,
        "bound_p99_ms": BOUND_P99_MS,
        "tick_source": "LP simulator stream (PUT /streams/EURUSD, pattern ramp): the simulator "
        "sends each tick when due, open loop; latency from the tick's due time",
        "floor_p99_ms_by_series": floors,
        "floor_rule": "per client count N: redis_pubsub p99 + ws_broadcast(N) last_client p99 "
        "(time until the last of N clients has the frame)",
        "series": series,
        "capacity": capacity,
        "targets": targets,
        "errors": errors,
    }
