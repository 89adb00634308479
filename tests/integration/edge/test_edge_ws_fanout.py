"""WebSocket fan-out under load: slow clients are conflated, account events bound per account.

Real uvicorn with edge's own WebSocket protocol (frames straight to the socket), real Redis
pub/sub and a real RabbitMQ exchange.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from decimal import Decimal
from typing import Any

import aio_pika
import websockets

from edge.wsserver import HIGH_WATER
from fxmesh.events import declare_exchange, publish
from fxmesh.quotecache import ClientQuote, quote_channel, redis_db

WAIT = 30.0
TICKS = 20_000
# A symbol of its own: other tests (and other test runs on this Redis db) publish EURUSD.
SYMBOL = f"SLOW{uuid.uuid4().hex[:6].upper()}"
LAST_BID = "1.99999"


async def next_message(socket: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            msg = json.loads(await socket.recv())
            if msg["type"] == kind:
                return msg  # type: ignore[no-any-return]


async def subscribe(socket: Any, symbol: str) -> None:
    await next_message(socket, "authenticated")
    await socket.send(json.dumps({"type": "subscribe", "symbols": [symbol]}))
    await next_message(socket, "subscribed")


async def publish_ticks(redis_client: Any, symbol: str, bids: list[str]) -> None:
    channel = quote_channel(redis_db(redis_client), symbol)
    ts = int(time.time() * 1000)
    for start in range(0, len(bids), 1000):
        async with redis_client.pipeline(transaction=False) as pipe:
            for bid in bids[start : start + 1000]:
                quote = ClientQuote(symbol, Decimal(bid), Decimal(bid) + Decimal("0.00002"), ts)
                pipe.publish(channel, quote.to_json())
            await pipe.execute()


async def read_until_bid(socket: Any, symbol: str, bid: str) -> int:
    """Read ticks of ``symbol`` until one has ``bid``; returns how many ticks that took."""
    count = 0
    async with asyncio.timeout(WAIT):
        while True:
            msg = json.loads(await socket.recv())
            if msg["type"] == "tick" and msg["symbol"] == symbol:
                count += 1
                if msg["bid"] == bid:
                    return count


async def test_ws_when_client_stops_reading_then_server_holds_only_latest_and_sends_it_on_resume(
    edge, alice_token, redis_client
):
    url = f"{edge.ws_url}?token={alice_token}"
    # max_queue=1: the client library stops reading the socket as soon as one frame is unread.
    async with (
        websockets.connect(url, open_timeout=WAIT, max_queue=1) as slow,
        websockets.connect(url, open_timeout=WAIT) as fast,
    ):
        await subscribe(slow, SYMBOL)
        await subscribe(fast, SYMBOL)
        bids = [f"1.{i:05d}" for i in range(1, TICKS)] + [LAST_BID]

        await publish_ticks(redis_client, SYMBOL, bids)
        await read_until_bid(fast, SYMBOL, LAST_BID)  # edge has fanned out every tick by now
        held = [
            (c.pending, c.buffered_bytes)
            for c in edge.resources.hub.connections()
            if SYMBOL in c.symbols
        ]
        got = await read_until_bid(slow, SYMBOL, LAST_BID)

    # The server's memory for the stalled socket: at most the newest tick of its one symbol and a
    # send buffer kept near its high-water mark, however many ticks went by.
    assert all(pending <= 1 for pending, _ in held), held
    assert all(buffered <= HIGH_WATER + 200 for _, buffered in held), held
    # The client then gets what the kernel had buffered, then the latest price: never a backlog
    # of every tick it missed.
    assert got < TICKS // 2


async def test_ws_when_account_connects_then_its_events_are_bound_until_its_last_socket_leaves(
    edge, alice_token, amqp_url, events_exchange
):
    feed = edge.resources.events
    url = f"{edge.ws_url}?token={alice_token}"
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        exchange = await declare_exchange(await connection.channel(), events_exchange)
        async with websockets.connect(url) as first, websockets.connect(url) as second:
            await next_message(first, "authenticated")
            await next_message(second, "authenticated")
            assert "1001" in feed.bound_accounts()
            assert "1002" not in feed.bound_accounts()  # bob has no socket here
        async with asyncio.timeout(WAIT):
            while "1001" in feed.bound_accounts():  # noqa: ASYNC110 - the feed's own state
                await asyncio.sleep(0.02)

        async with websockets.connect(url) as again:
            await next_message(again, "authenticated")
            event = {
                "eventId": uuid.uuid4().hex,
                "type": "order_filled",
                "accountId": "1001",
                "occurredAt": "2026-01-02T03:04:05Z",
                "data": {"orderId": "7001"},
            }
            await publish(exchange, event)
            received = await next_message(again, "order_filled")
    finally:
        await connection.close()

    assert received["eventId"] == event["eventId"]
