"""Live P&L on the WebSocket (edge.marks): oms's WatchAccount at the fake oms's gRPC boundary,
real uvicorn and real sockets. The P&L values themselves are oms's (tests/integration/oms/
test_oms_watch_account.py, and the e2e test moving a real price)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import websockets

from fxmesh.v1 import oms_pb2, types_pb2

WAIT = 30.0
ALICE = "1001"


def mark(position_price: str, profit: str, equity: str) -> oms_pb2.WatchAccountResponse:
    return oms_pb2.WatchAccountResponse(
        account_id=ALICE,
        currency="USD",
        balance="10000.00",
        equity=equity,
        margin="108.45",
        free_margin="9900.00",
        margin_level="9000.00",
        unrealized_pnl=profit,
        positions=[
            oms_pb2.PositionMark(
                position_id="77",
                symbol="EURUSD",
                side=types_pb2.SIDE_BUY,
                volume="0.10",
                open_price="1.08450",
                current_price=position_price,
                profit=profit,
            )
        ],
    )


async def receive_until(socket: Any, match: Callable[[dict[str, Any]], bool]) -> list[Any]:
    """Every message up to and including the first that matches."""
    seen = []
    async with asyncio.timeout(WAIT):
        while True:
            msg = json.loads(await socket.recv())
            seen.append(msg)
            if match(msg):
                return seen


async def until(holds: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while True:
            if holds():
                return
            await asyncio.sleep(0.02)


async def until_watching(edge: Any, count: int) -> None:
    """Until the fake oms serves ``count`` WatchAccount streams of alice."""
    await until(lambda: len(edge.oms.watches[ALICE]) == count)


def is_mark(msg: dict[str, Any]) -> bool:
    return msg.get("reason") == "prices"


async def test_ws_positions_subscriber_gets_live_pnl_and_others_do_not(
    edge: Any, alice_token: str
) -> None:
    url = f"{edge.ws_url}?token={alice_token}"
    async with (
        websockets.connect(url, open_timeout=WAIT) as positions,
        websockets.connect(url, open_timeout=WAIT) as legacy,
        websockets.connect(url, open_timeout=WAIT) as account_only,
    ):
        for socket in (positions, legacy, account_only):
            await receive_until(socket, lambda m: m["type"] == "authenticated")
        await account_only.send(json.dumps({"action": "subscribe", "type": "account"}))
        await receive_until(account_only, lambda m: m["type"] == "subscribed")
        await positions.send(json.dumps({"action": "subscribe", "type": "positions"}))
        await receive_until(positions, lambda m: m["type"] == "subscribed")
        await until_watching(edge, 1)

        edge.oms.push_mark(ALICE, mark("1.08500", "5.00", "10005.00"))
        got = await receive_until(positions, lambda m: m["type"] == "position_update")
        [figures] = [m for m in got if m["type"] == "account_update"]
        assert figures["reason"] == "prices"
        assert (figures["equity"], figures["unrealizedPnL"], figures["marginLevel"]) == (
            "10005.00",
            "5.00",
            "9000.00",
        )
        assert figures["data"]["unrealizedPnl"] == "5.00"
        position = got[-1]
        assert (position["action"], position["reason"]) == ("modified", "prices")
        assert position["position"] == {
            "positionId": "77",
            "accountId": ALICE,
            "symbol": "EURUSD",
            "side": "BUY",
            "volume": "0.10",
            "openPrice": "1.08450",
            "currentPrice": "1.08500",
            "unrealizedPnL": "5.00",
            "profit": "5.00",
        }

        # Sockets that did not subscribe to positions never get a mark (a ping's pong comes
        # after whatever was sent to them before it).
        for socket in (legacy, account_only):
            await socket.send(json.dumps({"type": "ping"}))
            before_pong = await receive_until(socket, lambda m: m["type"] == "pong")
            assert not [m for m in before_pong if is_mark(m)]

        # Figures moved, the position's mark did not: only account_update is sent.
        edge.oms.push_mark(ALICE, mark("1.08500", "5.00", "10005.01"))
        got = await receive_until(positions, lambda m: m.get("equity") == "10005.01")
        await positions.send(json.dumps({"type": "ping"}))
        got += await receive_until(positions, lambda m: m["type"] == "pong")
        assert [m["type"] for m in got if is_mark(m)] == ["account_update"]


async def test_ws_marks_stream_reopens_after_oms_fails_it_and_closes_with_the_last_subscriber(
    edge: Any, alice_token: str
) -> None:
    url = f"{edge.ws_url}?token={alice_token}"
    async with websockets.connect(url, open_timeout=WAIT) as socket:
        await receive_until(socket, lambda m: m["type"] == "authenticated")
        await socket.send(json.dumps({"action": "subscribe", "type": "positions"}))
        await until_watching(edge, 1)
        opened = len(edge.oms.requests["WatchAccount"])

        edge.oms.push_mark(ALICE, None)  # oms goes down: the stream fails UNAVAILABLE
        await until(lambda: len(edge.oms.requests["WatchAccount"]) > opened)
        await until_watching(edge, 1)
        edge.oms.push_mark(ALICE, mark("1.08600", "15.00", "10015.00"))
        got = await receive_until(socket, lambda m: m["type"] == "position_update")
        assert got[-1]["position"]["currentPrice"] == "1.08600"

        # A second socket of the account shares the stream and gets the current marks at once.
        async with websockets.connect(url, open_timeout=WAIT) as second:
            await receive_until(second, lambda m: m["type"] == "authenticated")
            await second.send(json.dumps({"action": "subscribe", "type": "positions"}))
            now = await receive_until(second, lambda m: m["type"] == "position_update")
            assert now[-1]["position"]["unrealizedPnL"] == "15.00"
            assert len(edge.oms.watches[ALICE]) == 1

        await socket.send(json.dumps({"action": "unsubscribe", "type": "positions"}))
        await receive_until(socket, lambda m: m["type"] == "unsubscribed")
        await until_watching(edge, 0)
