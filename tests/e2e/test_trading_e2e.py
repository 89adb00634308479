"""End to end: pending orders, stop loss / take profit, statements and crash restarts on the whole stack.

Each test opens its own account through oms's back-office RPC, logs in through edge like a client,
and moves the market by pinning the LP simulator's FIX price (client price = LP price -/+ the EURUSD
markup of 5 points). Ticks travel the real path: LP FIX -> fixgw -> quotes -> Redis -> oms's watcher.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import grpc
import httpx
import pytest
from e2e_client import (
    WAIT,
    assert_balance_is_sum_of_ledger,
    eventually,
    login,
    money,
    open_account,
    open_positions,
    pin_eurusd,
)

from devstack.supervisor import Stack
from fxmesh.v1 import router_pb2, router_pb2_grpc

pytestmark = pytest.mark.e2e

LOT = Decimal("100000")
COMMISSION_PER_SIDE = Decimal("0.35")  # 3.50 USD per lot per side x 0.10 lot


async def pin_and_see(
    lpsim: httpx.AsyncClient, inbox: Any, client_bid: str, client_ask: str
) -> None:
    """Pin the price and wait until clients see it (the quote has reached Redis and edge)."""
    await pin_eurusd(lpsim, client_bid, client_ask)
    await inbox.wait_for(
        f"EURUSD tick {client_bid}/{client_ask}",
        lambda m: (
            m.get("type") == "tick"
            and m.get("symbol") == "EURUSD"
            and Decimal(m["bid"]) == Decimal(client_bid)
            and Decimal(m["ask"]) == Decimal(client_ask)
        ),
    )


async def order_status(edge: httpx.AsyncClient, auth: dict[str, str], order_id: str) -> str:
    reply = await edge.get(f"/api/orders/{order_id}", headers=auth)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["order"]["status"])


async def test_buy_limit_when_ask_falls_to_its_price_then_fills_and_stop_loss_closes_it_at_the_bid(
    stack: Stack, open_ws: Callable[[dict[str, str]], Any]
) -> None:
    _, login_name, password = await open_account(stack)
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        auth = await login(edge, login_name, password)
        inbox = await open_ws(auth)
        await inbox.send({"type": "subscribe", "symbols": ["EURUSD"]})
        await pin_and_see(lpsim, inbox, "1.08444", "1.08456")

        # A buy limit below the market waits (WORKING) with its protection.
        placed = await edge.post(
            "/api/orders/limit",
            json={
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "0.10",
                "price": "1.08400",
                "stopLoss": "1.08300",
                "takeProfit": "1.08700",
                "timeInForce": "GTC",
                "clientOrderId": "limit-1",
            },
            headers=auth,
        )
        assert placed.status_code == 200, placed.text
        order = placed.json()["order"]
        assert order["status"] == "WORKING", placed.json()
        order_id = order["orderId"]
        assert await open_positions(edge, auth) == []

        # The ask falls through the limit: filled at the ask (better than the limit), not the bid.
        await pin_eurusd(lpsim, "1.08383", "1.08395")
        await eventually(
            "the limit order fills",
            lambda: _is(order_status(edge, auth, order_id), "FILLED"),
        )
        [position] = await open_positions(edge, auth)
        assert money(position["openPrice"]) == Decimal("1.08395")
        assert money(position["stopLoss"]) == Decimal("1.08300")
        assert money(position["takeProfit"]) == Decimal("1.08700")
        await inbox.wait_for(
            "order_update FILLED",
            lambda m: (
                m.get("type") == "order_update"
                and m["data"].get("orderId", m["data"].get("order", {}).get("orderId")) == order_id
                and "FILLED" in str(m["data"])
            ),
        )

        # The bid gaps below the stop loss: closed at the bid with reason STOP_LOSS.
        await pin_eurusd(lpsim, "1.08280", "1.08292")
        await eventually("the stop loss closes the position", lambda: _no_positions(edge, auth))
        trades = await edge.get("/api/account/trades", params={"pageSize": 100}, headers=auth)
        assert trades.status_code == 200, trades.text
        deals = trades.json()["deals"]
        [closing] = [d for d in deals if d["entry"] == "OUT"]
        assert closing["reason"] == "STOP_LOSS"
        assert money(closing["price"]) == Decimal("1.08280")
        # (1.08280 - 1.08395) x 100 000 x 0.10 = -11.50 USD
        assert money(closing["realizedPnl"]) == Decimal("-11.50")
        await inbox.wait_for(
            "position_update closed by STOP_LOSS",
            lambda m: m.get("type") == "position_update" and "STOP_LOSS" in str(m["data"]),
        )

        balance = await assert_balance_is_sum_of_ledger(edge, auth)
        assert balance == Decimal("10000.00") - 2 * COMMISSION_PER_SIDE - Decimal("11.50")
        statement = await edge.get("/api/account/statement", headers=auth)
        assert statement.status_code == 200, statement.text
        body = statement.json()
        assert money(body["openingBalance"]) == Decimal("0")
        assert money(body["closingBalance"]) == balance
        totals = {t["type"]: money(t["amount"]) for t in body["totals"]}
        assert totals == {
            "DEPOSIT": Decimal("10000.00"),
            "COMMISSION": -2 * COMMISSION_PER_SIDE,
            "REALIZED_PNL": Decimal("-11.50"),
        }


async def test_oms_and_router_killed_then_restarted_then_working_orders_and_take_profit_still_fire(
    stack: Stack, open_ws: Callable[[dict[str, str]], Any]
) -> None:
    _, login_name, password = await open_account(stack)
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        auth = await login(edge, login_name, password)
        inbox = await open_ws(auth)
        await inbox.send({"type": "subscribe", "symbols": ["EURUSD"]})
        await pin_and_see(lpsim, inbox, "1.08444", "1.08456")
        assert await _market_fills(edge, auth, "warm-up")
        [warm] = await open_positions(edge, auth)
        closed = await edge.post(
            f"/api/positions/{warm['positionId']}/close",
            json={"clientOrderId": "warm-up-close"},
            headers=auth,
        )
        assert closed.status_code == 200, closed.text

        # A position with a take profit, and a sell stop waiting below the market.
        market = await edge.post(
            "/api/orders/market",
            json={
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "0.10",
                "clientOrderId": "restart-buy",
                "takeProfit": "1.08600",
            },
            headers=auth,
        )
        assert market.status_code == 200, market.text
        assert market.json()["order"]["status"] == "FILLED", market.json()
        stop = await edge.post(
            "/api/orders/stop",
            json={
                "symbol": "EURUSD",
                "side": "SELL",
                "volume": "0.20",
                "price": "1.08300",
                "timeInForce": "GTC",
                "clientOrderId": "restart-sell-stop",
            },
            headers=auth,
        )
        assert stop.status_code == 200, stop.text
        assert stop.json()["order"]["status"] == "WORKING", stop.json()
        stop_id = stop.json()["order"]["orderId"]

        # Crash both: nothing they hold in memory may be lost.
        stack.kill("oms")
        stack.kill("router")
        await stack.restart("router")
        await stack.restart("oms")

        # The take profit fires after the restart (bid reaches 1.08600).
        await pin_eurusd(lpsim, "1.08610", "1.08622")
        await eventually("the take profit closes the position", lambda: _no_positions(edge, auth))
        # The sell stop fires after the restart (bid falls to 1.08300): one new SELL position.
        await pin_eurusd(lpsim, "1.08290", "1.08302")
        await eventually(
            "the sell stop fills", lambda: _is(order_status(edge, auth, stop_id), "FILLED")
        )
        [short] = await open_positions(edge, auth)
        assert short["side"] == "SELL"
        assert money(short["volume"]) == Decimal("0.20")

        # Nothing doubled: exactly one OUT deal for the take profit, one IN for the stop.
        trades = await edge.get("/api/account/trades", params={"pageSize": 100}, headers=auth)
        deals = trades.json()["deals"]
        assert sorted((d["entry"], d["reason"]) for d in deals) == sorted(
            [
                ("IN", "CLIENT"),  # warm-up
                ("OUT", "CLIENT"),  # warm-up close
                ("IN", "CLIENT"),  # restart-buy
                ("OUT", "TAKE_PROFIT"),
                ("IN", "CLIENT"),  # the sell stop
            ]
        )
        await assert_balance_is_sum_of_ledger(edge, auth)

    # The router rebuilt its house book from PostgreSQL: its EURUSD net mirrors the clients'.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.config.ports.router}") as channel:
        router = router_pb2_grpc.RouterServiceStub(channel)
        exposure = await router.GetHouseExposure(router_pb2.GetHouseExposureRequest(), timeout=WAIT)
    assert any(e.symbol == "EURUSD" for e in exposure.exposures)


async def _is(status: Any, expected: str) -> bool:
    return bool(await status == expected)


async def _no_positions(edge: httpx.AsyncClient, auth: dict[str, str]) -> bool:
    return await open_positions(edge, auth) == []


async def _market_fills(edge: httpx.AsyncClient, auth: dict[str, str], key: str) -> bool:
    reply = await edge.post(
        "/api/orders/market",
        json={"symbol": "EURUSD", "side": "BUY", "volume": "0.10", "clientOrderId": key},
        headers=auth,
    )
    return reply.status_code == 200 and reply.json()["order"]["status"] == "FILLED"


async def test_positions_subscription_streams_pnl_as_the_price_moves(
    stack: Stack, open_ws: Callable[[dict[str, str]], Any]
) -> None:
    _, login_name, password = await open_account(stack)
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        auth = await login(edge, login_name, password)
        inbox = await open_ws(auth)
        await inbox.send({"action": "subscribe", "type": "quotes", "symbols": ["EURUSD"]})
        await pin_and_see(lpsim, inbox, "1.08444", "1.08456")
        market = await edge.post(
            "/api/orders/market",
            json={"symbol": "EURUSD", "side": "BUY", "volume": "0.10", "clientOrderId": "pnl-1"},
            headers=auth,
        )
        assert market.status_code == 200, market.text
        [position] = await open_positions(edge, auth)
        assert money(position["openPrice"]) == Decimal("1.08456")
        position_id = position["positionId"]

        def mark_at(bid: str) -> Callable[[dict[str, Any]], bool]:
            return lambda m: (
                m.get("type") == "position_update"
                and m.get("reason") == "prices"
                and m["position"]["positionId"] == position_id
                and m["position"]["currentPrice"] == bid
            )

        # Subscribing brings the current marks at once: (1.08444 - 1.08456) x 10 000 = -1.20.
        await inbox.send({"action": "subscribe", "type": "positions"})
        now = await inbox.wait_for("the current mark", mark_at("1.08444"))
        assert now["action"] == "modified"
        assert money(now["position"]["unrealizedPnL"]) == Decimal("-1.20")

        # The price moves and the P&L follows, without a poll: (1.08544 - 1.08456) x 10 000.
        await pin_eurusd(lpsim, "1.08544", "1.08556")
        moved = await inbox.wait_for("the mark at the new bid", mark_at("1.08544"))
        assert money(moved["position"]["unrealizedPnL"]) == Decimal("8.80")
        figures = await inbox.wait_for(
            "account figures at the new bid",
            lambda m: (
                m.get("type") == "account_update"
                and m.get("reason") == "prices"
                and m.get("unrealizedPnL") == "8.80"
            ),
        )
        balance = Decimal("10000.00") - COMMISSION_PER_SIDE
        assert money(figures["balance"]) == balance
        assert money(figures["equity"]) == balance + Decimal("8.80")
        # Margin at the open price: 0.10 x 100 000 x 1.08456 / 100 = 108.456 -> 108.46.
        assert money(figures["margin"]) == Decimal("108.46")
        assert figures["marginLevel"] is not None

        # Closed: the event says so, and no mark of the closed position follows it.
        closed = await edge.post(
            f"/api/positions/{position_id}/close",
            json={"clientOrderId": "pnl-1-close"},
            headers=auth,
        )
        assert closed.status_code == 200, closed.text
        await inbox.wait_for(
            "position_update closed",
            lambda m: m.get("type") == "position_update" and m.get("action") == "closed",
        )
        await inbox.wait_for(
            "figures without the position",
            lambda m: (
                m.get("type") == "account_update"
                and m.get("reason") == "prices"
                and money(m["margin"]) == 0
            ),
        )
        await pin_eurusd(lpsim, "1.08600", "1.08612")
        await inbox.wait_for("the next tick", lambda m: m.get("bid") == "1.08600")
        closed_at = next(
            i
            for i, m in enumerate(inbox.messages)
            if m.get("type") == "position_update" and m.get("action") == "closed"
        )
        assert not [
            m
            for m in inbox.messages[closed_at:]
            if m.get("type") == "position_update" and m.get("reason") == "prices"
        ]
