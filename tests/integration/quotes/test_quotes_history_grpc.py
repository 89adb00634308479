"""GetTicks, GetCandles and StreamQuotes over real gRPC, fed through PublishTicks (validation,
markup, Redis, tick store), on real PostgreSQL and Redis.

The module's quotes service runs on a clock standing in July 2024; the store flushes only when a
test says so, so the live (not yet stored) candle can be observed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.db import create_pool
from fxmesh.errors import from_rpc_error
from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc, types_pb2
from quotes.config import QuotesSettings
from quotes.server import QuotesApp, start_quotes

SYMBOL = "TSTGRPC"  # 3 digits, 2 points of markup each side


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


class Clock:
    def __init__(self) -> None:
        self.now_ms = ms("2024-07-05T21:58:50")

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
async def app(pg_dsn: str, redis_url: str, clock: Clock) -> AsyncIterator[QuotesApp]:
    pool = await create_pool(pg_dsn, "quotes-history-grpc-test")
    await pool.execute(
        """
        INSERT INTO quotes.symbol_settings
            (symbol, digits, markup_bid_points, markup_ask_points, max_spread_points)
        VALUES ($1, 3, 2, 2, 100) ON CONFLICT (symbol) DO NOTHING
        """,
        SYMBOL,
    )
    settings = QuotesSettings(
        postgres_dsn=pg_dsn,
        redis_url=redis_url,
        quotes_addr="127.0.0.1:0",
        quotes_settings_reload_seconds=3600,
        quotes_tick_flush_seconds=3600,
        quotes_tick_retention_days=0,
    )
    quotes_app = await start_quotes(settings, pool, clock=clock)
    yield quotes_app
    await quotes_app.stop(grace=1)
    await pool.close()


@pytest.fixture
async def stub(
    app: QuotesApp, redis_client: aioredis.Redis
) -> AsyncIterator[quotes_pb2_grpc.QuotesServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield quotes_pb2_grpc.QuotesServiceStub(channel)


def timestamp(text: str) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms(text))
    return ts


async def publish_at(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: Clock, at: str, bid: str, ask: str
) -> None:
    clock.now_ms = ms(at)
    ts = Timestamp()
    ts.FromMilliseconds(clock.now_ms)
    tick = types_pb2.Quote(symbol=SYMBOL, bid=bid, ask=ask, quote_time=ts, source="LP1")

    async def requests() -> AsyncIterator[quotes_pb2.PublishTicksRequest]:
        yield quotes_pb2.PublishTicksRequest(ticks=[tick])

    reply = await stub.PublishTicks(requests(), timeout=10)
    assert reply.accepted == 1


def ohlc(candle: quotes_pb2.Candle) -> tuple[str, str, str, str, str, int, int]:
    return (
        candle.open_time.ToJsonString(),
        candle.open,
        candle.high,
        candle.low,
        candle.close,
        candle.tick_volume,
        candle.spread,
    )


async def test_get_candles_when_ticks_published_then_current_candle_live_and_same_once_stored(
    app: QuotesApp, stub: quotes_pb2_grpc.QuotesServiceStub, clock: Clock
) -> None:
    # Arrange: LP prices; client bid = LP bid - 0.002, client spread = LP spread + 4 points.
    await publish_at(stub, clock, "2024-07-05T21:58:59.999", "161.100", "161.105")
    assert app.store is not None
    await app.store.flush()
    await publish_at(stub, clock, "2024-07-05T21:59:00.000", "161.120", "161.123")
    await publish_at(stub, clock, "2024-07-05T21:59:30.000", "161.090", "161.096")
    request = quotes_pb2.GetCandlesRequest(
        symbol=SYMBOL,
        timeframe=quotes_pb2.TIMEFRAME_M1,
        from_time=timestamp("2024-07-05T00:00:00"),
        to_time=timestamp("2024-07-06T00:00:00"),
    )
    expected = [
        ("2024-07-05T21:58:00Z", "161.098", "161.098", "161.098", "161.098", 1, 9),
        ("2024-07-05T21:59:00Z", "161.118", "161.118", "161.088", "161.088", 2, 7),
    ]

    # Act: the 21:59 candle is not stored yet, then it is.
    live = await stub.GetCandles(request, timeout=10)
    await app.store.flush()
    stored = await stub.GetCandles(request, timeout=10)
    hourly = await stub.GetCandles(
        quotes_pb2.GetCandlesRequest(symbol=SYMBOL, timeframe=quotes_pb2.TIMEFRAME_H1, limit=1),
        timeout=10,
    )

    # Assert
    assert [ohlc(c) for c in live.candles] == expected
    assert [ohlc(c) for c in stored.candles] == expected
    assert (live.symbol, live.timeframe) == (SYMBOL, quotes_pb2.TIMEFRAME_M1)
    assert [ohlc(c) for c in hourly.candles] == [
        ("2024-07-05T21:00:00Z", "161.098", "161.118", "161.088", "161.088", 3, 7)
    ]


async def test_get_ticks_when_stored_then_client_ticks_newest_first_and_raw_ones_on_request(
    app: QuotesApp, stub: quotes_pb2_grpc.QuotesServiceStub
) -> None:
    window = {
        "from_time": timestamp("2024-07-05T21:58:00"),
        "to_time": timestamp("2024-07-05T21:59:30"),
    }

    client = await stub.GetTicks(
        quotes_pb2.GetTicksRequest(symbol=SYMBOL, limit=5, **window), timeout=10
    )
    raw = await stub.GetTicks(
        quotes_pb2.GetTicksRequest(symbol=SYMBOL, kind=quotes_pb2.TICK_KIND_RAW, limit=1, **window),
        timeout=10,
    )

    assert [(t.tick_time.ToJsonString(), t.bid, t.ask) for t in client.ticks] == [
        ("2024-07-05T21:59:00Z", "161.118", "161.125"),
        ("2024-07-05T21:58:59.999Z", "161.098", "161.107"),
    ]
    assert {t.kind for t in client.ticks} == {quotes_pb2.TICK_KIND_CLIENT}
    assert [(t.bid, t.ask, t.source, t.kind) for t in raw.ticks] == [
        ("161.120", "161.123", "LP1", quotes_pb2.TICK_KIND_RAW)
    ]


@pytest.mark.parametrize(
    ("request_", "code", "reason"),
    [
        (
            quotes_pb2.GetCandlesRequest(symbol="NOSUCH", timeframe=quotes_pb2.TIMEFRAME_H1),
            grpc.StatusCode.NOT_FOUND,
            "UNKNOWN_SYMBOL",
        ),
        (
            quotes_pb2.GetCandlesRequest(symbol=SYMBOL),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_TIMEFRAME",
        ),
        (
            quotes_pb2.GetCandlesRequest(
                symbol=SYMBOL,
                timeframe=quotes_pb2.TIMEFRAME_H1,
                from_time=timestamp("2024-07-06T00:00:00"),
                to_time=timestamp("2024-07-05T00:00:00"),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_RANGE",
        ),
        (
            quotes_pb2.GetTicksRequest(symbol=SYMBOL, limit=5001),
            grpc.StatusCode.INVALID_ARGUMENT,
            "LIMIT_OUT_OF_RANGE",
        ),
        (
            quotes_pb2.GetTicksRequest(symbol="NOSUCH"),
            grpc.StatusCode.NOT_FOUND,
            "UNKNOWN_SYMBOL",
        ),
    ],
)
async def test_history_when_request_is_bad_then_error_with_reason(
    stub: quotes_pb2_grpc.QuotesServiceStub,
    request_: quotes_pb2.GetCandlesRequest | quotes_pb2.GetTicksRequest,
    code: grpc.StatusCode,
    reason: str,
) -> None:
    call = stub.GetCandles if isinstance(request_, quotes_pb2.GetCandlesRequest) else stub.GetTicks

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(request_, timeout=10)  # type: ignore[operator]

    error = from_rpc_error(caught.value)
    assert (error.code, error.reason) == (code, reason)


async def test_stream_quotes_when_subscribed_then_current_quote_then_each_new_one(
    stub: quotes_pb2_grpc.QuotesServiceStub, clock: Clock
) -> None:
    await publish_at(stub, clock, "2024-07-05T21:59:40.000", "161.200", "161.205")
    call = stub.StreamQuotes(quotes_pb2.StreamQuotesRequest(symbols=[SYMBOL.lower()]))
    try:
        async with asyncio.timeout(20):
            first = await call.read()
            await publish_at(stub, clock, "2024-07-05T21:59:41.000", "161.210", "161.215")
            second = await call.read()
    finally:
        call.cancel()

    assert (first.quote.symbol, Decimal(first.quote.bid)) == (SYMBOL, Decimal("161.198"))
    assert (second.quote.bid, second.quote.ask) == ("161.208", "161.217")
    assert second.quote.quote_time.ToMilliseconds() == ms("2024-07-05T21:59:41")


async def test_stream_quotes_when_symbol_unknown_then_not_found(
    stub: quotes_pb2_grpc.QuotesServiceStub,
) -> None:
    call = stub.StreamQuotes(quotes_pb2.StreamQuotesRequest(symbols=[SYMBOL, "NOSUCH"]))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call.read()

    error = from_rpc_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "UNKNOWN_SYMBOL")
