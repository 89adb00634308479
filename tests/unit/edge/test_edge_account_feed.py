"""Account events: what reaches the hub before any parsing, and binding bookkeeping."""

from __future__ import annotations

import json
from typing import Any

import pytest

from edge.feeds import AccountEventFeed, AccountEventsUnavailable
from edge.hub import WRITTEN, Connection, Hub, Outgoing


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    def try_write(self, message: Outgoing) -> int:
        self.sent.append(json.loads(message.text))
        return WRITTEN

    def on_writable(self, callback: object) -> None:
        return None

    def buffered_bytes(self) -> int:
        return 0

    async def close(self, code: int, reason: str) -> None:
        return None


class Delivery:
    """The parts of an aio-pika incoming message the feed reads."""

    def __init__(self, routing_key: str, body: bytes) -> None:
        self.routing_key = routing_key
        self.body = body
        self.headers: dict[str, Any] = {}
        self.message_id = "m"


def envelope(kind: str, account: str, event_id: str) -> bytes:
    return json.dumps(
        {"eventId": event_id, "type": kind, "accountId": account, "data": {"n": 1}}
    ).encode()


async def test_on_message_when_account_has_no_socket_here_or_type_not_for_clients_then_dropped():
    hub = Hub()
    socket = Recorder()
    hub.add(Connection("1001", socket, socket.close, 10))
    feed = AccountEventFeed(hub, "amqp://unused", "unused")

    await feed._on_message(Delivery("order_filled.1002", b"not even json"))  # type: ignore[arg-type]
    await feed._on_message(Delivery("audit_log.1001", envelope("audit_log", "1001", "a")))  # type: ignore[arg-type]
    await feed._on_message(Delivery("order_filled.1001", envelope("order_filled", "1001", "b")))  # type: ignore[arg-type]

    assert [m["eventId"] for m in socket.sent] == ["b"]


async def test_attach_when_feed_not_started_then_unavailable_and_nothing_left_bound():
    feed = AccountEventFeed(Hub(), "amqp://unused", "unused")

    with pytest.raises(AccountEventsUnavailable):
        await feed.attach("1001")

    assert feed.bound_accounts() == set()
    assert feed._refs == {}


def batch(*envelopes: bytes) -> bytes:
    return b"[" + b",".join(envelopes) + b"]"


async def test_on_message_when_events_message_then_its_client_events_in_order_each_once():
    hub = Hub()
    socket = Recorder()
    hub.add(Connection("1001", socket, socket.close, 10))
    feed = AccountEventFeed(hub, "amqp://unused", "unused")
    message = Delivery(
        "events.1001",
        batch(
            envelope("order_update", "1001", "a"),
            envelope("audit_log", "1001", "x"),
            envelope("order_filled", "1001", "b"),
        ),
    )
    message.headers = {"x-event-types": "order_update,audit_log,order_filled"}
    trades = Delivery("events.1001.trades", batch(envelope("position_update", "1001", "c")))

    await feed._on_message(message)  # type: ignore[arg-type]
    await feed._on_message(message)  # type: ignore[arg-type]  # a redelivery
    await feed._on_message(trades)  # type: ignore[arg-type]

    assert [m["eventId"] for m in socket.sent] == ["a", "b", "c"]


async def test_on_message_when_events_message_has_no_client_type_or_is_malformed_then_dropped():
    hub = Hub()
    socket = Recorder()
    hub.add(Connection("1001", socket, socket.close, 10))
    feed = AccountEventFeed(hub, "amqp://unused", "unused")
    internal = Delivery("events.1001", b"not parsed: the header says nothing is for clients")
    internal.headers = {"x-event-types": "audit_log"}
    half_bad = Delivery("events.1001", batch(envelope("order_update", "1001", "a"), b'{"x":1}'))

    await feed._on_message(internal)  # type: ignore[arg-type]
    await feed._on_message(half_bad)  # type: ignore[arg-type]

    assert socket.sent == []
