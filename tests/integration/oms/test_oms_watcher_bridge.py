"""The seam between the trading core and the trigger watcher: books loaded from PostgreSQL, ticks
fed to the watcher, its actions carried out by the core, the core's commits re-arming the books."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from oms_helpers import SELL, order_request

from fxmesh.v1 import oms_pb2, types_pb2
from oms.triggers.bridge import WatcherBridge
from oms.triggers.watcher import TriggerWatcher

D = Decimal


@pytest.fixture
async def start_watcher(
    oms: Any, redis_client: Any
) -> AsyncIterator[Callable[[], Awaitable[TriggerWatcher]]]:
    """Start a watcher over the core, armed from the database, fed by ``on_quote`` (no pub/sub)."""
    started: list[tuple[WatcherBridge, TriggerWatcher]] = []

    async def start() -> TriggerWatcher:
        bridge = WatcherBridge(oms.app.service)
        watcher = TriggerWatcher(redis_client, bridge, bridge, now=oms.clock)
        bridge.attach(watcher)
        state = await bridge.load_triggers()
        for order in state.orders:
            watcher.upsert_order(order)
        for position in state.positions:
            watcher.upsert_position(position)
        watcher.start_dispatcher()
        started.append((bridge, watcher))
        return watcher

    yield start
    for bridge, watcher in started:
        oms.app.service.uow.listeners.remove(bridge)
        await watcher.stop()


async def test_watcher_when_ask_reaches_armed_limit_then_core_fills_it(
    oms: Any, put_quote: Any, start_watcher: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    placed = await oms.stub.PlaceOrder(order_request(account_id, "LIMIT", price="1.08300"))
    watcher = await start_watcher()  # loads the working order from the database
    await put_quote("EURUSD", "1.08290", "1.08300")

    watcher.on_quote("EURUSD", D("1.08290"), D("1.08300"))
    await watcher.drain()

    shown = await oms.stub.GetOrder(
        oms_pb2.GetOrderRequest(account_id=str(account_id), order_id=placed.order.order_id)
    )
    assert shown.order.status == types_pb2.ORDER_STATUS_FILLED


async def test_watcher_when_new_position_has_sl_then_armed_by_commit_and_closed_on_tick(
    oms: Any, put_quote: Any, start_watcher: Any
) -> None:
    watcher = await start_watcher()
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    # Committed after the watcher loaded: the listener arms it.
    placed = await oms.stub.PlaceOrder(order_request(account_id, side=SELL, stop_loss="1.08600"))
    position_id = placed.positions[0].position_id
    await put_quote("EURUSD", "1.08600", "1.08610")

    watcher.on_quote("EURUSD", D("1.08600"), D("1.08610"))
    await watcher.drain()

    left = await oms.stub.ListPositions(oms_pb2.ListPositionsRequest(account_id=str(account_id)))
    assert [p.position_id for p in left.positions if p.position_id == position_id] == []
    conn = await oms.db()
    try:
        reason = await conn.fetchval(
            "SELECT close_reason FROM oms.positions WHERE position_id = $1", int(position_id)
        )
    finally:
        await conn.close()
    assert reason == "STOP_LOSS"
