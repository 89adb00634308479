"""Scenario 6: the quotes pipeline in process, and the 500-candle read.

quotes' own code (``QuotesService`` + ``TickStore`` + ``MarketHistory``) runs in this process on
one event loop (one core) against a fresh database and a claimed Redis database, without gRPC:

* throughput: LP tick batches (50 ticks over 10 symbols, every tick a new price) go through
  validation -> best price -> markup -> Redis SET + PUBLISH -> tick store (raw and client ticks,
  candles, COPY every second on the same loop) as fast as the loop takes them; LP ticks per
  second of wall time and per CPU second of this process. As in production, a batch's ticks of
  one symbol make one client quote (its newest price), so Redis sees 10 writes per batch.
* tick-to-publish: one tick per call, back to back, from receipt to Redis's reply (the store's
  flushes run in between, as in production); p50 / p99 and their ratio to the Redis floor
  (``redis_set_publish``).
* a 500-candle read (the newest 1m candles, and 500 ending at a random minute) with a year of
  minute candles stored for the symbol.

Every symbol has 10 client groups with their own markup (``quotes.group_markups``) next to the
default price, as the issue asks: each client quote is 11 Redis SET + PUBLISH (one per group plus
the default), and each group's price is stored as client ticks and candles next to the default's.
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from bench.context import Context
from bench.stackctl import REDIS_SERVER, fresh_database
from bench.stats import Latencies
from devstack import claim_redis_db
from fxmesh.db import Pool, create_pool
from fxmesh.migrations import migrate_all
from quotes import (
    MarketHistory,
    PricingConfig,
    PricingEngine,
    QuotesService,
    RawTick,
    TickStore,
    Timeframe,
    load_group_markups,
    load_symbol_settings,
    wall_clock_ms,
)

SYMBOLS = tuple(f"BQ{n}" for n in range(10))
YEAR_SYMBOL = "BQYEAR"
BATCH = 50
BASE = Decimal("1.10000")
POINT = Decimal("0.00001")
PRICES = [(str(BASE + n * POINT), str(BASE + (n + 2) * POINT)) for n in range(1000)]
GROUPS = tuple(f"bench-g{n}" for n in range(10))
TARGET_TICKS_PER_S = 20_000
TARGET_P99_MS = 5.0
TARGET_CANDLES_P99_MS = 10.0


async def _setup(pool: Pool) -> PricingConfig:
    await pool.executemany(
        """
        INSERT INTO quotes.symbol_settings
            (symbol, digits, markup_bid_points, markup_ask_points, max_spread_points)
        VALUES ($1, 5, 5, 5, 100)
        """,
        [(s,) for s in (*SYMBOLS, YEAR_SYMBOL)],
    )
    await pool.executemany(
        """
        INSERT INTO quotes.group_markups (client_group, symbol, unit, markup_bid, markup_ask)
        VALUES ($1, $2, 'POINTS', $3, $3)
        """,
        [(g, s, Decimal(n + 1)) for n, g in enumerate(GROUPS) for s in SYMBOLS],
    )
    groups = await load_group_markups(pool)
    return PricingConfig.of(await load_symbol_settings(pool), {(g, s): m for g, s, m, _ in groups})


def _tick(n: int) -> RawTick:
    bid, ask = PRICES[(n // len(SYMBOLS)) % len(PRICES)]
    return RawTick(SYMBOLS[n % len(SYMBOLS)], bid, ask, None, "LP1")


async def _throughput(service: QuotesService, seconds: float) -> dict[str, Any]:
    n = accepted = 0
    wall, cpu = time.perf_counter(), time.process_time()
    deadline = wall + seconds
    while time.perf_counter() < deadline:
        batch = [_tick(i) for i in range(n, n + BATCH)]
        n += BATCH
        ok, _ = await service.publish(batch)
        accepted += ok
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "ticks": n,
        "accepted": accepted,
        "ticks_per_s_wall": round(accepted / wall),
        "ticks_per_cpu_s": round(accepted / cpu) if cpu else None,
    }


async def _latency(service: QuotesService, count: int, start: int) -> Latencies:
    lat = Latencies()
    for n in range(start, start + count):
        tick = _tick(n)
        began = time.perf_counter()
        await service.publish((tick,))
        lat.record(time.perf_counter() - began)
    return lat


async def _candle_reads(pool: Pool, history: MarketHistory, count: int) -> dict[str, Any]:
    first = datetime(2025, 1, 1, tzinfo=UTC)
    minutes = 365 * 24 * 60
    await pool.execute(
        """
        INSERT INTO quotes.candles
            (symbol, timeframe, time, open, high, low, close, tick_volume, spread)
        SELECT $1, '1m', $2::timestamptz + n * interval '1 minute',
               1.10000, 1.10010, 1.09990, 1.10005, 10, 5
        FROM generate_series(0, $3 - 1) AS n
        """,
        YEAR_SYMBOL,
        first,
        minutes,
    )
    await pool.execute("ANALYZE quotes.candles")
    rng = random.Random(16)
    newest, windowed = Latencies(), Latencies()
    for _ in range(count):
        began = time.perf_counter()
        got = await history.candles(YEAR_SYMBOL, Timeframe.M1, limit=500)
        newest.record(time.perf_counter() - began)
        assert len(got) == 500
        end = first + timedelta(minutes=rng.randrange(500, minutes))
        began = time.perf_counter()
        got = await history.candles(YEAR_SYMBOL, Timeframe.M1, end=end, limit=500)
        windowed.record(time.perf_counter() - began)
        assert len(got) == 500
    return {
        "stored_minute_candles": minutes,
        "newest_500_ms": newest.summary(),
        "random_window_500_ms": windowed.summary(),
    }


def _ratio(value: float | None, floor: float | None) -> float | None:
    if value is None or not floor:
        return None
    return round(value / floor, 2)


async def run(ctx: Context) -> dict[str, Any]:
    seconds, count, reads = (1.5, 1000, 100) if ctx.quick else (10.0, 20_000, 1000)
    db = await claim_redis_db(REDIS_SERVER, owner=f"bench-quotes:{os.getpid()}")
    redis = aioredis.Redis.from_url(f"{REDIS_SERVER}/{db}", decode_responses=True)
    dsn, drop = await fresh_database()
    pool: Pool | None = None
    try:
        await migrate_all(dsn)
        pool = await create_pool(dsn, "bench-quotes")
        config = await _setup(pool)

        def digits_of(symbol: str) -> int | None:
            found = config.get(symbol)
            return found.digits if found is not None else None

        store = TickStore(pool, digits_of, clock=wall_clock_ms, retention_days=0)
        await store.start()
        service = QuotesService(PricingEngine(config), redis, sink=store)
        try:
            ctx.say("quotes pipeline: throughput")
            throughput = await _throughput(service, seconds)
            ctx.say("quotes pipeline: tick-to-publish")
            latency = await _latency(service, count, throughput["ticks"])
        finally:
            await service.close()
            await store.stop()
        stored = await pool.fetchval("SELECT count(*) FROM quotes.ticks")
        ctx.say("quotes pipeline: 500-candle reads")
        history = MarketHistory(pool, config.get, store)
        candles = await _candle_reads(pool, history, reads)
    finally:
        await redis.flushdb()
        await redis.aclose()
        if pool is not None:
            await pool.close()
        await drop()
    summary = latency.summary()
    floor = ctx.floors.get("redis_set_publish", {}).get("latency_ms", {})
    judged = not ctx.quick
    read_p99 = max(
        candles["newest_500_ms"].get("p99", 0.0), candles["random_window_500_ms"].get("p99", 0.0)
    )
    return {
        "result": {
            **throughput,
            "tick_to_publish_ms": {k: summary[k] for k in ("p50", "p99", "max") if k in summary},
            "ratio_to_redis_floor": {
                "p50": _ratio(summary.get("p50"), floor.get("p50")),
                "p99": _ratio(summary.get("p99"), floor.get("p99")),
            },
            "ticks_stored": stored,
            "client_groups": 1 + len(GROUPS),
        },
        "tick_to_publish_ms": summary,
        "candle_reads": candles,
        "targets": [
            {
                "target": f">= {TARGET_TICKS_PER_S} ticks/s on one core (per CPU second)",
                "limit": str(TARGET_TICKS_PER_S),
                "measured": throughput["ticks_per_cpu_s"],
                "pass": (throughput["ticks_per_cpu_s"] or 0) >= TARGET_TICKS_PER_S
                if judged
                else None,
            },
            {
                "target": f"tick-to-publish p99 < {TARGET_P99_MS} ms",
                "limit": str(TARGET_P99_MS),
                "measured": summary.get("p99"),
                "pass": summary.get("p99", 1e9) < TARGET_P99_MS if judged else None,
            },
            {
                "target": f"500-candle read p99 < {TARGET_CANDLES_P99_MS} ms, a year of 1m stored",
                "limit": str(TARGET_CANDLES_P99_MS),
                "measured": read_p99,
                "pass": read_p99 < TARGET_CANDLES_P99_MS if judged else None,
            },
        ],
        "errors": []
        if stored and throughput["accepted"] == throughput["ticks"]
        else [f"ticks lost: accepted {throughput['accepted']} of {throughput['ticks']}"],
    }
