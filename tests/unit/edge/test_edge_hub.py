"""WebSocket fan-out: per-account routing and tick conflation for slow sockets.

Two kinds of sink: ``AsgiSink`` (any ASGI server, one send in flight) and edge's own WebSocket
protocol (frames straight to the transport, faked here); connections conflate the same way on both.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from edge.hub import FULL, GONE, WRITTEN, AsgiSink, Connection, Hub, Outgoing, text_frame
from edge.metrics import WS_TICKS_CONFLATED


class SlowSocket:
    """A socket whose sends block until released."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.first_send_started = asyncio.Event()
        self.closed: int | None = None

    async def send_text(self, text: str) -> None:
        self.first_send_started.set()
        await self.release.wait()
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = code


class FakeTransportSocket:
    """A frame sink (as edge's WebSocket protocol) that is FULL while ``full`` is set."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.full = False
        self.gone = False
        self.callback: Callable[[], None] | None = None
        self.closed: int | None = None

    def try_write(self, message: Outgoing) -> int:
        if self.full:
            return FULL
        if self.gone:
            return GONE
        self.frames.append(message.frame)
        return WRITTEN

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        self.callback = callback

    def buffered_bytes(self) -> int:
        return 0

    def drain(self) -> None:
        self.full = False
        if self.callback is not None:
            self.callback()

    def messages(self) -> list[dict[str, Any]]:
        out = []
        for frame in self.frames:
            assert frame[0] == 0x81  # FIN + text
            length = frame[1]
            payload = frame[2:] if length < 126 else frame[4:]
            out.append(json.loads(payload))
        return out

    async def close(self, code: int, reason: str) -> None:
        self.closed = code


def tick(symbol: str, bid: str) -> Outgoing:
    return Outgoing.of({"type": "tick", "symbol": symbol, "bid": bid, "ask": bid, "ts": 0})


def asgi_connection(account: str, socket: SlowSocket, max_pending: int = 100) -> Connection:
    return Connection(account, AsgiSink(socket.send_text), socket.close, max_pending)


async def wait_until(predicate: Any) -> None:
    async with asyncio.timeout(10):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


def test_text_frame_when_payload_lengths_cross_the_encodings_then_header_matches_rfc6455():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 126)[:4] == b"\x81\x7e\x00\x7e"
    assert text_frame(b"x" * 70_000)[:10] == b"\x81\x7f" + (70_000).to_bytes(8, "big")


async def test_publish_tick_when_socket_slow_then_only_latest_tick_per_symbol_is_sent():
    socket = SlowSocket()
    hub = Hub()
    conn = asgi_connection("1001", socket)
    hub.add(conn)
    hub.subscribe(conn, {"EURUSD", "GBPUSD"})
    conflated_before = WS_TICKS_CONFLATED._value.get()

    hub.publish_tick("EURUSD", tick("EURUSD", "1.00001"))
    await socket.first_send_started.wait()  # the socket is now stuck on the first tick
    for bid in ("1.00002", "1.00003", "1.00004"):
        hub.publish_tick("EURUSD", tick("EURUSD", bid))
    hub.publish_tick("GBPUSD", tick("GBPUSD", "1.20000"))
    socket.release.set()
    await wait_until(lambda: len(socket.sent) == 3)

    assert [(m["symbol"], m["bid"]) for m in socket.sent] == [
        ("EURUSD", "1.00001"),
        ("EURUSD", "1.00004"),
        ("GBPUSD", "1.20000"),
    ]
    assert WS_TICKS_CONFLATED._value.get() - conflated_before == 2
    hub.remove(conn)
    await conn.stop()


async def test_publish_tick_when_raw_socket_full_then_held_one_per_symbol_and_sent_on_drain():
    socket = FakeTransportSocket()
    hub = Hub()
    conn = Connection("1001", socket, socket.close, max_pending=100)
    hub.add(conn)
    hub.subscribe(conn, {"EURUSD", "GBPUSD"})

    hub.publish_tick("EURUSD", tick("EURUSD", "1.00001"))
    socket.full = True  # the client stopped reading: its buffers filled up
    for i in range(2, 10_000):
        hub.publish_tick("EURUSD", tick("EURUSD", f"1.{i:05d}"))
        hub.publish_tick("GBPUSD", tick("GBPUSD", f"1.2{i:04d}"))
    held_while_full = conn.pending
    socket.drain()  # it reads again

    assert held_while_full == 2
    assert [(m["symbol"], m["bid"]) for m in socket.messages()] == [
        ("EURUSD", "1.00001"),
        ("EURUSD", "1.09999"),
        ("GBPUSD", "1.29999"),
    ]
    assert conn.pending == 0
    hub.remove(conn)
    await conn.stop()


async def test_publish_tick_when_many_subscribers_then_every_socket_gets_the_same_frame():
    sockets = [FakeTransportSocket() for _ in range(3)]
    hub = Hub()
    conns = [Connection(str(1000 + i), s, s.close, 10) for i, s in enumerate(sockets)]
    for conn in conns:
        hub.add(conn)
        hub.subscribe(conn, {"EURUSD"})
    message = tick("EURUSD", "1.08450")

    delivered = hub.publish_tick("EURUSD", message)

    assert delivered == 3
    assert all(s.frames == [message.frame] for s in sockets)
    assert all(s.frames[0] is sockets[0].frames[0] for s in sockets)  # built once


async def test_offer_when_raw_socket_full_then_events_keep_their_order_ahead_of_ticks():
    socket = FakeTransportSocket()
    hub = Hub()
    conn = Connection("1001", socket, socket.close, max_pending=100)
    hub.add(conn)
    hub.subscribe(conn, {"EURUSD"})
    socket.full = True

    hub.publish_tick("EURUSD", tick("EURUSD", "1.00001"))
    hub.publish_account_event("1001", {"type": "order_filled", "eventId": "e1"})
    hub.publish_account_event("1001", {"type": "account_update", "eventId": "e2"})
    socket.drain()

    assert [m["type"] for m in socket.messages()] == ["order_filled", "account_update", "tick"]


async def test_publish_account_event_when_other_account_then_not_delivered():
    mine, theirs = SlowSocket(), SlowSocket()
    mine.release.set()
    theirs.release.set()
    hub = Hub()
    a = asgi_connection("1001", mine)
    b = asgi_connection("1002", theirs)
    for conn in (a, b):
        hub.add(conn)

    delivered = hub.publish_account_event("1001", {"type": "order_filled", "eventId": "e1"})
    await wait_until(lambda: len(mine.sent) == 1)

    assert delivered == 1
    assert mine.sent == [{"type": "order_filled", "eventId": "e1"}]
    assert theirs.sent == []
    assert hub.has_account("1001")
    for conn in (a, b):
        hub.remove(conn)
        await conn.stop()
    assert not hub.has_account("1001")


async def test_offer_when_event_backlog_exceeds_limit_then_socket_closed_as_too_slow():
    socket = SlowSocket()
    conn = asgi_connection("1001", socket, max_pending=2)
    conn.offer({"type": "a"})
    await socket.first_send_started.wait()

    for kind in ("b", "c", "d"):
        conn.offer({"type": kind})
    await wait_until(lambda: socket.closed is not None)

    assert socket.closed == 1013
    await conn.stop()


async def test_offer_when_raw_socket_gone_then_connection_stops_sending():
    socket = FakeTransportSocket()
    conn = Connection("1001", socket, socket.close, max_pending=10)
    socket.gone = True

    conn.offer({"type": "heartbeat"})
    sent_after_gone = conn.offer_tick("EURUSD", tick("EURUSD", "1.00001"))

    assert sent_after_gone is False
    assert conn.pending == 0
    await conn.stop()


async def test_publish_tick_when_many_subscribers_then_no_socket_is_always_written_last():
    order: list[int] = []

    class Recording(FakeTransportSocket):
        def __init__(self, number: int) -> None:
            super().__init__()
            self.number = number

        def try_write(self, message: Outgoing) -> int:
            order.append(self.number)
            return super().try_write(message)

    hub = Hub()
    for i in range(4):
        socket = Recording(i)
        conn = Connection(str(1000 + i), socket, socket.close, 10)
        hub.add(conn)
        hub.subscribe(conn, {"EURUSD"})

    lasts = set()
    for n in range(4):
        order.clear()
        hub.publish_tick("EURUSD", tick("EURUSD", f"1.0000{n}"))
        assert sorted(order) == [0, 1, 2, 3]
        lasts.add(order[-1])

    assert lasts == {0, 1, 2, 3}
