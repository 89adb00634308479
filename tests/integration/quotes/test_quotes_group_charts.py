"""A client group with its own markup is charted at its own price: GetTicks / GetCandles over real
gRPC, fed through PublishTicks (validation, markup, Redis, tick store), on real PostgreSQL and
Redis; the default price's history unchanged; a group without a markup of its own on the symbol
reads the default; rebuild repairs every group's candles.

TSTGCHART: 5 digits, default markup 1 point each side; group ``tst-charts-vip`` 4 points off the
bid and 6 on the ask (skewed). LP ticks on Friday 2024-08-02 (hand-computed client prices):

| time     | LP bid / ask      | default bid / ask, spread | vip bid / ask, spread |
|----------|-------------------|---------------------------|-----------------------|
| 10:00:10 | 1.20000 / 1.20004 | 1.19999 / 1.20005, 6      | 1.19996 / 1.20010, 14 |
| 10:00:40 | 1.20020 / 1.20022 | 1.20019 / 1.20023, 4      | 1.20016 / 1.20028, 12 |
| 10:01:05 | 1.19980 / 1.19985 | 1.19979 / 1.19986, 7      | 1.19976 / 1.19991, 15 |
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.db import create_pool
from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc, types_pb2
from quotes import repository
from quotes.config import QuotesSettings
from quotes.server import QuotesApp, start_quotes

SYMBOL = "TSTGCHART"
VIP = "tst-charts-vip"
WAIT = 30.0
LP_TICKS = [
    ("2024-08-02T10:00:10", "1.20000", "1.20004"),
    ("2024-08-02T10:00:40", "1.20020", "1.20022"),
    ("2024-08-02T10:01:05", "1.19980", "1.19985"),
]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def timestamp(text: str) -> Timestamp:
    ts = Timestamp()
    ts.FromMilliseconds(ms(text))
    return ts


class Clock:
    def __init__(self) -> None:
        self.now_ms = ms("2024-08-02T10:00:00")

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture(scope="module")
async def app(pg_dsn: str, redis_url: str) -> AsyncIterator[tuple[QuotesApp, Clock]]:
    clock = Clock()
    pool = await create_pool(pg_dsn, "quotes-group-charts-test")
    await pool.execute(
        """
        INSERT INTO quotes.symbol_settings
            (symbol, digits, markup_bid_points, markup_ask_points, max_spread_points)
        VALUES ($1, 5, 1, 1, 100) ON CONFLICT (symbol) DO NOTHING
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
    try:
        await pool.execute(
            "INSERT INTO quotes.group_markups (client_group, symbol, unit, markup_bid, "
            "markup_ask) VALUES ($1, $2, 'POINTS', 4, 6)",
            VIP,
            SYMBOL,
        )
        deadline = time.monotonic() + WAIT
        while (VIP, SYMBOL) not in quotes_app.service.engine.config.group_markups:
            assert time.monotonic() < deadline, "group markup never reloaded"
            await asyncio.sleep(0.05)
        yield quotes_app, clock
    finally:
        await pool.execute("DELETE FROM quotes.group_markups WHERE client_group = $1", VIP)
        await quotes_app.stop(grace=1)
        await pool.close()


@pytest.fixture(scope="module")
async def charted(
    app: tuple[QuotesApp, Clock],
) -> AsyncIterator[tuple[QuotesApp, quotes_pb2_grpc.QuotesServiceStub]]:
    """The LP ticks published; all but the last one stored (the last is live)."""
    quotes_app, clock = app
    assert quotes_app.store is not None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{quotes_app.port}") as channel:
        stub = quotes_pb2_grpc.QuotesServiceStub(channel)
        for n, (at, bid, ask) in enumerate(LP_TICKS):
            if n == len(LP_TICKS) - 1:
                await quotes_app.store.flush()
            clock.now_ms = ms(at)
            tick = types_pb2.Quote(
                symbol=SYMBOL, bid=bid, ask=ask, quote_time=timestamp(at), source="LP1"
            )

            async def requests(
                tick: types_pb2.Quote = tick,
            ) -> AsyncIterator[quotes_pb2.PublishTicksRequest]:
                yield quotes_pb2.PublishTicksRequest(ticks=[tick])

            reply = await stub.PublishTicks(requests(), timeout=10)
            assert reply.accepted == 1
        yield quotes_app, stub


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


def candles_request(
    timeframe: quotes_pb2.Timeframe.ValueType, group: str
) -> quotes_pb2.GetCandlesRequest:
    return quotes_pb2.GetCandlesRequest(
        symbol=SYMBOL,
        timeframe=timeframe,
        from_time=timestamp("2024-08-02T00:00:00"),
        to_time=timestamp("2024-08-03T00:00:00"),
        client_group=group,
    )


VIP_M1 = [
    ("2024-08-02T10:00:00Z", "1.19996", "1.20016", "1.19996", "1.20016", 2, 12),
    ("2024-08-02T10:01:00Z", "1.19976", "1.19976", "1.19976", "1.19976", 1, 15),
]
VIP_H1 = [("2024-08-02T10:00:00Z", "1.19996", "1.20016", "1.19976", "1.19976", 3, 12)]
DEFAULT_H1 = [("2024-08-02T10:00:00Z", "1.19999", "1.20019", "1.19979", "1.19979", 3, 4)]


async def test_get_candles_when_group_has_own_markup_then_candles_of_its_own_prices(
    charted: tuple[QuotesApp, quotes_pb2_grpc.QuotesServiceStub],
) -> None:
    quotes_app, stub = charted
    assert quotes_app.store is not None

    # Act: the 10:01 candle is live (not stored yet), then stored.
    live = await stub.GetCandles(candles_request(quotes_pb2.TIMEFRAME_M1, VIP), timeout=10)
    await quotes_app.store.flush()
    stored = await stub.GetCandles(candles_request(quotes_pb2.TIMEFRAME_M1, VIP), timeout=10)
    hourly = await stub.GetCandles(candles_request(quotes_pb2.TIMEFRAME_H1, VIP), timeout=10)

    # Assert
    assert [ohlc(c) for c in live.candles] == VIP_M1
    assert [ohlc(c) for c in stored.candles] == VIP_M1
    assert [ohlc(c) for c in hourly.candles] == VIP_H1
    assert hourly.client_group == VIP


@pytest.mark.parametrize("group", ["", "tst-charts-retail", "  "])
async def test_get_candles_when_default_or_group_without_own_markup_then_default_candles(
    charted: tuple[QuotesApp, quotes_pb2_grpc.QuotesServiceStub], group: str
) -> None:
    _, stub = charted

    reply = await stub.GetCandles(candles_request(quotes_pb2.TIMEFRAME_H1, group), timeout=10)

    assert [ohlc(c) for c in reply.candles] == DEFAULT_H1
    assert reply.client_group == ""


async def test_get_ticks_when_group_has_own_markup_then_its_client_ticks_and_the_same_raw_ones(
    charted: tuple[QuotesApp, quotes_pb2_grpc.QuotesServiceStub],
) -> None:
    quotes_app, stub = charted
    assert quotes_app.store is not None
    await quotes_app.store.flush()

    def request(group: str, kind: quotes_pb2.TickKind.ValueType) -> quotes_pb2.GetTicksRequest:
        return quotes_pb2.GetTicksRequest(
            symbol=SYMBOL, client_group=group, kind=kind, to_time=timestamp("2024-08-03T00:00")
        )

    vip = await stub.GetTicks(request(VIP, quotes_pb2.TICK_KIND_CLIENT), timeout=10)
    default = await stub.GetTicks(request("other", quotes_pb2.TICK_KIND_CLIENT), timeout=10)
    raw = await stub.GetTicks(request(VIP, quotes_pb2.TICK_KIND_RAW), timeout=10)

    assert [(t.bid, t.ask) for t in vip.ticks] == [
        ("1.19976", "1.19991"),
        ("1.20016", "1.20028"),
        ("1.19996", "1.20010"),
    ]
    assert vip.client_group == VIP
    assert [(t.bid, t.ask) for t in default.ticks] == [
        ("1.19979", "1.19986"),
        ("1.20019", "1.20023"),
        ("1.19999", "1.20005"),
    ]
    assert default.client_group == ""
    assert [(t.bid, t.ask) for t in raw.ticks] == [(b, a) for _, b, a in reversed(LP_TICKS)]
    assert raw.client_group == ""


async def test_rebuild_when_group_and_default_candles_damaged_then_both_rebuilt_from_ticks(
    charted: tuple[QuotesApp, quotes_pb2_grpc.QuotesServiceStub],
) -> None:
    # Arrange: everything stored, then the vip hour and the default week damaged.
    quotes_app, stub = charted
    assert quotes_app.store is not None
    await quotes_app.store.flush()
    timeframes = (quotes_pb2.TIMEFRAME_M1, quotes_pb2.TIMEFRAME_H1, quotes_pb2.TIMEFRAME_W1)

    async def every(group: str) -> list[list[tuple[str, str, str, str, str, int, int]]]:
        replies = [
            await stub.GetCandles(
                quotes_pb2.GetCandlesRequest(symbol=SYMBOL, timeframe=tf, client_group=group),
                timeout=10,
            )
            for tf in timeframes
        ]
        return [[ohlc(c) for c in reply.candles] for reply in replies]

    before = {group: await every(group) for group in ("", VIP)}
    pool = quotes_app.pool
    await pool.execute(
        "UPDATE quotes.candles SET high = 9, tick_volume = 1 WHERE symbol = $1 "
        "AND client_group = $2 AND timeframe = '1h'",
        SYMBOL,
        VIP,
    )
    await pool.execute(
        "DELETE FROM quotes.candles WHERE symbol = $1 AND client_group = '' AND timeframe = '1w'",
        SYMBOL,
    )

    # Act
    written = await repository.rebuild_candles(
        pool, SYMBOL, datetime(2024, 8, 2, tzinfo=UTC), datetime(2024, 8, 3, tzinfo=UTC)
    )

    # Assert: per price, 2 minutes + one candle of each of the 7 wider timeframes.
    assert {group: await every(group) for group in ("", VIP)} == before
    assert before[VIP][1] == [VIP_H1[0]]
    assert written == 2 * (2 + 7)
