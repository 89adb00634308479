"""What a market order publishes: its acceptance (the FILLING update) waits for the commit of its
fill and goes out with it, one message; an execution that takes longer than the relay's wait does
not hold the acceptance back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest
from oms_helpers import order_request

from fxmesh.events import declare_exchange
from fxmesh.v1 import types_pb2


@pytest.fixture
async def account_events(
    oms: Any, amqp_url: str, events_exchange: str
) -> AsyncIterator[tuple[int, aio_pika.abc.AbstractQueue]]:
    """A new account and a queue of every message of its events."""
    account_id = await oms.new_account()
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await declare_exchange(channel, events_exchange)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(exchange, routing_key=f"events.{account_id}.#")
        yield account_id, queue
    finally:
        await connection.close()


@contextlib.contextmanager
def relay_waits(oms: Any, seconds: float) -> Any:
    relay = oms.app.relay
    assert relay is not None
    before, relay.execution_wait_seconds = relay.execution_wait_seconds, seconds
    try:
        yield
    finally:
        relay.execution_wait_seconds = before


async def next_message(queue: aio_pika.abc.AbstractQueue) -> list[tuple[str, Any]]:
    """The next message's events as (type, order status or None)."""
    for _ in range(100):
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return [
                (e["type"], e["data"].get("status") if e["type"] == "order_update" else None)
                for e in json.loads(message.body)
            ]
        await asyncio.sleep(0.1)
    raise AssertionError("no message within 10 s")


async def test_market_order_when_filled_then_its_acceptance_and_fill_are_one_message(
    oms: Any, put_quote: Any, account_events: tuple[int, aio_pika.abc.AbstractQueue]
) -> None:
    account_id, queue = account_events
    await put_quote("EURUSD", "1.08440", "1.08450")
    with relay_waits(oms, 10.0):  # however slow this machine: the fill commits well within it
        placed = await oms.stub.PlaceOrder(order_request(account_id))
        events = await next_message(queue)
        await asyncio.sleep(0.3)
        rest = await queue.get(no_ack=True, fail=False)

    assert placed.order.status == types_pb2.ORDER_STATUS_FILLED
    assert events[0] == ("order_update", "FILLING")
    assert ("order_update", "FILLED") in events
    assert "order_filled" in [kind for kind, _ in events]
    assert rest is None


async def test_market_order_when_its_execution_is_held_then_the_acceptance_goes_out_alone_first(
    oms: Any, put_quote: Any, account_events: tuple[int, aio_pika.abc.AbstractQueue]
) -> None:
    account_id, queue = account_events
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.gate = asyncio.Event()
    with relay_waits(oms, 0.2):
        placing = asyncio.ensure_future(oms.stub.PlaceOrder(order_request(account_id)))
        try:
            accepted = await next_message(queue)
            assert not placing.done()
        finally:
            oms.router.gate.set()
        placed = await placing
        filled = await next_message(queue)

    assert accepted == [("order_update", "FILLING")]
    assert placed.order.status == types_pb2.ORDER_STATUS_FILLED
    assert ("order_update", "FILLED") in filled
