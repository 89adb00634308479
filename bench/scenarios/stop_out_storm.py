"""Scenario 5: stop-out storm. A price gap puts N accounts under their stop-out level; how long
until every one is back above it (or flat)?

Two measurements, side by side in the document:

* ``in_process``: ``bench/stopout_storm.py``, oms's trigger watcher alone with an in-memory core
  that closes instantly (detection and dispatch of 10 000 accounts, no I/O).
* ``end_to_end``: the real stack. N accounts (10 000; ``--quick``: 300) each hold open B-book
  EURUSD BUY positions sized so that a gap of ``GAP_POINTS`` takes them from 110-180 % below 45 %.
  They are written set-based on both sides (oms and router, ``BenchStack.seed_open_positions``),
  then router and oms restart so the house book is rebuilt and the trigger watcher arms them.
  With the LP simulator's price pinned, the bench moves it down by the gap (an LP stream that
  then alternates the gapped price and one point above, so it never goes stale for the router:
  see ``_gap_stream``); T0 is when the gapped client quote reaches Redis (the bench listens on the channel oms listens on). From then
  on PostgreSQL is polled every 100 ms for seeded accounts still below the level; the per-account
  times come from the STOP_OUT deals' ``deal_time`` (the router's fill time).

Errors (any mode): accounts still below after the timeout, accounts never stopped out, positions
closed for another reason, stop-out orders not filled, orders left in flight, a balance that is
not the sum of its ledger, deals and ledger disagreeing, a flat account left negative (negative
balance protection), the house book (router's GetHouseExposure and ``router.bbook_fills``) not
the mirror of oms's open positions, fills on one side without the other.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import random
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import asyncpg
import grpc
import redis.asyncio as aioredis

from bench.context import Context
from bench.stackctl import BenchStack, SeedHolder, SeedPosition
from devstack import DEMO_BY_SYMBOL
from fxmesh.money import to_money
from fxmesh.quotecache import ClientQuote, quote_channel, read_quote
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, router_pb2, router_pb2_grpc

SYMBOL = "EURUSD"
SPEC = DEMO_BY_SYMBOL[SYMBOL]
GAP_POINTS = 300
LEVERAGE = 500
STOP_OUT_LEVEL = Decimal(50)  # oms.accounts defaults
MARGIN_CALL_LEVEL = Decimal(100)
# Before the gap every account sits at least this far above its margin call level (no margin call
# at arming); after it at most at this share of its stop-out level (clearly below, not on the edge).
PRE_MARGIN_ABOVE_CALL = Decimal(10)
POST_SHARE_OF_STOP_OUT = Decimal("0.9")
ACCOUNTS_FULL, ACCOUNTS_QUICK = 10_000, 300
TIMEOUT_FULL_S, TIMEOUT_QUICK_S = 600.0, 45.0
POLL_S = 0.1
GAP_TICKS_PER_S = 10
SUMMARY_SAMPLE = 50
CENT = Decimal("0.01")


# --- pure helpers: sizing and the margin-level model ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Market:
    """What the sizing needs to know about the symbol and the quote the positions opened at."""

    bid: Decimal  # client bid before the gap
    ask: Decimal  # client ask before the gap: the BUY positions' open price
    contract_size: Decimal
    point: Decimal
    leverage: int
    commission_per_lot: Decimal  # per side, USD (the account currency)

    def margin_per_lot(self) -> Decimal:
        """USD of margin one lot uses (margin at the open price, USD-quoted symbol)."""
        return self.contract_size * self.ask / self.leverage

    def gapped_bid(self, gap_points: int) -> Decimal:
        return self.bid - gap_points * self.point


@dataclass(frozen=True, slots=True)
class HolderPlan:
    """One account of the storm: what to seed and what the model expects of it."""

    holder: SeedHolder
    level_before: Decimal
    level_after_gap: Decimal
    stop_out_closes: int  # positions the stop-out must close to bring it back (model)


def margin_level(
    balance: Decimal, volumes: Sequence[Decimal], open_price: Decimal, bid: Decimal, m: Market
) -> Decimal | None:
    """Margin level in percent (money rounding, as oms) of a USD account holding BUY positions of ``volumes``
    lots opened at ``open_price``, at client bid ``bid``; None without positions (oms's rule:
    margin at the open price, equity = balance + floating P&L at the closing price)."""
    lots = sum(volumes, Decimal(0))
    if lots == 0:
        return None
    equity = to_money(balance + lots * (bid - open_price) * m.contract_size, "USD")
    used = to_money(lots * m.contract_size * open_price / m.leverage, "USD")
    return to_money(equity / used * 100, "USD")


def commission(volume: Decimal, m: Market) -> Decimal:
    return to_money(volume * m.commission_per_lot, "USD")


def stop_out_closes(
    balance: Decimal, volumes: Sequence[Decimal], bid: Decimal, m: Market, stop_out: Decimal
) -> int:
    """How many positions oms's stop-out closes at ``bid`` (one at a time, each at the bid with its
    commission, until the level is at least ``stop_out`` or nothing is left)."""
    left = list(volumes)
    closes = 0
    while left:
        level = margin_level(balance, left, m.ask, bid, m)
        if level is None or level >= stop_out:
            break
        volume = left.pop(0)  # the same open price: every position loses alike per lot
        pnl = to_money(volume * (bid - m.ask) * m.contract_size, "USD")
        balance += pnl - commission(volume, m)
        closes += 1
    return closes


def size_population(
    count: int,
    m: Market,
    *,
    gap_points: int,
    seed: int = 20250602,
    stop_out: Decimal = STOP_OUT_LEVEL,
    margin_call: Decimal = MARGIN_CALL_LEVEL,
) -> list[HolderPlan]:
    """``count`` accounts between ``margin_call + 10`` % and the highest level from which the gap
    still takes them to 90 % of ``stop_out``; 0.10-3.00 lots, every third in two positions (so
    some come back above the level still holding one). Deterministic for a given ``seed``."""
    rng = random.Random(seed)
    per_lot = m.margin_per_lot()
    gap_loss_pct = gap_points * m.point * m.contract_size / per_lot * 100
    lowest = margin_call + PRE_MARGIN_ABOVE_CALL
    highest = stop_out * POST_SHARE_OF_STOP_OUT + gap_loss_pct
    if highest <= lowest:
        raise ValueError(
            f"a {gap_points}-point gap moves the level by {gap_loss_pct:.1f} points only: no level "
            f"above {lowest} % falls below {stop_out * POST_SHARE_OF_STOP_OUT} %"
        )
    gapped = m.gapped_bid(gap_points)
    plans = []
    for n in range(count):
        lots = Decimal(rng.randint(10, 300)) / 100
        if n % 3 == 0:
            first = (lots / 2).quantize(CENT, ROUND_DOWN)
            volumes: tuple[Decimal, ...] = (first, lots - first)
        else:
            volumes = (lots,)
        target = lowest + (highest - lowest) * Decimal(rng.random())
        floating = lots * (m.bid - m.ask) * m.contract_size
        balance = to_money(target / 100 * lots * per_lot - floating, "USD")
        fees = [commission(v, m) for v in volumes]
        holder = SeedHolder(
            deposit=balance + sum(fees, Decimal(0)),
            positions=tuple(SeedPosition(v, f) for v, f in zip(volumes, fees, strict=True)),
        )
        before = margin_level(balance, volumes, m.ask, m.bid, m)
        after = margin_level(balance, volumes, m.ask, gapped, m)
        assert before is not None
        assert after is not None
        plans.append(
            HolderPlan(
                holder, before, after, stop_out_closes(balance, volumes, gapped, m, stop_out)
            )
        )
    return plans


def percentiles_ms(values_s: Sequence[float]) -> dict[str, float | None]:
    """p50 / p90 / p99 / max of ``values_s`` (seconds) in ms (nearest rank)."""
    if not values_s:
        return {"p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(values_s)

    def rank(q: float) -> float:
        return round(
            ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))] * 1e3, 1
        )

    return {
        "p50": rank(0.5),
        "p90": rank(0.9),
        "p99": rank(0.99),
        "max": round(ordered[-1] * 1e3, 1),
    }


# --- the end-to-end storm -------------------------------------------------------------------------

# Seeded accounts (ids $1..$2) with open positions whose margin level is below their stop-out
# level at client bid $3 (BUY EURUSD only: margin at the open price). The level is rounded to 2
# places before the comparison, as oms does: 49.996 % is "at 50 %" for oms's stop-out.
_BELOW_SQL = """
SELECT count(*) FROM (
    SELECT a.stop_out_level,
           round(a.balance + sum(($3::numeric - p.open_price) * p.volume * $4::numeric), 2) AS equity,
           round(sum(p.volume * $4::numeric * p.open_price / a.leverage), 2) AS used
      FROM oms.positions p JOIN oms.accounts a USING (account_id)
     WHERE p.closed_at IS NULL AND p.account_id BETWEEN $1 AND $2
     GROUP BY a.account_id
) x WHERE round(equity / used * 100, 2) < stop_out_level
"""
_STOP_OUT_DEALS_SQL = """
SELECT count(*) FROM oms.deals
 WHERE account_id BETWEEN $1 AND $2 AND reason = 'STOP_OUT' AND deal_id > $3
"""


async def _pin(stack: BenchStack, redis: aioredis.Redis, bid: Decimal, ask: Decimal) -> ClientQuote:
    """Pin the LP price; the client quote made from it (the seeded symbol markup applied)."""
    want = (bid - SPEC.markup_bid_points * SPEC.point, ask + SPEC.markup_ask_points * SPEC.point)
    body = json.dumps({"bid": str(bid), "ask": str(ask)}).encode()
    quote = None
    for attempt in range(300):
        if attempt % 20 == 0:  # a tick lost on the way is sent again
            await stack.lpsim("PUT", f"/prices/{SYMBOL}", body)
        quote = await read_quote(redis, SYMBOL)
        if quote is not None and (quote.bid, quote.ask) == want:
            return quote
        await asyncio.sleep(0.05)
    raise RuntimeError(f"pinned LP {bid}/{ask}; client quote still {quote}, expected {want}")


def _gap_stream(bid: Decimal, ask: Decimal) -> dict[str, Any]:
    """The gapped price from now on, moving up one point and back at every tick, as a live
    market does. (This scenario found quotes rewriting an unchanged client quote only every 20 s
    while the B-book refuses quotes older than 5 s: a storm at a pinned price was refused
    QUOTE_STALE. quotes now refreshes every second.) Tick 0 is the gap itself; the lower price is
    the one the sizing assumes (the other only helps).
    """
    return {
        "ticksPerSecond": GAP_TICKS_PER_S,
        "pattern": "ramp",
        "bid": str(bid),
        "ask": str(ask),
        "stepPoints": 1,
        "cycle": 2,
        "startDelayMs": 0,
    }


def _scrape(url: str, metric: str, label: str) -> float | None:
    with urllib.request.urlopen(url, timeout=5) as reply:
        for line in reply.read().decode().splitlines():
            if line.startswith(f"{metric}{{") and label in line:
                return float(line.rsplit(" ", 1)[1])
    return None


async def _wait_armed(
    stack: BenchStack, at_least: int, within: float
) -> tuple[float, float | None]:
    """Until oms's watcher holds ``at_least`` stop-out entries; (seconds waited, entries)."""
    url = f"http://{stack.s.config.host}:{stack.s.config.ports.oms_metrics}/metrics"
    started = time.perf_counter()
    entries: float | None = None
    while time.perf_counter() - started < within:
        try:
            entries = await asyncio.to_thread(
                _scrape, url, "fxmesh_oms_trigger_book_entries", 'kind="stop_out"'
            )
        except OSError:
            entries = None
        if entries is not None and entries >= at_least:
            break
        await asyncio.sleep(0.25)
    return time.perf_counter() - started, entries


async def _restart(stack: BenchStack, services: Sequence[str]) -> dict[str, float]:
    """Kill ``services`` (as a crash would), start them again in order; seconds to ready each."""
    for name in services:
        stack.s.kill(name)
    took = {}
    for name in services:
        started = time.perf_counter()
        await stack.s.restart(name)
        took[name] = round(time.perf_counter() - started, 2)
    return took


async def _house_vs_oms(conn: asyncpg.Connection, router: Any) -> dict[str, Any]:
    """The house's EURUSD net (router's memory, its fills table) against oms's open positions."""
    reply = await router.GetHouseExposure(router_pb2.GetHouseExposureRequest(), timeout=10)
    in_memory = next(
        (Decimal(e.net_volume) for e in reply.exposures if e.symbol == SYMBOL), Decimal(0)
    )
    fills = await conn.fetchval(
        "SELECT coalesce(sum(CASE client_side WHEN 'BUY' THEN -volume ELSE volume END), 0) "
        "FROM router.bbook_fills WHERE symbol = $1",
        SYMBOL,
    )
    clients = await conn.fetchval(
        "SELECT coalesce(sum(CASE side WHEN 'BUY' THEN volume ELSE -volume END), 0) "
        "FROM oms.positions p WHERE closed_at IS NULL AND symbol = $1 AND EXISTS "
        "(SELECT 1 FROM oms.orders o WHERE o.order_id = p.open_order_id AND o.book = 'B')",
        SYMBOL,
    )
    unmatched = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM oms.deals d WHERE d.venue = 'BBOOK' AND NOT EXISTS "
        "(SELECT 1 FROM router.bbook_fills f WHERE f.fill_id = d.fill_id)) AS deals_without_fill, "
        "(SELECT count(*) FROM router.bbook_fills f WHERE NOT EXISTS "
        "(SELECT 1 FROM oms.deals d WHERE d.venue = 'BBOOK' AND d.fill_id = f.fill_id)) "
        "AS fills_without_deal"
    )
    assert unmatched is not None
    return {
        "router_house_net_lots": str(in_memory),
        "bbook_fills_net_lots": str(fills),
        "oms_clients_net_lots": str(clients),
        "matches": in_memory == fills == -clients,
        "deals_without_fill": unmatched["deals_without_fill"],
        "fills_without_deal": unmatched["fills_without_deal"],
    }


async def _money(conn: asyncpg.Connection, lo: int, hi: int) -> dict[str, int]:
    """Money invariants over every account, and the seeded ones' deals against their ledger."""
    row = await conn.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM oms.accounts a WHERE a.balance <>
             (SELECT coalesce(sum(amount), 0) FROM oms.ledger l WHERE l.account_id = a.account_id))
            AS balance_not_ledger_sum,
          (SELECT count(*) FROM oms.accounts a WHERE a.balance <> coalesce(
             (SELECT balance_after FROM oms.ledger l WHERE l.account_id = a.account_id
               ORDER BY ledger_id DESC LIMIT 1), 0)) AS balance_not_last_ledger_row,
          (SELECT count(*) FROM (
             SELECT d.account_id FROM oms.deals d WHERE d.account_id BETWEEN $1 AND $2
              GROUP BY d.account_id
             HAVING sum(d.realized_pnl) <> coalesce((SELECT sum(amount) FROM oms.ledger l
                      WHERE l.account_id = d.account_id AND l.type = 'REALIZED_PNL'), 0)
                 OR sum(d.commission) <> coalesce((SELECT sum(amount) FROM oms.ledger l
                      WHERE l.account_id = d.account_id AND l.type = 'COMMISSION'), 0)) x)
            AS deals_not_ledger,
          (SELECT count(*) FROM oms.accounts a WHERE a.account_id BETWEEN $1 AND $2
              AND a.balance < 0 AND NOT EXISTS (SELECT 1 FROM oms.positions p
                WHERE p.account_id = a.account_id AND p.closed_at IS NULL)) AS flat_and_negative
        """,
        lo,
        hi,
    )
    assert row is not None
    return dict(row)


async def _summaries(
    oms: Any, ids: Sequence[int], plans: Sequence[HolderPlan]
) -> tuple[list[str], Decimal | None, Decimal | None]:
    """oms's own figures for a sample: margin levels as modelled, above the margin call level."""
    problems = []
    levels = []
    step = max(1, len(ids) // SUMMARY_SAMPLE)
    for i in range(0, len(ids), step):
        reply = await oms.GetAccountSummary(
            oms_pb2.GetAccountSummaryRequest(account_id=str(ids[i])), timeout=10
        )
        level = Decimal(reply.margin_level) if reply.margin_level else None
        levels.append(level or Decimal(0))
        if level != plans[i].level_before:
            problems.append(
                f"account {ids[i]}: oms margin level {level}, seeded for {plans[i].level_before}"
            )
    return problems, min(levels, default=None), max(levels, default=None)


async def _after(conn: asyncpg.Connection, lo: int, hi: int, t0_wall: float) -> dict[str, Any]:
    """Per-account times from the STOP_OUT deals, and what else happened to the seeded accounts."""
    rows = await conn.fetch(
        "SELECT account_id, min(deal_time) AS first, max(deal_time) AS last, count(*) AS closes "
        "FROM oms.deals WHERE account_id BETWEEN $1 AND $2 AND reason = 'STOP_OUT' "
        "GROUP BY account_id",
        lo,
        hi,
    )
    checks = await conn.fetchrow(
        """
        SELECT
          (SELECT count(*) FROM oms.positions WHERE account_id BETWEEN $1 AND $2
              AND closed_at IS NOT NULL AND close_reason <> 'STOP_OUT') AS closed_otherwise,
          (SELECT count(*) FROM oms.positions WHERE account_id BETWEEN $1 AND $2
              AND closed_at IS NULL) AS positions_open,
          (SELECT count(*) FROM oms.orders WHERE account_id BETWEEN $1 AND $2
              AND origin = 'STOP_OUT') AS stop_out_orders,
          (SELECT count(*) FROM oms.orders WHERE account_id BETWEEN $1 AND $2
              AND origin = 'STOP_OUT' AND status <> 'FILLED') AS stop_out_orders_not_filled,
          (SELECT count(*) FROM oms.orders WHERE account_id BETWEEN $1 AND $2
              AND status IN ('ACCEPTED', 'FILLING', 'PARTIALLY_FILLED')) AS orders_in_flight,
          (SELECT count(*) FROM oms.ledger WHERE account_id BETWEEN $1 AND $2
              AND type = 'ADJUSTMENT') AS negative_balance_resets
        """,
        lo,
        hi,
    )
    assert checks is not None
    done = [r["last"].timestamp() - t0_wall for r in rows]
    first = [r["first"].timestamp() - t0_wall for r in rows]
    closes = sum(r["closes"] for r in rows)
    span = (max(done) - min(first)) if rows else 0.0
    return {
        "accounts_stopped_out": len(rows),
        "stop_out_closes": closes,
        "closes_by_account": {str(r["account_id"]): r["closes"] for r in rows},
        "first_stop_out_close_ms": round(min(first) * 1e3, 1) if rows else None,
        "per_account_back_above_ms": percentiles_ms(done),
        "all_back_above_ms": round(max(done) * 1e3, 1) if rows else None,
        "closes_per_s": round(closes / span, 1) if span > 0 else None,
        **dict(checks),
    }


async def end_to_end(ctx: Context) -> dict[str, Any]:
    stack = ctx.s
    count = ACCOUNTS_QUICK if ctx.quick else ACCOUNTS_FULL
    timeout = TIMEOUT_QUICK_S if ctx.quick else TIMEOUT_FULL_S
    errors: list[str] = []
    redis = aioredis.Redis.from_url(stack.redis_url)
    conn = await asyncpg.connect(stack.dsn)
    cfg = stack.s.config
    oms_channel = grpc.aio.insecure_channel(f"{cfg.host}:{cfg.ports.oms}")
    router_channel = grpc.aio.insecure_channel(f"{cfg.host}:{cfg.ports.router}")
    oms = oms_pb2_grpc.OmsServiceStub(oms_channel)
    router = router_pb2_grpc.RouterServiceStub(router_channel)
    half = SPEC.lp_half_spread_points * SPEC.point
    lp_bid, lp_ask = SPEC.start_mid - half, SPEC.start_mid + half
    streaming = False
    try:
        # The price stands still from here on: the sizing is exact and only the gap moves it.
        await stack.lpsim("PUT", "/config", b'{"walk":false}')
        before = await _pin(stack, redis, lp_bid, lp_ask)
        market = Market(
            bid=before.bid,
            ask=before.ask,
            contract_size=SPEC.contract_size,
            point=SPEC.point,
            leverage=LEVERAGE,
            commission_per_lot=SPEC.commission_per_lot,
        )
        plans = size_population(count, market, gap_points=GAP_POINTS)
        ctx.say(f"stop_out_storm: seeding {count} accounts with open {SYMBOL} positions")
        started = time.perf_counter()
        ids = await stack.seed_open_positions(
            [p.holder for p in plans],
            symbol=SYMBOL,
            side="BUY",
            open_price=market.ask,
            contract_size=SPEC.contract_size,
            quote_to_usd_rate=Decimal(1),
            leverage=LEVERAGE,
            deviation_points=SPEC.default_deviation_points,
            prefix="storm",
        )
        seed_s = time.perf_counter() - started
        lo, hi = min(ids), max(ids)
        if hi - lo + 1 != len(ids) or ids != sorted(ids):
            raise RuntimeError("seeded account ids are not one ascending range")
        ctx.say("stop_out_storm: restarting router and oms (house book, trigger books)")
        # The router in the oms process restarts with it.
        restart_s = await _restart(stack, ("oms",) if stack.router_in_oms else ("router", "oms"))
        armed_s, armed = await _wait_armed(stack, count, within=120)
        if armed is None or armed < count:
            errors.append(f"oms's watcher armed {armed} stop-out entries, {count} expected")
        await conn.execute("SET application_name = 'bench stop_out_storm'")
        money_before = await _money(conn, lo, hi)
        house_before = await _house_vs_oms(conn, router)
        sample_problems, lowest, highest = await _summaries(oms, ids, plans)
        errors += [f"before the gap: {p}" for p in sample_problems[:5]]
        errors += [f"before the gap: {k} = {v}" for k, v in money_before.items() if v]
        if not house_before["matches"]:
            errors.append(f"before the gap: house book does not mirror oms: {house_before}")
        below_before = await conn.fetchval(_BELOW_SQL, lo, hi, market.bid, SPEC.contract_size)
        last_deal = await conn.fetchval("SELECT coalesce(max(deal_id), 0) FROM oms.deals")

        # The gap, and T0: when the gapped client quote is published (what oms's watcher reads).
        gapped_bid = market.gapped_bid(GAP_POINTS)
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(quote_channel(stack.redis_db, SYMBOL))
        meter = stack.cpu_meter()
        cpu_before = meter.snapshot()
        gap = GAP_POINTS * SPEC.point
        ctx.say(f"stop_out_storm: gap of {GAP_POINTS} points on {SYMBOL}")
        put_wall = time.time()
        await stack.lpsim(
            "PUT",
            f"/streams/{SYMBOL}",
            json.dumps(_gap_stream(lp_bid - gap, lp_ask - gap)).encode(),
        )
        streaming = True
        async with asyncio.timeout(10):
            while True:
                msg = await pubsub.get_message(timeout=1.0)
                if msg is not None and ClientQuote.from_json(msg["data"]).bid == gapped_bid:
                    t0_wall, t0 = time.time(), time.perf_counter()
                    break
        await pubsub.aclose()  # type: ignore[no-untyped-call]

        progress: list[dict[str, Any]] = []
        below = count
        polls = 0
        while time.perf_counter() - t0 < timeout:
            below = await conn.fetchval(_BELOW_SQL, lo, hi, gapped_bid, SPEC.contract_size)
            polls += 1
            elapsed = time.perf_counter() - t0
            if not progress or elapsed - progress[-1]["t_s"] >= 1.0 or below == 0:
                closes = await conn.fetchval(_STOP_OUT_DEALS_SQL, lo, hi, last_deal)
                progress.append(
                    {"t_s": round(elapsed, 2), "accounts_below": below, "closes": closes}
                )
                if len(progress) % 10 == 0:
                    ctx.say(f"  {elapsed:6.1f} s: {below} accounts below, {closes} closes")
            if below == 0:
                break
            await asyncio.sleep(POLL_S)
        seen_all_above_s = time.perf_counter() - t0 if below == 0 else None
        cpu = meter.usage(cpu_before, meter.snapshot())
        # Closes still committing (an account can be back above while its stop-out finishes the
        # negative balance reset): let oms settle before the invariants are read.
        for _ in range(150):
            in_flight = await conn.fetchval(
                "SELECT count(*) FROM oms.orders WHERE account_id BETWEEN $1 AND $2 "
                "AND status IN ('ACCEPTED', 'FILLING', 'PARTIALLY_FILLED')",
                lo,
                hi,
            )
            if not in_flight:
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)
        outcome = await _after(conn, lo, hi, t0_wall)
        money_after = await _money(conn, lo, hi)
        house_after = await _house_vs_oms(conn, router)
        by_account = outcome.pop("closes_by_account")
        off_model = sum(
            1
            for i, p in zip(ids, plans, strict=True)
            if by_account.get(str(i), 0) != p.stop_out_closes
        )
        expected_closes = sum(p.stop_out_closes for p in plans)

        if below:
            errors.append(
                f"{below} accounts still below their stop-out level after {timeout:.0f} s"
            )
        if outcome["accounts_stopped_out"] != count:
            errors.append(f"{count - outcome['accounts_stopped_out']} accounts never stopped out")
        for key in ("closed_otherwise", "stop_out_orders_not_filled", "orders_in_flight"):
            if outcome[key]:
                errors.append(f"after the storm: {key} = {outcome[key]}")
        errors += [f"after the storm: {k} = {v}" for k, v in money_after.items() if v]
        if not house_after["matches"]:
            errors.append(f"after the storm: house book does not mirror oms: {house_after}")
        for side in ("deals_without_fill", "fills_without_deal"):
            if house_after[side]:
                errors.append(f"after the storm: {side} = {house_after[side]}")
        return {
            "result": {
                "layer": "edge-less core path: LP simulator -> fixgw -> quotes -> Redis -> oms "
                "watcher -> oms stop-out -> router Execute (B-book) -> PostgreSQL",
                "accounts": count,
                "positions": sum(len(p.holder.positions) for p in plans),
                "symbol": SYMBOL,
                "leverage": LEVERAGE,
                "gap_points": GAP_POINTS,
                "client_quote_before": {"bid": str(market.bid), "ask": str(market.ask)},
                "client_bid_after_gap": str(gapped_bid),
                "margin_level_before_pct": {
                    "model_min": str(min(p.level_before for p in plans)),
                    "model_max": str(max(p.level_before for p in plans)),
                    "oms_sample_min": str(lowest),
                    "oms_sample_max": str(highest),
                    "oms_sample_size": len(range(0, len(ids), max(1, len(ids) // SUMMARY_SAMPLE))),
                },
                "margin_level_after_gap_pct": {
                    "min": str(min(p.level_after_gap for p in plans)),
                    "max": str(max(p.level_after_gap for p in plans)),
                },
                "accounts_below_before_gap": below_before,
                "setup": {
                    "seed_s": round(seed_s, 2),
                    "restart_to_ready_s": restart_s,
                    "watcher_armed_after_oms_ready_s": round(armed_s, 2),
                    "watcher_stop_out_entries": armed,
                },
                "gap_put_to_client_quote_ms": round((t0_wall - put_wall) * 1e3, 1),
                "t0": "the gapped client quote received on Redis pub/sub by the bench",
                **outcome,
                "expected_stop_out_closes_model": expected_closes,
                "accounts_closed_other_than_model": off_model,
                "poll_saw_all_above_s": round(seen_all_above_s, 2) if seen_all_above_s else None,
                "poll_interval_ms": POLL_S * 1e3,
                "polls": polls,
                "accounts_still_below": below,
                "progress": progress,
                "house_book": {"before": house_before, "after": house_after},
                "money_checks": {"before": money_before, "after": money_after},
                "cpu": cpu,
            },
            "errors": errors,
        }
    finally:
        if streaming:
            await stack.lpsim("DELETE", f"/streams/{SYMBOL}", b"")
        await stack.lpsim("PUT", "/config", b'{"walk":true}')
        await oms_channel.close()
        await router_channel.close()
        await conn.close()
        await redis.aclose()


async def run(ctx: Context) -> dict[str, Any]:
    impl = importlib.import_module("bench.stopout_storm")
    ctx.say("stop_out_storm: in process (oms's trigger watcher, instant core)")
    in_process: dict[str, Any] = await impl.run(ctx.quick)
    in_process.pop("scenario", None)
    in_process.pop("machine", None)
    errors = []
    if in_process.get("accounts_still_below"):
        errors.append(
            f"in process: {in_process['accounts_still_below']} accounts still below stop-out"
        )
    e2e = await end_to_end(ctx)
    return {
        "in_process": in_process,
        "end_to_end": e2e["result"],
        "errors": errors + [f"end to end: {e}" for e in e2e["errors"]],
    }
