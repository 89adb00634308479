"""WebSocket scenarios: real uvicorn, real RabbitMQ exchange, real Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aio_pika
import pytest
import websockets

from fxmesh.events import declare_exchange, publish
from fxmesh.quotecache import ClientQuote, write_quote

WAIT = 30.0


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[Any]:
    async with websockets.connect(url, open_timeout=WAIT) as socket:
        yield socket


async def next_message(socket: Any, kind: str) -> dict[str, Any]:
    """The next message of type ``kind`` (skipping heartbeats and other kinds)."""
    async with asyncio.timeout(WAIT):
        while True:
            msg = json.loads(await socket.recv())
            if msg["type"] == kind:
                return msg  # type: ignore[no-any-return]


def envelope(kind: str, account_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {
        "eventId": uuid.uuid4().hex,
        "type": kind,
        "accountId": account_id,
        "occurredAt": "2026-01-02T03:04:05Z",
        "data": data,
    }


@pytest.fixture
async def exchange(amqp_url: str, events_exchange: str) -> AsyncIterator[Any]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    yield await declare_exchange(channel, events_exchange)
    await connection.close()


async def test_ws_when_token_in_query_then_receives_own_account_events_only(
    edge, alice_token, exchange
):
    async with connected(f"{edge.ws_url}?token={alice_token}") as socket:
        hello = await next_message(socket, "authenticated")
        assert hello["accountId"] == "1001"

        others = envelope("order_filled", "1002", {"orderId": "ord-bob"})
        mine = envelope("order_filled", "1001", {"orderId": "ord-alice", "price": "1.08452"})
        await publish(exchange, others)
        await publish(exchange, mine)

        received = await next_message(socket, "order_filled")

    # RabbitMQ keeps the order on the queue: had bob's event been forwarded it would come first.
    assert received["eventId"] == mine["eventId"]
    assert received["data"] == {"orderId": "ord-alice", "price": "1.08452"}


async def test_ws_when_authenticated_by_first_message_then_welcomed(edge, alice_token):
    async with connected(edge.ws_url) as socket:
        await socket.send(json.dumps({"type": "auth", "token": alice_token}))
        hello = await next_message(socket, "authenticated")

    assert hello["accountId"] == "1001"


async def test_ws_when_token_invalid_then_error_and_close_4401(edge):
    async with connected(f"{edge.ws_url}?token=not-a-token") as socket:
        error = await next_message(socket, "error")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), WAIT)

    assert error["code"] == "UNAUTHENTICATED"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


async def test_ws_when_subscribed_then_tick_for_published_quote(edge, alice_token, redis_client):
    async with connected(f"{edge.ws_url}?token={alice_token}") as socket:
        await next_message(socket, "authenticated")
        await socket.send(json.dumps({"type": "subscribe", "symbols": ["EURUSD"]}))
        subscribed = await next_message(socket, "subscribed")
        assert subscribed["symbols"] == ["EURUSD"]

        ts = int(time.time() * 1000)
        await write_quote(
            redis_client, ClientQuote("GBPUSD", Decimal("1.26010"), Decimal("1.26030"), ts)
        )
        await write_quote(
            redis_client, ClientQuote("EURUSD", Decimal("1.08450"), Decimal("1.08470"), ts)
        )
        tick = await next_message(socket, "tick")

    assert tick == {
        "type": "tick",
        "symbol": "EURUSD",
        "bid": "1.08450",
        "ask": "1.08470",
        "spread": "0.00020",
        "timestamp": ts,
        "ts": ts,
    }


async def test_ws_when_ping_sent_then_pong(edge, alice_token):
    async with connected(f"{edge.ws_url}?token={alice_token}") as socket:
        await socket.send(json.dumps({"type": "ping"}))
        pong = await next_message(socket, "pong")

    assert isinstance(pong["ts"], int)


CONTROL_FRAMES = {"authenticated", "heartbeat", "subscribed", "pong"}
EVENT_DATA = {
    "order_update": {"order": {"orderId": "5001", "status": "WORKING", "price": "1.07000"}},
    "order_filled": {"order": {"orderId": "5002", "status": "FILLED"}, "fills": []},
    "order_rejected": {"order": {"orderId": "5003", "rejectReason": "MARKET_CLOSED"}},
    "position_update": {"positionId": "5004", "volume": "0.10", "stopLoss": "1.08000"},
    "account_update": {"balance": "10004.10", "equity": "10010.00", "reason": "ORDER_FILLED"},
    "margin_call": {"marginLevel": "98.50", "marginCallLevel": "100"},
    "margin_call_cleared": {"marginLevel": "105.00", "marginCallLevel": "100"},
}


async def next_event(socket: Any) -> dict[str, Any]:
    """The next frame that is not a control frame (welcome, heartbeat, ...)."""
    async with asyncio.timeout(WAIT):
        while True:
            msg = json.loads(await socket.recv())
            if msg["type"] not in CONTROL_FRAMES:
                return msg  # type: ignore[no-any-return]


async def test_ws_when_each_client_event_type_published_then_received_in_documented_shape(
    edge, alice_token, exchange
):
    async with connected(f"{edge.ws_url}?token={alice_token}") as socket:
        await next_message(socket, "authenticated")
        sent = [envelope(kind, "1001", data) for kind, data in EVENT_DATA.items()]
        for event in sent:
            await publish(exchange, event)
        received = [await next_event(socket) for _ in sent]

    # The design's top-level fields of account_update / position_update come on top (see
    # test_edge_sessions_ws.py); the rest is exactly the envelope.
    common = ("type", "data", "eventId", "occurredAt")
    assert [{k: m[k] for k in common} for m in received] == [
        {
            "type": event["type"],
            "data": event["data"],
            "eventId": event["eventId"],
            "occurredAt": "2026-01-02T03:04:05Z",
        }
        for event in sent
    ]


async def test_ws_when_other_accounts_or_internal_events_then_not_delivered(
    edge, alice_token, bob_token, exchange
):
    async with (
        connected(f"{edge.ws_url}?token={bob_token}") as bob,
        connected(f"{edge.ws_url}?token={alice_token}") as alice,
    ):
        await next_message(bob, "authenticated")
        await next_message(alice, "authenticated")
        for kind, data in EVENT_DATA.items():
            await publish(exchange, envelope(kind, "1001", data))
        await publish(exchange, envelope("audit_log", "1002", {"secret": "back office"}))
        marker = envelope("margin_call", "1002", {"marginLevel": "99.00"})
        await publish(exchange, marker)

        bobs_first = await next_event(bob)
        alices = [(await next_event(alice))["type"] for _ in EVENT_DATA]

    # One queue keeps publish order: had anything before the marker been forwarded to bob, it
    # would have arrived first.
    assert bobs_first["eventId"] == marker["eventId"]
    assert alices == list(EVENT_DATA)


async def test_ws_when_event_redelivered_then_sent_once(edge, alice_token, exchange):
    async with connected(f"{edge.ws_url}?token={alice_token}") as socket:
        await next_message(socket, "authenticated")
        event = envelope("position_update", "1001", {"positionId": "5005"})
        after = envelope("account_update", "1001", {"balance": "1.00"})
        await publish(exchange, event)
        await publish(exchange, event)
        await publish(exchange, after)

        first = await next_event(socket)
        second = await next_event(socket)

    assert first["eventId"] == event["eventId"]
    assert second["eventId"] == after["eventId"]
