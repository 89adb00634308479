"""Group markups in a running quotes: set through the RPC, applied from the next tick (NOTIFY, no
restart), one Redis quote per group with its own markup next to the default, removed at once.

Real gRPC server, PostgreSQL and Redis. Each test has its own symbol and group (removed after);
the periodic reload is an hour, so a change can only arrive through LISTEN/NOTIFY.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.db import create_pool
from fxmesh.errors import from_rpc_error
from fxmesh.quotecache import (
    ClientQuote,
    group_quote_channel,
    group_quote_key,
    read_quote,
    read_quotes,
    redis_db,
)
from fxmesh.v1 import quotes_markups_pb2 as mpb
from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc, types_pb2
from quotes.config import QuotesSettings
from quotes.server import QuotesApp, start_quotes

WAIT_SECONDS = 20.0


class StepClock:
    def __init__(self) -> None:
        self.now_ms = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now_ms


@pytest.fixture(scope="module")
def clock() -> StepClock:
    return StepClock()


@pytest.fixture(scope="module")
async def app(pg_dsn: str, redis_url: str, clock: StepClock) -> AsyncIterator[QuotesApp]:
    pool = await create_pool(pg_dsn, "quotes-markups-test")
    settings = QuotesSettings(
        postgres_dsn=pg_dsn,
        redis_url=redis_url,
        quotes_addr="127.0.0.1:0",
        quotes_settings_reload_seconds=3600,
        quotes_store_ticks=False,
    )
    quotes_app = await start_quotes(settings, pool, clock=clock)
    yield quotes_app
    await quotes_app.stop(grace=1)
    await pool.close()


@pytest.fixture
async def stub(
    app: QuotesApp, clock: StepClock
) -> AsyncIterator[quotes_pb2_grpc.QuotesServiceStub]:
    clock.now_ms += 3_600_000
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield quotes_pb2_grpc.QuotesServiceStub(channel)


@pytest.fixture
async def symbol(app: QuotesApp) -> AsyncIterator[str]:
    """A fresh 5-digit symbol with a 5 / 5 point default markup."""
    name = f"GM{uuid.uuid4().hex[:8].upper()}"
    assert app.pool is not None
    await app.pool.execute(
        "INSERT INTO quotes.symbol_settings (symbol, digits, markup_bid_points, "
        "markup_ask_points, max_spread_points) VALUES ($1, 5, 5, 5, 200)",
        name,
    )
    try:
        yield name
    finally:
        await app.pool.execute("DELETE FROM quotes.symbol_settings WHERE symbol = $1", name)


def lp_tick(clock: StepClock, symbol: str, bid: str, ask: str) -> types_pb2.Quote:
    ts = Timestamp()
    ts.FromMilliseconds(clock.now_ms)
    return types_pb2.Quote(symbol=symbol, bid=bid, ask=ask, quote_time=ts, source="LP1")


async def publish(stub: quotes_pb2_grpc.QuotesServiceStub, tick: types_pb2.Quote) -> None:
    async def requests() -> AsyncIterator[quotes_pb2.PublishTicksRequest]:
        yield quotes_pb2.PublishTicksRequest(ticks=[tick])

    await stub.PublishTicks(requests(), timeout=10)


async def quote_until(
    stub: quotes_pb2_grpc.QuotesServiceStub,
    redis: aioredis.Redis,
    tick: types_pb2.Quote,
    group: str,
    want: tuple[str, str],
) -> ClientQuote:
    """Send the same LP tick until ``group``'s quote is ``want`` (the change reached quotes)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            await publish(stub, tick)
            quote = await read_quote(redis, tick.symbol, group)
            if quote is not None and (str(quote.bid), str(quote.ask)) == want:
                return quote
            await asyncio.sleep(0.05)


def _markup(
    group: str, symbol: str, unit: int, bid: str, ask: str, minimum: int = 0
) -> mpb.GroupMarkup:
    return mpb.GroupMarkup(
        client_group=group,
        symbol=symbol,
        unit=unit,  # type: ignore[arg-type]
        markup_bid=bid,
        markup_ask=ask,
        min_spread_points=minimum,
    )


async def test_group_markup_when_set_changed_and_removed_at_run_time_then_next_quote_follows(
    stub: quotes_pb2_grpc.QuotesServiceStub,
    clock: StepClock,
    redis_client: aioredis.Redis,
    symbol: str,
) -> None:
    group = f"vip-{uuid.uuid4().hex[:6]}"
    tick = lp_tick(clock, symbol, "1.08449", "1.08451")
    await quote_until(stub, redis_client, tick, "", ("1.08444", "1.08456"))
    # No own markup yet: the group reads the default price.
    assert (await read_quote(redis_client, symbol, group)) == (
        await read_quote(redis_client, symbol)
    )

    pubsub = redis_client.pubsub()
    await pubsub.subscribe(group_quote_channel(redis_db(redis_client), group, symbol))
    try:
        reply = await stub.SetGroupMarkup(
            mpb.SetGroupMarkupRequest(
                markup=_markup(group, symbol, mpb.MARKUP_UNIT_POINTS, "1", "2")
            ),
            timeout=10,
        )
        assert not reply.HasField("before")
        vip = await quote_until(stub, redis_client, tick, group, ("1.08448", "1.08453"))
        assert vip.group == group
        # The router prices the group's A-book fills with these (LP price + markup).
        assert (str(vip.markup_bid), str(vip.markup_ask)) == ("0.00001", "0.00002")
        # The default price and other groups are untouched.
        default = await read_quote(redis_client, symbol)
        assert default is not None
        assert (str(default.bid), str(default.ask)) == ("1.08444", "1.08456")
        other = await read_quotes(redis_client, [symbol], "retail")
        assert (str(other[symbol].bid), str(other[symbol].ask)) == ("1.08444", "1.08456")

        # Changed: percent with a minimum spread, from the next tick on.
        reply = await stub.SetGroupMarkup(
            mpb.SetGroupMarkupRequest(
                markup=_markup(group, symbol, mpb.MARKUP_UNIT_PERCENT, "0", "0", minimum=10)
            ),
            timeout=10,
        )
        assert reply.before.markup_ask == "2"
        await quote_until(stub, redis_client, tick, group, ("1.08445", "1.08455"))

        # Removed: the group's key goes without waiting for a tick; the group reads the default.
        await stub.DeleteGroupMarkup(
            mpb.DeleteGroupMarkupRequest(client_group=group, symbol=symbol), timeout=10
        )
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                if not await redis_client.exists(group_quote_key(group, symbol)):
                    break
                await asyncio.sleep(0.05)
        fallback = await read_quote(redis_client, symbol, group)
        assert fallback is not None
        assert (str(fallback.bid), str(fallback.ask), fallback.group) == ("1.08444", "1.08456", "")

        # The channel carried the group's prices, then the removal.
        seen: list[dict[str, object]] = []
        async with asyncio.timeout(WAIT_SECONDS):
            while not any(doc.get("removed") for doc in seen):
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is not None:
                    seen.append(json.loads(message["data"]))
        assert {doc.get("group") for doc in seen} == {group}
        assert ("1.08448", "1.08453") in {(doc.get("bid"), doc.get("ask")) for doc in seen}
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


async def test_set_group_markup_when_bad_input_then_refused_with_reason(
    stub: quotes_pb2_grpc.QuotesServiceStub, symbol: str
) -> None:
    cases = [
        (_markup("g1", "NOSUCH", mpb.MARKUP_UNIT_POINTS, "1", "1"), "UNKNOWN_SYMBOL"),
        (_markup("g1", symbol, mpb.MARKUP_UNIT_POINTS, "-1", "1"), "INVALID_MARKUP"),
        (_markup("g1", symbol, mpb.MARKUP_UNIT_PERCENT, "1", "100"), "INVALID_MARKUP"),
        (_markup("g1", symbol, mpb.MARKUP_UNIT_UNSPECIFIED, "1", "1"), "MISSING_FIELD"),
        (_markup("bad group", symbol, mpb.MARKUP_UNIT_POINTS, "1", "1"), "INVALID_CLIENT_GROUP"),
        (_markup("g1", symbol, mpb.MARKUP_UNIT_POINTS, "1", "1", minimum=-1), "INVALID_MARKUP"),
    ]
    for markup, reason in cases:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.SetGroupMarkup(mpb.SetGroupMarkupRequest(markup=markup), timeout=10)
        assert from_rpc_error(raised.value).reason == reason
    listed = await stub.ListGroupMarkups(mpb.ListGroupMarkupsRequest(symbol=symbol), timeout=10)
    assert list(listed.markups) == []
