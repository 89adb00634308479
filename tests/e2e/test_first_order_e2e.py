"""End to end: the whole stack as separate processes, driven only through edge, like a client.

One private stack per test session (free ports, its own database, Redis database and exchange), so
this runs next to a developer's stack without touching it. The LP simulator's price is frozen so the
fill price is exact: client ask = LP ask + EURUSD markup (5 points at 5 digits).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from fxmesh.stack.supervisor import Stack, StackConfig, claim_redis_db, log_tail

pytestmark = pytest.mark.e2e

WAIT = 60.0  # generous: a slow CI machine must never make this flaky
LP_BID, LP_ASK = Decimal("1.08449"), Decimal("1.08451")
MARKUP = Decimal("0.00005")  # catalogue: EURUSD markup_bid/ask_points 5, digits 5
CLIENT_BID, CLIENT_ASK = LP_BID - MARKUP, LP_ASK + MARKUP  # 1.08444 / 1.08456
DEMO_LOGIN = os.environ.get("FXMESH_DEMO_LOGIN", "demo")
DEMO_PASSWORD = os.environ.get("FXMESH_DEMO_PASSWORD", "demo1234")


@pytest.fixture(scope="session")
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The whole stack on free ports with private state; stopped (and cleaned) at the end."""
    run_dir = Path(tempfile.mkdtemp(prefix="fxmesh-e2e-"))
    redis_db = await claim_redis_db("redis://127.0.0.1:6379", owner=f"e2e:{os.getpid()}")
    stack = Stack(StackConfig.isolated(run_dir, redis_db=redis_db, ready_timeout=120.0))
    await stack.start(lambda _line: None)
    failed_before = request.session.testsfailed
    yield stack
    await stack.stop(lambda _line: None)
    if request.session.testsfailed > failed_before:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"e2e: stack logs kept in {run_dir / 'logs'}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)


class WsInbox:
    """Every message received on one WebSocket, with a way to wait for a matching one."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                async with self._arrived:
                    self.messages.append(json.loads(raw))
                    self._arrived.notify_all()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def wait_for(self, what: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def first_match() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    for msg in self.messages:
                        if match(msg):
                            return msg
                    await self._arrived.wait()

        try:
            return await asyncio.wait_for(first_match(), WAIT)
        except TimeoutError:
            kinds = [m.get("type") for m in self.messages[-20:]]
            raise AssertionError(
                f"no {what} on the WebSocket within {WAIT:.0f} s; got {kinds}"
            ) from None

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def wait_until_logged(stack: Stack, service: str, needle: str) -> None:
    log = stack.log_file(service)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while needle not in log.read_text(errors="replace"):
        if loop.time() > deadline:
            raise AssertionError(f"{needle} not in {log}; tail:\n{log_tail(log, 20)}")
        await asyncio.sleep(0.5)


def is_frozen_tick(msg: dict[str, Any]) -> bool:
    return (
        msg.get("type") == "tick"
        and msg.get("symbol") == "EURUSD"
        and Decimal(msg["bid"]) == CLIENT_BID
        and Decimal(msg["ask"]) == CLIENT_ASK
    )


async def test_first_market_order_when_placed_through_edge_then_filled_at_marked_up_ask_and_booked(
    stack: Stack,
) -> None:
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        # Arrange: log in, open the WebSocket, freeze the LP price and wait until clients see it.
        login = await edge.post("/api/login", json={"login": DEMO_LOGIN, "password": DEMO_PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["accessToken"]
        auth = {"authorization": f"Bearer {token}"}

        inbox = WsInbox(await websockets.connect(f"{stack.edge_ws_url}?token={token}"))
        try:
            await inbox.wait_for("authenticated", lambda m: m.get("type") == "authenticated")
            await inbox.send({"type": "subscribe", "symbols": ["EURUSD"]})
            frozen = await lpsim.put("/config", json={"walk": False})
            assert frozen.status_code == 200, frozen.text
            priced = await lpsim.put(
                "/prices/EURUSD", json={"bid": str(LP_BID), "ask": str(LP_ASK)}
            )
            assert priced.status_code == 200, priced.text
            await inbox.wait_for(f"EURUSD tick {CLIENT_BID}/{CLIENT_ASK}", is_frozen_tick)

            # Act: the first market order.
            order_request = {
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "0.10",
                "clientOrderId": "e2e-1",
            }
            placed = await edge.post("/api/orders/market", json=order_request, headers=auth)

            # Assert: filled at LP ask + markup, exactly.
            assert placed.status_code == 200, placed.text
            body = placed.json()
            order = body["order"]
            assert order["status"] == "FILLED", body
            assert Decimal(order["averageFillPrice"]) == CLIENT_ASK
            assert [Decimal(f["price"]) for f in body["fills"]] == [CLIENT_ASK]
            assert body["replayed"] is False
            order_id = order["orderId"]

            # The client is told on the WebSocket.
            await inbox.wait_for(
                f"order_filled for {order_id}",
                lambda m: m.get("type") == "order_filled" and order_id in json.dumps(m.get("data")),
            )

            # The account: 10000.00 deposit - 0.35 commission (3.50 per lot x 0.10), margin in use.
            summary = await edge.get("/api/account/summary", headers=auth)
            assert summary.status_code == 200, summary.text
            assert Decimal(summary.json()["balance"]) == Decimal("9999.65")
            assert Decimal(summary.json()["margin"]) > 0

            positions = await edge.get("/api/account/positions", headers=auth)
            assert positions.status_code == 200, positions.text
            [position] = positions.json()["positions"]
            assert position["symbol"] == "EURUSD"
            assert position["side"] == "BUY"
            assert Decimal(position["volume"]) == Decimal("0.10")
            assert Decimal(position["openPrice"]) == CLIENT_ASK

            # A retry with the same clientOrderId returns the first order, never a second one.
            retried = await edge.post("/api/orders/market", json=order_request, headers=auth)
            assert retried.status_code == 200, retried.text
            assert retried.json()["order"]["orderId"] == order_id
            assert retried.json()["replayed"] is True
            again = await edge.get("/api/account/positions", headers=auth)
            assert len(again.json()["positions"]) == 1
        finally:
            await inbox.close()

    # One trace across the hops: the id edge returned is in the oms and router logs.
    trace_id = placed.headers.get("x-trace-id")
    assert trace_id, dict(placed.headers)
    await wait_until_logged(stack, "oms", trace_id)
    await wait_until_logged(stack, "router", trace_id)
