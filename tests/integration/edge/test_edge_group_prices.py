"""Each client group sees its own price: ``/api/symbols`` bid/ask and WebSocket ticks.

alice is in group edge-vip (the fake oms's ListAccounts), bob in retail. quotes writes edge-vip's
own EURUSD price next to the default one (``fxmesh.quotecache``); each test removes it the way
quotes does (key deleted, removal published), so the rest of the session sees default prices.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import websockets

from fxmesh.quotecache import ClientQuote, write_quote
from quotes.quotewriter import QuoteWriter

WAIT = 30.0
VIP = "edge-vip"


@pytest.fixture
async def vip_price(edge: Any) -> AsyncIterator[Any]:
    redis = edge.resources.redis
    yield redis
    writer = QuoteWriter(redis)
    try:
        await writer.write([], [(VIP, "EURUSD")])
    finally:
        await writer.close()


def _quote(bid: str, ask: str, group: str = "") -> ClientQuote:
    return ClientQuote("EURUSD", Decimal(bid), Decimal(ask), int(time.time() * 1000), group=group)


async def test_symbols_when_group_has_own_price_then_each_client_sees_its_group_price(
    edge: Any, vip_price: Any, alice_token: str, bob_token: str
) -> None:
    await write_quote(vip_price, _quote("1.08444", "1.08456"))
    await write_quote(vip_price, _quote("1.08448", "1.08452", VIP))

    async with edge.client(alice_token) as http:
        alice = (await http.get("/api/symbols/EURUSD")).json()
        listed = {s["symbol"]: s for s in (await http.get("/api/symbols")).json()["symbols"]}
    async with edge.client(bob_token) as http:
        bob = (await http.get("/api/symbols/EURUSD")).json()

    assert (alice["bid"], alice["ask"], alice["spread"]) == ("1.08448", "1.08452", 4)
    assert (listed["EURUSD"]["bid"], listed["EURUSD"]["ask"]) == ("1.08448", "1.08452")
    assert (bob["bid"], bob["ask"], bob["spread"]) == ("1.08444", "1.08456", 12)


async def _ticks(socket: Any, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(WAIT):
        while len(got) < count:
            msg = json.loads(await socket.recv())
            if msg["type"] == "tick":
                got.append(msg)
    return got


async def _subscribed(url: str) -> Any:
    socket = await websockets.connect(url, open_timeout=WAIT)
    async with asyncio.timeout(WAIT):
        while json.loads(await socket.recv())["type"] != "authenticated":
            pass
        await socket.send(json.dumps({"type": "subscribe", "symbols": ["EURUSD"]}))
        while json.loads(await socket.recv())["type"] != "subscribed":
            pass
    return socket


async def test_ws_when_group_has_own_price_then_its_sockets_get_it_and_others_the_default(
    edge: Any, vip_price: Any, alice_token: str, bob_token: str
) -> None:
    # The group's price exists before the sockets subscribe (edge learns it from Redis).
    await write_quote(vip_price, _quote("1.08447", "1.08453", VIP))
    alice = await _subscribed(f"{edge.ws_url}?token={alice_token}")
    bob = await _subscribed(f"{edge.ws_url}?token={bob_token}")
    try:
        # The snapshot on subscribing is each one's own price (bob: none written yet, or the
        # default of an earlier test); drain it by asking for the next distinct prices.
        await write_quote(vip_price, _quote("1.08440", "1.08460"))
        await write_quote(vip_price, _quote("1.08446", "1.08454", VIP))
        await write_quote(vip_price, _quote("1.08441", "1.08461"))
        await write_quote(vip_price, _quote("1.08445", "1.08455", VIP))

        async with asyncio.timeout(WAIT):
            seen_alice: list[tuple[str, str]] = []
            while ("1.08445", "1.08455") not in seen_alice:
                seen_alice += [(t["bid"], t["ask"]) for t in await _ticks(alice, 1)]
            seen_bob: list[tuple[str, str]] = []
            while ("1.08441", "1.08461") not in seen_bob:
                seen_bob += [(t["bid"], t["ask"]) for t in await _ticks(bob, 1)]
        # alice never gets the default price, bob never edge-vip's.
        assert not {("1.08440", "1.08460"), ("1.08441", "1.08461")} & set(seen_alice)
        assert not {("1.08446", "1.08454"), ("1.08445", "1.08455")} & set(seen_bob)

        # The group's own price removed: alice gets the default again.
        writer = QuoteWriter(vip_price)
        try:
            await writer.write([], [(VIP, "EURUSD")])
        finally:
            await writer.close()
        async with asyncio.timeout(WAIT):
            while True:
                await write_quote(vip_price, _quote("1.08439", "1.08462"))
                ticks = await _ticks(alice, 1)
                if (ticks[0]["bid"], ticks[0]["ask"]) == ("1.08439", "1.08462"):
                    break
    finally:
        await alice.close()
        await bob.close()
