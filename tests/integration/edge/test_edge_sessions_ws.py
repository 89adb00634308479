"""The design's WebSocket protocol with a real client: subscribe / unsubscribe messages, the
design's fields on tick / account_update / position_update, per-socket limits, and a logout on one
replica closing the session's socket on another."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aio_pika
import pytest
import websockets
from edge_fake_oms import CLIENTS
from edge_replicas import replica

from fxmesh.events import declare_exchange, publish
from fxmesh.quotecache import ClientQuote, write_quote

WAIT = 30.0


async def next_message(socket: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        while True:
            msg = json.loads(await socket.recv())
            if msg["type"] == kind:
                return msg  # type: ignore[no-any-return]


async def _drain(socket: Any) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            await socket.recv()


async def closed_with(socket: Any) -> int:
    """The close code the server sent (reading until the socket closes)."""
    with pytest.raises(websockets.ConnectionClosed) as closed:
        await _drain(socket)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def envelope(kind: str, data: dict[str, Any], account_id: str = "1001") -> dict[str, Any]:
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


async def _tokens(http: Any) -> dict[str, Any]:
    response = await http.post("/api/login", json={"login": "alice", "password": "alice-pw"})
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


ACCOUNT = {
    "accountId": "1001",
    "currency": "USD",
    "balance": "10000.00",
    "equity": "10012.50",
    "margin": "108.45",
    "freeMargin": "9904.05",
    "marginLevel": "9232.37",
    "unrealizedPnl": "12.50",
    "reason": "ORDER_FILLED",
}
POSITION = {
    "positionId": "7001",
    "accountId": "1001",
    "symbol": "EURUSD",
    "side": "BUY",
    "volume": "1.00",
    "openPrice": "1.08452",
    "orderId": "6001",
    "state": "OPEN",
    "currentPrice": "1.08477",
    "profit": "25.00",
}


async def test_ws_design_quotes_subscription_then_tick_with_spread_and_timestamp(
    edge, alice_token, redis_client
):
    async with websockets.connect(f"{edge.ws_url}?token={alice_token}") as socket:
        await next_message(socket, "authenticated")
        await socket.send(
            json.dumps({"action": "subscribe", "type": "quotes", "symbols": ["EURUSD"]})
        )
        subscribed = await next_message(socket, "subscribed")
        ts = int(time.time() * 1000)
        await write_quote(
            redis_client, ClientQuote("EURUSD", Decimal("1.08450"), Decimal("1.08470"), ts)
        )
        tick = await next_message(socket, "tick")
        await socket.send(json.dumps({"action": "unsubscribe", "type": "quotes"}))
        unsubscribed = await next_message(socket, "unsubscribed")

    assert subscribed == {"type": "subscribed", "subscription": "quotes", "symbols": ["EURUSD"]}
    assert tick["symbol"] == "EURUSD"
    assert (tick["bid"], tick["ask"], tick["spread"]) == ("1.08450", "1.08470", "0.00020")
    assert tick["timestamp"] == tick["ts"] == ts
    assert unsubscribed == {"type": "unsubscribed", "subscription": "quotes", "symbols": []}


async def test_ws_design_account_and_positions_only_once_subscribed(edge, alice_token, exchange):
    async with websockets.connect(f"{edge.ws_url}?token={alice_token}") as socket:
        await next_message(socket, "authenticated")
        # Any action message switches the socket to "only what it subscribed".
        await socket.send(json.dumps({"action": "subscribe", "type": "account"}))
        assert await next_message(socket, "subscribed") == {
            "type": "subscribed",
            "subscription": "account",
        }
        unwanted = envelope("position_update", POSITION)
        account = envelope("account_update", ACCOUNT)
        await publish(exchange, unwanted)
        await publish(exchange, account)
        first = await next_message(socket, "account_update")

        await socket.send(json.dumps({"action": "subscribe", "type": "positions"}))
        await next_message(socket, "subscribed")
        filled = envelope(
            "order_filled",
            {
                "order": {"orderId": "6001", "status": "FILLED"},
                "fills": [],
                "positions": [POSITION],
            },
        )
        opened = envelope("position_update", POSITION)
        modified = envelope("position_update", {**POSITION, "stopLoss": "1.08000"})
        closed = envelope(
            "position_update",
            {**POSITION, "state": "CLOSED", "currentPrice": "", "profit": ""},
        )
        for event in (filled, opened, modified, closed):
            await publish(exchange, event)
        updates = [await next_message(socket, "position_update") for _ in range(3)]

        await socket.send(json.dumps({"action": "unsubscribe", "type": "account"}))
        await next_message(socket, "unsubscribed")
        await publish(exchange, envelope("account_update", ACCOUNT))
        marker = envelope("position_update", {**POSITION, "positionId": "7002"})
        await publish(exchange, marker)
        after = json.loads(await asyncio.wait_for(socket.recv(), WAIT))

    # The position_update published before the positions subscription never came.
    assert first["eventId"] == account["eventId"]
    assert {k: first[k] for k in ("balance", "equity", "margin", "freeMargin")} == {
        "balance": "10000.00",
        "equity": "10012.50",
        "margin": "108.45",
        "freeMargin": "9904.05",
    }
    assert (first["marginLevel"], first["unrealizedPnL"]) == ("9232.37", "12.50")
    assert first["data"] == ACCOUNT  # oms's payload untouched, as before
    assert [u["eventId"] for u in updates] == [
        opened["eventId"],
        modified["eventId"],
        closed["eventId"],
    ]
    assert [u["action"] for u in updates] == ["opened", "modified", "closed"]
    assert updates[0]["position"]["currentPrice"] == "1.08477"
    assert updates[0]["position"]["unrealizedPnL"] == "25.00"
    assert updates[2]["position"]["unrealizedPnL"] is None
    # After unsubscribing from account, the next frame is the positions marker.
    assert after["eventId"] == marker["eventId"]


async def test_ws_legacy_socket_without_action_messages_gets_every_account_event(
    edge, alice_token, exchange
):
    async with websockets.connect(f"{edge.ws_url}?token={alice_token}") as socket:
        await next_message(socket, "authenticated")
        await socket.send(json.dumps({"type": "subscribe", "symbols": ["EURUSD"]}))
        await next_message(socket, "subscribed")
        event = envelope("position_update", POSITION)
        await publish(exchange, event)
        received = await next_message(socket, "position_update")

    assert received["eventId"] == event["eventId"]
    assert received["action"] == "modified"


async def test_ws_logout_on_another_replica_then_open_socket_closed_4401_and_reconnect_refused(
    edge, redis_client
):
    async with replica(edge) as other, edge.client() as http, other.client() as http_b:
        tokens = await _tokens(http)
        token = tokens["accessToken"]
        async with websockets.connect(f"{edge.ws_url}?token={token}") as socket:
            await next_message(socket, "authenticated")
            logout = await http_b.post("/api/logout", headers={"Authorization": f"Bearer {token}"})
            error = await next_message(socket, "error")
            code = await closed_with(socket)
        async with websockets.connect(f"{other.ws_url}?token={token}") as again:
            refused = await next_message(again, "error")
            refused_code = await closed_with(again)

    assert logout.status_code == 204
    assert error["code"] == "TOKEN_REVOKED"
    assert code == 4401
    assert refused["code"] == "UNAUTHENTICATED"
    assert refused_code == 4401


async def test_ws_when_account_has_too_many_sockets_across_replicas_then_refused_1008(
    edge, alice_token, redis_client
):
    async with (
        replica(edge, ws_max_sockets_per_account=2) as a,
        replica(edge, ws_max_sockets_per_account=2) as b,
        websockets.connect(f"{a.ws_url}?token={alice_token}") as first,
        websockets.connect(f"{b.ws_url}?token={alice_token}") as second,
    ):
        await next_message(first, "authenticated")
        await next_message(second, "authenticated")
        async with websockets.connect(f"{a.ws_url}?token={alice_token}") as third:
            refused = await next_message(third, "error")
            code = await closed_with(third)
        await second.close()
        await asyncio.sleep(0.2)
        async with websockets.connect(f"{b.ws_url}?token={alice_token}") as fourth:
            welcomed = await next_message(fourth, "authenticated")

    assert refused["code"] == "TOO_MANY_SOCKETS"
    assert code == 1008
    assert welcomed["accountId"] == "1001"


async def test_ws_when_messages_over_rate_or_symbols_over_limit_then_errors(
    edge, alice_token, redis_client
):
    overrides = {"ws_message_burst": 3, "ws_messages_per_second": 0.01, "ws_max_symbols": 2}
    async with (
        replica(edge, **overrides) as other,
        websockets.connect(f"{other.ws_url}?token={alice_token}") as socket,
    ):
        await next_message(socket, "authenticated")
        await socket.send(
            json.dumps({"action": "subscribe", "type": "quotes", "symbols": ["A1", "B2", "C3"]})
        )
        too_many = await next_message(socket, "error")
        await socket.send(json.dumps({"type": "ping"}))
        await next_message(socket, "pong")
        await socket.send(json.dumps({"type": "ping"}))
        await next_message(socket, "pong")
        await socket.send(json.dumps({"type": "ping"}))  # the fourth: over the bucket
        limited = await next_message(socket, "error")

    assert too_many["code"] == "TOO_MANY_SUBSCRIPTIONS"
    assert limited["code"] == "RATE_LIMITED"


async def test_risk_get_forms_when_design_query_then_oms_asked_in_points(
    edge, alice_token, redis_client
):
    await write_quote(
        redis_client,
        ClientQuote("EURUSD", Decimal("1.08450"), Decimal("1.08470"), int(time.time() * 1000)),
    )
    async with edge.client(alice_token) as http:
        lot = await http.get(
            "/api/risk/calculate-lot", params={"risk": "2", "slPips": "20", "symbol": "EURUSD"}
        )
        lot_request = edge.oms.last("CalculateLot")
        margin = await http.get(
            "/api/risk/margin-preview",
            params={"symbol": "EURUSD", "volume": "1.0", "side": "BUY"},
        )
        margin_request = edge.oms.last("PreviewMargin")
        no_quote = await http.get(
            "/api/risk/calculate-lot", params={"risk": "2", "slPips": "20", "symbol": "XAUXAU"}
        )
        both = await http.get(
            "/api/risk/calculate-lot",
            params={"risk": "2", "slPips": "20", "slPoints": "5", "symbol": "EURUSD"},
        )

    assert lot.status_code == 200, lot.text
    assert lot.json()["volume"] == "0.25"
    assert (lot_request.risk_percent, lot_request.stop_loss_points) == ("2", 200)
    assert lot_request.account_id == CLIENTS["alice"][1]
    assert margin.status_code == 200
    assert margin.json()["freeMarginAfter"] == "9794.88"
    assert (margin_request.symbol, margin_request.volume) == ("EURUSD", "1.0")
    assert no_quote.status_code == 409
    assert no_quote.json()["code"] == "NO_QUOTE"
    assert both.status_code == 422
