"""Market history routes: GET /api/ticks and GET /api/ohlc against the real quotes service.

Ticks go in the way production's do (PublishTicks to quotes: validation, markup, Redis, tick
store); the quotes clock stands on Friday 2025-02-07 and Sunday 2025-02-09, across the weekend.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from edge_quotes import MARKET_SYMBOL
from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc, types_pb2

# LP bid / ask; the client price is 3 points wider on each side (TSTEDGE's markup).
LP_TICKS = [
    ("2025-02-07T21:58:10", "1.03500", "1.03504"),  # client 1.03497 / 1.03507, spread 10
    ("2025-02-07T21:59:00", "1.03520", "1.03522"),  # client 1.03517 / 1.03525, spread 8
    ("2025-02-07T21:59:59.999", "1.03480", "1.03485"),  # client 1.03477 / 1.03488, spread 11
    ("2025-02-09T22:00:05", "1.03300", "1.03310"),  # Sunday: client 1.03297 / 1.03313, 16
]


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
async def market(edge: Any) -> Any:
    """The LP ticks published through quotes; all but the last one stored (the last is live)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{edge.quotes.port}") as channel:
        stub = quotes_pb2_grpc.QuotesServiceStub(channel)
        for n, (at, bid, ask) in enumerate(LP_TICKS):
            if n == len(LP_TICKS) - 1:
                assert edge.quotes.store is not None
                await edge.quotes.store.flush()
            edge.quotes_clock.now_ms = ms(at)
            stamp = Timestamp()
            stamp.FromMilliseconds(ms(at))
            tick = types_pb2.Quote(
                symbol=MARKET_SYMBOL, bid=bid, ask=ask, quote_time=stamp, source="LP9"
            )

            async def requests(
                tick: types_pb2.Quote = tick,
            ) -> AsyncIterator[quotes_pb2.PublishTicksRequest]:
                yield quotes_pb2.PublishTicksRequest(ticks=[tick])

            reply = await stub.PublishTicks(requests(), timeout=10)
            assert reply.accepted == 1
    return edge


async def test_ohlc_when_hourly_then_candles_oldest_first_with_live_sunday_candle(
    market: Any, alice_token: str
) -> None:
    async with market.client(alice_token) as http:
        response = await http.get(
            "/api/ohlc", params={"symbol": "tstedge", "timeframe": "1h", "limit": 500}
        )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "symbol": MARKET_SYMBOL,
        "timeframe": "1h",
        "candles": [
            {
                "time": "2025-02-07T21:00:00Z",
                "open": "1.03497",
                "high": "1.03517",
                "low": "1.03477",
                "close": "1.03477",
                "tickVolume": 3,
                "spread": 8,
            },
            {
                "time": "2025-02-09T22:00:00Z",
                "open": "1.03297",
                "high": "1.03297",
                "low": "1.03297",
                "close": "1.03297",
                "tickVolume": 1,
                "spread": 16,
            },
        ],
    }


async def test_ohlc_when_minutes_in_a_window_then_only_buckets_starting_in_it(
    market: Any, alice_token: str
) -> None:
    async with market.client(alice_token) as http:
        response = await http.get(
            "/api/ohlc",
            params={
                "symbol": MARKET_SYMBOL,
                "timeframe": "1m",
                "from": "2025-02-07T21:59:00Z",
                "to": "2025-02-08",
            },
        )

    assert response.status_code == 200, response.text
    candles = response.json()["candles"]
    assert [(c["time"], c["open"], c["close"], c["tickVolume"]) for c in candles] == [
        ("2025-02-07T21:59:00Z", "1.03517", "1.03477", 2)
    ]


async def test_ohlc_when_weekly_then_sunday_opens_the_new_week(market: Any, bob_token: str) -> None:
    async with market.client(bob_token) as http:
        response = await http.get(
            "/api/ohlc", params={"symbol": MARKET_SYMBOL, "timeframe": "1w", "limit": 1}
        )

    assert response.status_code == 200, response.text
    assert [(c["time"], c["open"]) for c in response.json()["candles"]] == [
        ("2025-02-09T00:00:00Z", "1.03297")
    ]


async def test_ticks_when_limit_given_then_newest_client_ticks_first_without_lp_names(
    market: Any, alice_token: str
) -> None:
    async with market.client(alice_token) as http:
        response = await http.get(
            "/api/ticks",
            params={"symbol": MARKET_SYMBOL, "limit": 2, "to": "2025-02-08T00:00:00Z"},
        )

    assert response.status_code == 200, response.text
    assert response.json() == {
        "symbol": MARKET_SYMBOL,
        "ticks": [
            {"time": "2025-02-07T21:59:59.999Z", "bid": "1.03477", "ask": "1.03488"},
            {"time": "2025-02-07T21:59:00Z", "bid": "1.03517", "ask": "1.03525"},
        ],
    }


@pytest.mark.parametrize(
    ("path", "params", "status", "code"),
    [
        ("/api/ohlc", {"symbol": "NOSUCH", "timeframe": "1h"}, 404, "UNKNOWN_SYMBOL"),
        ("/api/ticks", {"symbol": "NOSUCH"}, 404, "UNKNOWN_SYMBOL"),
        ("/api/ohlc", {"symbol": MARKET_SYMBOL, "timeframe": "2h"}, 422, "INVALID_TIMEFRAME"),
        ("/api/ohlc", {"symbol": MARKET_SYMBOL}, 422, "VALIDATION_ERROR"),
        (
            "/api/ticks",
            {"symbol": MARKET_SYMBOL, "from": "2025-02-08", "to": "2025-02-07"},
            422,
            "INVALID_TIME_RANGE",
        ),
        ("/api/ticks", {"symbol": MARKET_SYMBOL, "limit": 5001}, 422, "LIMIT_OUT_OF_RANGE"),
        (
            "/api/ohlc",
            {"symbol": MARKET_SYMBOL, "timeframe": "1m", "limit": 0},
            422,
            "LIMIT_OUT_OF_RANGE",
        ),
        ("/api/ticks", {"symbol": "EUR/USD"}, 422, "VALIDATION_ERROR"),
    ],
)
async def test_market_routes_when_input_is_bad_then_error_code(
    market: Any,
    alice_token: str,
    path: str,
    params: dict[str, object],
    status: int,
    code: str,
) -> None:
    async with market.client(alice_token) as http:
        response = await http.get(path, params=params)

    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_ohlc_when_timeframe_unknown_then_422_names_the_valid_ones(
    market: Any, alice_token: str
) -> None:
    async with market.client(alice_token) as http:
        response = await http.get("/api/ohlc", params={"symbol": MARKET_SYMBOL, "timeframe": "H1"})

    assert response.status_code == 422
    [error] = response.json()["details"]["errors"]
    assert error["field"] == "timeframe"
    assert error["message"] == "timeframe must be one of 1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w"


async def test_market_routes_when_no_token_then_401(market: Any) -> None:
    async with market.client() as http:
        response = await http.get("/api/ticks", params={"symbol": MARKET_SYMBOL})

    assert response.status_code == 401
    assert response.json()["code"] == "UNAUTHENTICATED"


async def test_openapi_when_fetched_then_documents_market_routes_and_their_answers(
    edge: Any,
) -> None:
    async with edge.client() as http:
        document = (await http.get("/api/openapi.json")).json()

    ohlc = document["paths"]["/api/ohlc"]["get"]
    params = {p["name"]: p for p in ohlc["parameters"]}
    assert set(params) >= {"symbol", "timeframe", "limit", "from", "to"}
    assert params["timeframe"]["schema"]["enum"] == [
        "1m",
        "5m",
        "15m",
        "30m",
        "1h",
        "4h",
        "1d",
        "1w",
    ]
    assert params["limit"]["schema"]["maximum"] == 5000
    candle = document["components"]["schemas"]["CandleJson"]["properties"]
    assert set(candle) == {"time", "open", "high", "low", "close", "tickVolume", "spread"}
    assert "/api/ticks" in document["paths"]
    assert {"404", "422"} <= set(ohlc["responses"])


GROUP_SYMBOL = "TSTEDGEGRP"
"""5 digits, 3 points of markup each side; edge-vip (alice's group) has 1 point each side."""


async def test_ohlc_and_ticks_when_callers_group_has_own_markup_then_its_prices_else_default(
    edge: Any, alice_token: str, bob_token: str
) -> None:
    # Arrange: a symbol where alice's group edge-vip has its own, tighter markup.
    pool = edge.quotes.pool
    await pool.execute(
        "INSERT INTO quotes.symbol_settings (symbol, digits, markup_bid_points, "
        "markup_ask_points, max_spread_points) VALUES ($1, 5, 3, 3, 100) "
        "ON CONFLICT (symbol) DO NOTHING",
        GROUP_SYMBOL,
    )
    await pool.execute(
        "INSERT INTO quotes.group_markups (client_group, symbol, unit, markup_bid, markup_ask) "
        "VALUES ('edge-vip', $1, 'POINTS', 1, 1)",
        GROUP_SYMBOL,
    )
    try:
        deadline = time.monotonic() + 30
        while ("edge-vip", GROUP_SYMBOL) not in edge.quotes.service.engine.config.group_markups:
            assert time.monotonic() < deadline, "group markup never reloaded"
            await asyncio.sleep(0.05)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{edge.quotes.port}") as channel:
            stub = quotes_pb2_grpc.QuotesServiceStub(channel)
            for at, bid, ask in (
                ("2025-02-10T09:00:05", "1.04000", "1.04004"),
                ("2025-02-10T09:00:35", "1.04010", "1.04012"),
            ):
                edge.quotes_clock.now_ms = ms(at)
                stamp = Timestamp()
                stamp.FromMilliseconds(ms(at))
                tick = types_pb2.Quote(
                    symbol=GROUP_SYMBOL, bid=bid, ask=ask, quote_time=stamp, source="LP9"
                )

                async def requests(
                    tick: types_pb2.Quote = tick,
                ) -> AsyncIterator[quotes_pb2.PublishTicksRequest]:
                    yield quotes_pb2.PublishTicksRequest(ticks=[tick])

                assert (await stub.PublishTicks(requests(), timeout=10)).accepted == 1
        assert edge.quotes.store is not None
        await edge.quotes.store.flush()
        params = {"symbol": GROUP_SYMBOL, "timeframe": "1h"}

        # Act
        async with edge.client(alice_token) as http:
            alice = await http.get("/api/ohlc", params=params)
            alice_ticks = await http.get("/api/ticks", params={"symbol": GROUP_SYMBOL})
        async with edge.client(bob_token) as http:
            bob = await http.get("/api/ohlc", params=params)
            bob_ticks = await http.get("/api/ticks", params={"symbol": GROUP_SYMBOL})
    finally:
        await pool.execute(
            "DELETE FROM quotes.group_markups WHERE client_group = 'edge-vip' AND symbol = $1",
            GROUP_SYMBOL,
        )

    # Assert: edge-vip 1 point each side (bids 1.03999, 1.04009; spreads 6, 4), retail the
    # symbol's 3 (bids 1.03997, 1.04007; spreads 10, 8).
    assert alice.status_code == 200, alice.text
    assert alice.json()["candles"] == [
        {
            "time": "2025-02-10T09:00:00Z",
            "open": "1.03999",
            "high": "1.04009",
            "low": "1.03999",
            "close": "1.04009",
            "tickVolume": 2,
            "spread": 4,
        }
    ]
    assert bob.status_code == 200, bob.text
    assert bob.json()["candles"] == [
        {
            "time": "2025-02-10T09:00:00Z",
            "open": "1.03997",
            "high": "1.04007",
            "low": "1.03997",
            "close": "1.04007",
            "tickVolume": 2,
            "spread": 8,
        }
    ]
    assert [(t["bid"], t["ask"]) for t in alice_ticks.json()["ticks"]] == [
        ("1.04009", "1.04013"),
        ("1.03999", "1.04005"),
    ]
    assert [(t["bid"], t["ask"]) for t in bob_ticks.json()["ticks"]] == [
        ("1.04007", "1.04015"),
        ("1.03997", "1.04007"),
    ]
