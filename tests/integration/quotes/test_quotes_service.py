"""quotes end to end in-process: real gRPC server and client, real PostgreSQL and Redis.

The service runs with a test clock that each test moves one hour ahead, so LP ticks from an earlier
test are stale (out of the book) and cannot disturb the next one; tick times sent follow that clock.
The periodic settings reload is set to an hour, so a settings change can only arrive through
LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp

from devstack.catalogue import DEMO_SYMBOLS
from fxmesh.db import create_pool
from fxmesh.errors import from_rpc_error
from fxmesh.quotecache import quote_channel, redis_db
from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc, types_pb2
from quotes.config import QuotesSettings
from quotes.seed import seed
from quotes.server import QuotesApp, start_quotes
from quotes.service import ms_to_datetime

WAIT_SECONDS = 20.0


class StepClock:
    """Epoch-ms clock that stands still until a test moves it."""

    def __init__(self) -> None:
        self.now_ms = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture(scope="module")
def clock() -> StepClock:
    return StepClock()


@pytest.fixture(scope="module")
async def app(pg_dsn: str, redis_url: str, clock: StepClock) -> AsyncIterator[QuotesApp]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await seed(conn, DEMO_SYMBOLS)
    finally:
        await conn.close()
    pool = await create_pool(pg_dsn, "quotes-test")
    settings = QuotesSettings(
        postgres_dsn=pg_dsn,
        redis_url=redis_url,
        quotes_addr="127.0.0.1:0",
        quotes_settings_reload_seconds=3600,
        quotes_tick_flush_seconds=0.2,
    )
    quotes_app = await start_quotes(settings, pool, clock=clock)
    yield quotes_app
    await quotes_app.stop(grace=1)
    await pool.close()


@pytest.fixture
async def stub(
    app: QuotesApp, clock: StepClock, redis_client: aioredis.Redis
) -> AsyncIterator[quotes_pb2_grpc.QuotesServiceStub]:
    clock.now_ms += 3_600_000  # every LP tick of earlier tests is stale now
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield quotes_pb2_grpc.QuotesServiceStub(channel)


def lp_tick(
    clock: StepClock, symbol: str, bid: str, ask: str, source: str = "LP1"
) -> types_pb2.Quote:
    ts = Timestamp()
    ts.FromMilliseconds(clock.now_ms)
    return types_pb2.Quote(symbol=symbol, bid=bid, ask=ask, quote_time=ts, source=source)


async def publish(
    stub: quotes_pb2_grpc.QuotesServiceStub, *batches: list[types_pb2.Quote]
) -> quotes_pb2.PublishTicksResponse:
    async def requests() -> AsyncIterator[quotes_pb2.PublishTicksRequest]:
        for batch in batches:
            yield quotes_pb2.PublishTicksRequest(ticks=batch)

    response: quotes_pb2.PublishTicksResponse = await stub.PublishTicks(requests(), timeout=10)
    return response


async def stored_quote(redis: aioredis.Redis, symbol: str) -> dict[str, Any] | None:
    raw = await redis.get(f"quote:{symbol}")
    return json.loads(raw) if raw is not None else None


async def test_publish_ticks_when_valid_then_redis_holds_marked_up_quote_and_it_is_published(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(quote_channel(redis_db(redis_client), "EURUSD"))
    try:
        response = await publish(stub, [lp_tick(clock, "EURUSD", "1.08449", "1.08451")])

        assert (response.accepted, response.dropped) == (1, 0)
        expected = {
            "symbol": "EURUSD",
            "bid": "1.08444",
            "ask": "1.08456",
            "ts": clock.now_ms,
            "source": "fxmesh",
            # The markup applied (5 points each side), for the router's A-book client prices.
            "markupBid": "0.00005",
            "markupAsk": "0.00005",
        }
        assert await stored_quote(redis_client, "EURUSD") == expected
        assert 0 < await redis_client.ttl("quote:EURUSD") <= 60
        message = None
        async with asyncio.timeout(WAIT_SECONDS):
            while message is None:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
        assert message["channel"] == quote_channel(redis_db(redis_client), "EURUSD")
        assert json.loads(message["data"]) == expected
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()


async def test_publish_ticks_when_crossed_tick_follows_then_dropped_and_key_keeps_price(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    response = await publish(
        stub,
        [lp_tick(clock, "EURUSD", "1.08449", "1.08451")],
        [lp_tick(clock, "EURUSD", "1.08460", "1.08450")],
    )

    assert (response.accepted, response.dropped) == (1, 1)
    quote = await stored_quote(redis_client, "EURUSD")
    assert quote is not None
    assert (quote["bid"], quote["ask"]) == ("1.08444", "1.08456")


async def test_publish_ticks_when_two_lps_then_client_quote_is_best_of_both_with_markup(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    response = await publish(
        stub,
        [
            lp_tick(clock, "USDJPY", "151.498", "151.503", source="LP1"),
            lp_tick(clock, "USDJPY", "151.496", "151.501", source="LP2"),
            lp_tick(clock, "NOSUCH", "1", "2", source="LP2"),
        ],
    )

    assert (response.accepted, response.dropped) == (2, 1)
    quote = await stored_quote(redis_client, "USDJPY")
    assert quote is not None
    assert (quote["bid"], quote["ask"]) == ("151.493", "151.506")


async def test_markup_changed_in_table_when_next_tick_arrives_then_new_markup_applies(
    app: QuotesApp,
    pg_dsn: str,
    stub: quotes_pb2_grpc.QuotesServiceStub,
    clock: StepClock,
    redis_client: aioredis.Redis,
) -> None:
    tick = lp_tick(clock, "GBPUSD", "1.26499", "1.26501")
    await publish(stub, [tick])
    quote = await stored_quote(redis_client, "GBPUSD")
    assert quote is not None
    assert (quote["bid"], quote["ask"]) == ("1.26494", "1.26506")

    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(
            "UPDATE quotes.symbol_settings SET markup_bid_points = 10, markup_ask_points = 20 "
            "WHERE symbol = 'GBPUSD'"
        )
        # The same LP price again until the change has reached the running service (NOTIFY).
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                await publish(stub, [tick])
                quote = await stored_quote(redis_client, "GBPUSD")
                assert quote is not None
                if quote["bid"] != "1.26494":
                    break
                await asyncio.sleep(0.05)
        assert (quote["bid"], quote["ask"]) == ("1.26489", "1.26521")
    finally:
        await conn.execute(
            "UPDATE quotes.symbol_settings SET markup_bid_points = 5, markup_ask_points = 5 "
            "WHERE symbol = 'GBPUSD'"
        )
        await conn.close()


async def test_get_quote_when_published_then_returns_client_quote(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock
) -> None:
    await publish(stub, [lp_tick(clock, "XAUUSD", "2649.90", "2650.10")])

    response = await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="XAUUSD"), timeout=10)

    assert response.quote.symbol == "XAUUSD"
    assert (Decimal(response.quote.bid), Decimal(response.quote.ask)) == (
        Decimal("2649.80"),
        Decimal("2650.20"),
    )
    assert response.quote.quote_time.ToMilliseconds() == clock.now_ms
    assert response.quote.source == "fxmesh"


async def test_get_quote_when_no_price_yet_then_not_found_quote_not_available(
    stub: quotes_pb2_grpc.QuotesServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="ETHUSD"), timeout=10)

    error = from_rpc_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "QUOTE_NOT_AVAILABLE")


async def test_get_quote_when_symbol_not_configured_then_invalid_argument_unknown_symbol(
    stub: quotes_pb2_grpc.QuotesServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="NOSUCH"), timeout=10)

    error = from_rpc_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_SYMBOL")


async def test_publish_ticks_when_client_quote_written_then_client_and_raw_ticks_are_stored(
    pg_dsn: str, stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock
) -> None:
    await publish(stub, [lp_tick(clock, "BTCUSD", "66990.00", "67010.00", source="LP7")])

    conn = await asyncpg.connect(pg_dsn)
    try:
        rows: list[asyncpg.Record] = []
        async with asyncio.timeout(WAIT_SECONDS):
            while len(rows) < 2:
                rows = await conn.fetch(
                    "SELECT kind, bid, ask, (extract(epoch FROM time) * 1000)::bigint AS ts "
                    "FROM quotes.ticks WHERE symbol = 'BTCUSD' AND source = 'LP7' "
                    "AND time = $1 ORDER BY kind",
                    ms_to_datetime(clock.now_ms),
                )
                if len(rows) < 2:
                    await asyncio.sleep(0.1)
        # The client price (markup applied) and the LP's own price, both kept for a dispute.
        assert [(r["kind"], r["bid"], r["ask"], r["ts"]) for r in rows] == [
            ("CLIENT", Decimal("66975.00"), Decimal("67025.00"), clock.now_ms),
            ("RAW", Decimal("66990.00"), Decimal("67010.00"), clock.now_ms),
        ]
    finally:
        await conn.close()


async def test_seed_when_run_again_then_settings_unchanged(pg_dsn: str, app: QuotesApp) -> None:
    conn = await asyncpg.connect(pg_dsn)
    try:
        before = await conn.fetch("SELECT * FROM quotes.symbol_settings ORDER BY symbol")
        lines = await seed(conn, DEMO_SYMBOLS)
        after = await conn.fetch("SELECT * FROM quotes.symbol_settings ORDER BY symbol")
    finally:
        await conn.close()
    assert lines
    assert [dict(r) for r in after] == [dict(r) for r in before]
    assert {r["symbol"] for r in after} >= {"EURUSD", "USDJPY", "XAUUSD"}


async def test_publish_ticks_when_client_price_unchanged_then_not_published_again(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(quote_channel(redis_db(redis_client), "EURUSD"))
    try:
        await publish(stub, [lp_tick(clock, "EURUSD", "1.08449", "1.08451")])
        clock.now_ms += 100
        # Raw price moved inside the same client price (bid floors, ask ceils to the same points).
        await publish(stub, [lp_tick(clock, "EURUSD", "1.084491", "1.084509")])
        clock.now_ms += 100
        await publish(stub, [lp_tick(clock, "EURUSD", "1.08450", "1.08452")])

        received: list[dict[str, Any]] = []
        async with asyncio.timeout(WAIT_SECONDS):
            while len(received) < 2:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    received.append(json.loads(message["data"]))
        assert [(q["bid"], q["ask"]) for q in received] == [
            ("1.08444", "1.08456"),
            ("1.08445", "1.08457"),
        ]
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()


async def test_publish_ticks_when_lp_confirms_an_unchanged_price_then_quote_time_kept_fresh(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    # A quiet market: the LP keeps sending the same price. The stored quote must not age past the
    # B-book's 5 s limit, or every order would be refused QUOTE_STALE.
    await publish(stub, [lp_tick(clock, "EURUSD", "1.08449", "1.08451")])
    first = await stored_quote(redis_client, "EURUSD")
    for _ in range(30):
        clock.now_ms += 200
        await publish(stub, [lp_tick(clock, "EURUSD", "1.08449", "1.08451")])

    latest = await stored_quote(redis_client, "EURUSD")
    assert first is not None
    assert latest is not None
    assert (latest["bid"], latest["ask"]) == (first["bid"], first["ask"])
    assert clock.now_ms - latest["ts"] <= 1000


async def test_publish_ticks_when_batch_has_several_symbols_then_each_client_quote_written(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    response = await publish(
        stub,
        [
            lp_tick(clock, "EURUSD", "1.08449", "1.08451"),
            lp_tick(clock, "GBPUSD", "1.27001", "1.27003"),
            lp_tick(clock, "EURUSD", "1.08450", "1.08452"),
        ],
    )

    assert (response.accepted, response.dropped) == (3, 0)
    eurusd = await stored_quote(redis_client, "EURUSD")
    gbpusd = await stored_quote(redis_client, "GBPUSD")
    assert eurusd is not None
    assert (eurusd["bid"], eurusd["ask"]) == ("1.08445", "1.08457")
    assert gbpusd is not None
    assert gbpusd["ts"] == clock.now_ms


async def test_publish_ticks_when_redis_connection_dropped_then_stream_goes_on_and_next_tick_written(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    await publish(stub, [lp_tick(clock, "EURUSD", "1.08449", "1.08451")])
    db = str(redis_db(redis_client))
    writers = [
        c["id"]
        for c in await redis_client.client_list()
        if c.get("db") == db and c.get("cmd") == "publish"
    ]
    assert writers
    for client_id in writers:
        await redis_client.client_kill_filter(_id=client_id)
    clock.now_ms += 100

    response = await publish(
        stub,
        [lp_tick(clock, "EURUSD", "1.08455", "1.08457")],
        [lp_tick(clock, "EURUSD", "1.08460", "1.08462")],
    )

    assert (response.accepted, response.dropped) == (2, 0)
    quote = await stored_quote(redis_client, "EURUSD")
    assert quote is not None
    assert (quote["bid"], quote["ask"]) == ("1.08455", "1.08467")


async def test_publish_ticks_when_lp_confirms_an_unchanged_price_then_one_client_tick_stored(
    app: QuotesApp,
    pg_dsn: str,
    stub: quotes_pb2_grpc.QuotesServiceStub,
    clock: StepClock,
    redis_client: aioredis.Redis,
) -> None:
    # Arrange: one price, then 10 confirmations over 3 s (Redis is rewritten to keep it fresh).
    start = ms_to_datetime(clock.now_ms)
    await publish(stub, [lp_tick(clock, "USDJPY", "151.498", "151.503", source="LP8")])
    for _ in range(10):
        clock.now_ms += 300
        await publish(stub, [lp_tick(clock, "USDJPY", "151.498", "151.503", source="LP8")])

    # Act
    assert app.store is not None
    await app.store.flush()

    # Assert: a rewrite of the same price is not a new client tick; every LP tick is kept raw.
    conn = await asyncpg.connect(pg_dsn)
    try:
        rows = await conn.fetch(
            "SELECT kind, count(*) AS n FROM quotes.ticks WHERE symbol = 'USDJPY' "
            "AND source = 'LP8' AND time >= $1 GROUP BY kind ORDER BY kind",
            start,
        )
    finally:
        await conn.close()
    assert [(r["kind"], r["n"]) for r in rows] == [("CLIENT", 1), ("RAW", 11)]


async def test_lp_statistics_when_ticks_flow_then_counts_drops_latency_and_streaming_run(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock
) -> None:
    lp = f"STATS-{clock.now_ms}"  # its own LP name: earlier tests' feeds do not count
    started = clock.now_ms
    sent_before = clock.now_ms - 40  # SendingTime 40 ms before quotes receives it
    stamp = Timestamp()
    stamp.FromMilliseconds(sent_before)
    late = types_pb2.Quote(
        symbol="EURUSD", bid="1.08449", ask="1.08451", quote_time=stamp, source=lp
    )
    await publish(
        stub,
        [late],
        [lp_tick(clock, "EURUSD", "1.08451", "1.08449", lp)],  # crossed
        [lp_tick(clock, "NOPE", "1.0", "1.1", lp)],  # unknown symbol
    )
    clock.now_ms += 2_000
    await publish(stub, [lp_tick(clock, "EURUSD", "1.08450", "1.08452", lp)])

    reply = await stub.ListLpStatistics(quotes_pb2.ListLpStatisticsRequest(lp=lp), timeout=10)
    by_symbol = {f.symbol: f for f in reply.feeds}
    eurusd = by_symbol["EURUSD"]
    assert (eurusd.ticks_last_minute, eurusd.ticks_total) == (2, 2)
    assert dict(eurusd.dropped_by_reason) == {"crossed": 1}
    assert eurusd.dropped_total == 1
    # Both ticks fed a written quote: 40 ms (its SendingTime) and 0 ms (sent "now").
    assert (eurusd.latency_p50_ms, eurusd.latency_p99_ms) == (0, 40)
    assert eurusd.streaming_since.ToMilliseconds() == started
    assert eurusd.last_tick_time.ToMilliseconds() == clock.now_ms
    assert dict(by_symbol["NOPE"].dropped_by_reason) == {"unknown_symbol": 1}
    assert by_symbol["NOPE"].ticks_total == 0

    # A minute later the window is empty; a silence longer than the stale threshold ends the run.
    clock.now_ms += 61_000
    later = await stub.ListLpStatistics(
        quotes_pb2.ListLpStatisticsRequest(lp=lp, symbol="eurusd"), timeout=10
    )
    [quiet] = later.feeds
    assert (quiet.ticks_last_minute, quiet.ticks_total) == (0, 2)
    assert not quiet.HasField("latency_p50_ms")
    assert not quiet.HasField("streaming_since")
    await publish(stub, [lp_tick(clock, "EURUSD", "1.08450", "1.08452", lp)])
    back = await stub.ListLpStatistics(quotes_pb2.ListLpStatisticsRequest(lp=lp), timeout=10)
    assert back.feeds[0].streaming_since.ToMilliseconds() == clock.now_ms


async def test_publish_ticks_when_lp_sends_depth_then_redis_quote_carries_marked_up_levels(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: StepClock, redis_client: aioredis.Redis
) -> None:
    tick = lp_tick(clock, "EURUSD", "1.08450", "1.08452", "DEEP")
    for price, size in (("1.08450", "1000000"), ("1.08445", "4000000")):
        tick.bid_levels.add(price=price, size=size)
    for price, size in (("1.08452", "1000000"), ("1.08457", "4000000")):
        tick.ask_levels.add(price=price, size=size)

    await publish(stub, [tick])

    stored = await stored_quote(redis_client, "EURUSD")
    assert stored is not None
    assert (stored["bid"], stored["ask"]) == ("1.08445", "1.08457")
    assert stored["bids"] == [["1.08445", "1000000"], ["1.08440", "4000000"]]
    assert stored["asks"] == [["1.08457", "1000000"], ["1.08462", "4000000"]]
