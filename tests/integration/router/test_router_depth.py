"""Prices from depth through the real pieces: quotes' pipeline writes an LP's three-level book,
marked up, into the Redis quote; the router's B-book fills a large order at the volume-weighted
price of the levels it takes, and an order larger than the whole book at the last level's price
for the rest (docs/routing.md, "Prices from depth")."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from router_harness import Stub, request, symbol

from fxmesh.quotecache import read_quote
from fxmesh.v1 import router_pb2, types_pb2
from quotes import PricingConfig, PricingEngine, QuotesService, RawTick
from quotes.domain import Markup, SymbolSettings

LOT = 100_000
# The LP's book, best first: 1, 5 and 20 lots a side; quotes adds 2 points of markup a side.
LP_BIDS = (("1.08442", 1 * LOT), ("1.08437", 5 * LOT), ("1.08427", 20 * LOT))
LP_ASKS = (("1.08458", 1 * LOT), ("1.08463", 5 * LOT), ("1.08478", 20 * LOT))


@pytest.fixture
async def deep_symbol(redis_client: aioredis.Redis) -> AsyncIterator[str]:
    """A private symbol whose client quote quotes has just written from one LP's depth."""
    sym = symbol()
    config = PricingConfig.of([SymbolSettings(sym, 5, Markup(2, 2), max_spread_points=100)])
    service = QuotesService(PricingEngine(config), redis_client)
    tick = RawTick(
        sym,
        LP_BIDS[0][0],
        LP_ASKS[0][0],
        int(time.time() * 1000),
        "DEEP",
        tuple((price, str(size)) for price, size in LP_BIDS),
        tuple((price, str(size)) for price, size in LP_ASKS),
    )
    try:
        assert await service.publish([tick]) == (1, 0)
        yield sym
    finally:
        await service.close()


async def test_quote_when_lp_sends_three_levels_then_redis_holds_them_marked_up(
    deep_symbol: str, redis_client: aioredis.Redis
) -> None:
    stored = await read_quote(redis_client, deep_symbol, depth=True)

    assert stored is not None
    assert [(str(p), int(n)) for p, n in stored.asks] == [
        ("1.08460", 1 * LOT),
        ("1.08465", 5 * LOT),
        ("1.08480", 20 * LOT),
    ]
    assert [str(p) for p, _ in stored.bids] == ["1.08440", "1.08435", "1.08425"]


async def test_execute_when_twenty_lots_then_bbook_fills_at_the_vwap_not_the_one_lot_price(
    stub: Stub, deep_symbol: str, db: asyncpg.Connection
) -> None:
    one = await stub.Execute(request(deep_symbol, types_pb2.SIDE_BUY, "1.00"), timeout=10)
    buy = await stub.Execute(request(deep_symbol, types_pb2.SIDE_BUY, "20.00"), timeout=10)
    sell = await stub.Execute(request(deep_symbol, types_pb2.SIDE_SELL, "20.00"), timeout=10)

    assert one.fills[0].price == "1.08460"
    # 1 x 1.08460 + 5 x 1.08465 + 14 x 1.08480 = 21.69505 over 20 lots = 1.0847525, a buy rounds up
    assert buy.status == router_pb2.EXECUTION_STATUS_FILLED
    assert (buy.fills[0].price, buy.fills[0].volume) == ("1.08476", "20.00")
    # 1 x 1.08440 + 5 x 1.08435 + 14 x 1.08425 = 21.68565 over 20 = 1.0842825, a sell rounds down
    assert (sell.fills[0].price, sell.fills[0].volume) == ("1.08428", "20.00")
    stored = await db.fetchval(
        "SELECT price FROM router.bbook_fills WHERE fill_id = $1", buy.fills[0].fill_id
    )
    assert str(stored) == "1.08476"


async def test_execute_when_order_exceeds_the_whole_book_then_rest_fills_at_the_last_level(
    stub: Stub, deep_symbol: str
) -> None:
    # 26 lots shown; 30 lots: 1 x 1.08460 + 5 x 1.08465 + 24 x 1.08480 = 32.54305 / 30 = 1.08476833
    response = await stub.Execute(request(deep_symbol, types_pb2.SIDE_BUY, "30.00"), timeout=10)

    assert response.status == router_pb2.EXECUTION_STATUS_FILLED
    assert response.book == types_pb2.BOOK_B
    assert (response.fills[0].price, response.fills[0].volume) == ("1.08477", "30.00")


async def test_execute_when_depth_price_is_past_the_deviation_then_requote_names_it(
    stub: Stub, deep_symbol: str
) -> None:
    response = await stub.Execute(
        request(
            deep_symbol,
            types_pb2.SIDE_BUY,
            "20.00",
            requested_price="1.08460",
            deviation="0.00010",
        ),
        timeout=10,
    )

    assert response.status == router_pb2.EXECUTION_STATUS_REJECTED
    assert response.reject_reason == "PRICE_DEVIATION_EXCEEDED"
    assert "1.08476" in response.reject_message
