"""What oms writes to its outbox is what ``fxmesh.eventtypes`` declares: every event type, with
exactly its payload's keys and value types, from a real oms trading through its life cycle."""

from __future__ import annotations

from typing import Any

from oms_helpers import BUY, events, order_request

from fxmesh.eventtypes import EventType, payload_problems
from fxmesh.v1 import oms_pb2, types_pb2
from oms.domain.model import AccountId


async def test_outbox_when_account_trades_through_margin_call_then_every_event_as_declared(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="1000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    opened = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="0.90"))
    refused = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="10"))
    await put_quote("EURUSD", "1.08400", "1.08410")  # 97.5 %
    assert await oms.app.service.margin_call(AccountId(account_id)) is True
    await put_quote("EURUSD", "1.08500", "1.08510")
    assert await oms.app.service.margin_call(AccountId(account_id)) is False
    closed = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account_id), position_id=opened.positions[0].position_id
        )
    )
    assert opened.order.status == types_pb2.ORDER_STATUS_FILLED
    assert refused.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert closed.order.status == types_pb2.ORDER_STATUS_FILLED

    conn = await oms.db()
    try:
        written = await events(conn, account_id)
    finally:
        await conn.close()

    assert {kind for kind, _ in written} == set(EventType)
    assert [
        (kind, problem)
        for kind, data in written
        for problem in payload_problems(EventType(kind), data)
    ] == []
