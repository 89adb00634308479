"""WebSocket fan-out: per-account routing and tick conflation for slow sockets."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from edge.hub import Connection, Hub
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


def tick(symbol: str, bid: str) -> dict[str, Any]:
    return {"type": "tick", "symbol": symbol, "bid": bid, "ask": bid, "ts": 0}


async def wait_until(predicate: Any) -> None:
    async with asyncio.timeout(10):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


async def test_publish_tick_when_socket_slow_then_only_latest_tick_per_symbol_is_sent():
    socket = SlowSocket()
    hub = Hub()
    conn = Connection("1001", socket.send_text, socket.close, max_pending=100)
    hub.add(conn)
    hub.subscribe(conn, {"EURUSD", "GBPUSD"})
    conn.start()
    conflated_before = WS_TICKS_CONFLATED._value.get()

    hub.publish_tick("EURUSD", tick("EURUSD", "1.00001"))
    await socket.first_send_started.wait()  # the writer is now stuck on the first tick
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


async def test_publish_account_event_when_other_account_then_not_delivered():
    mine, theirs = SlowSocket(), SlowSocket()
    mine.release.set()
    theirs.release.set()
    hub = Hub()
    a = Connection("1001", mine.send_text, mine.close, max_pending=100)
    b = Connection("1002", theirs.send_text, theirs.close, max_pending=100)
    for conn in (a, b):
        hub.add(conn)
        conn.start()

    delivered = hub.publish_account_event("1001", {"type": "order_filled", "eventId": "e1"})
    await wait_until(lambda: len(mine.sent) == 1)

    assert delivered == 1
    assert mine.sent == [{"type": "order_filled", "eventId": "e1"}]
    assert theirs.sent == []
    for conn in (a, b):
        hub.remove(conn)
        await conn.stop()


async def test_offer_when_event_backlog_exceeds_limit_then_socket_closed_as_too_slow():
    socket = SlowSocket()
    conn = Connection("1001", socket.send_text, socket.close, max_pending=2)
    conn.start()
    conn.offer({"type": "a"})
    await socket.first_send_started.wait()

    for kind in ("b", "c", "d"):
        conn.offer({"type": kind})
    socket.release.set()
    await wait_until(lambda: socket.closed is not None)

    assert socket.closed == 1013
    await conn.stop()
