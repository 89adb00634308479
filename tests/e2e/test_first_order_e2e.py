"""End to end: the first market order, driven only through edge, like a client.

The LP simulator's price is frozen so the fill price is exact: client ask = LP ask + EURUSD markup
(5 points at 5 digits). The stack is tests/e2e/conftest.py's private one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from e2e_client import DEMO_LOGIN, DEMO_PASSWORD, login

from devstack.supervisor import Stack

pytestmark = pytest.mark.e2e

LP_BID, LP_ASK = Decimal("1.08449"), Decimal("1.08451")
MARKUP = Decimal("0.00005")  # catalogue: EURUSD markup_bid/ask_points 5, digits 5
CLIENT_BID, CLIENT_ASK = LP_BID - MARKUP, LP_ASK + MARKUP  # 1.08444 / 1.08456


def is_frozen_tick(msg: dict[str, Any]) -> bool:
    return (
        msg.get("type") == "tick"
        and msg.get("symbol") == "EURUSD"
        and Decimal(msg["bid"]) == CLIENT_BID
        and Decimal(msg["ask"]) == CLIENT_ASK
    )


async def test_first_market_order_when_placed_through_edge_then_filled_at_marked_up_ask_and_booked(
    stack: Stack,
    open_ws: Callable[[dict[str, str]], Any],
    logged: Callable[[str, str], Any],
) -> None:
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        # Arrange: log in, open the WebSocket, freeze the LP price and wait until clients see it.
        auth = await login(edge, DEMO_LOGIN, DEMO_PASSWORD)

        inbox = await open_ws(auth)
        await inbox.send({"type": "subscribe", "symbols": ["EURUSD"]})
        frozen = await lpsim.put("/config", json={"walk": False})
        assert frozen.status_code == 200, frozen.text
        priced = await lpsim.put("/prices/EURUSD", json={"bid": str(LP_BID), "ask": str(LP_ASK)})
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

    # One trace across the hops: the id edge returned is in the oms and router logs.
    trace_id = placed.headers.get("x-trace-id")
    assert trace_id, dict(placed.headers)
    await logged("oms", trace_id)
    await logged("router", trace_id)
