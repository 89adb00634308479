"""A fill is booked once per (venue, fill id): settling reads the order and which of the answer's
fills are booked already in one statement, and a fill repeated within one answer still counts
once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms_helpers import ledger_consistent, order_request

from fxmesh.v1 import types_pb2


async def test_fill_when_reported_twice_in_one_answer_then_booked_once_and_rest_cancelled(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "repeat"

    reply = await oms.stub.PlaceOrder(order_request(account_id, volume="1.00"))

    assert reply.order.status == types_pb2.ORDER_STATUS_CANCELLED
    assert reply.order.reject_reason == "REMAINDER_CANCELLED"
    assert reply.order.filled_volume == "0.50"
    assert len(reply.fills) == 1
    conn = await oms.db()
    try:
        deals = await conn.fetchval(
            "SELECT count(*) FROM oms.deals WHERE order_id = $1", int(reply.order.order_id)
        )
        assert deals == 1
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_fill_when_its_id_was_booked_for_another_order_then_ignored_and_order_rejected(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    first = await oms.stub.PlaceOrder(order_request(account_id, volume="0.10"))
    assert first.order.status == types_pb2.ORDER_STATUS_FILLED
    oms.router.mode = "reuse"

    reply = await oms.stub.PlaceOrder(order_request(account_id, volume="0.20"))

    assert reply.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert reply.order.reject_reason == "EXECUTION_REJECTED"
    assert len(reply.fills) == 0
    conn = await oms.db()
    try:
        positions = await conn.fetch(
            "SELECT volume FROM oms.positions WHERE account_id = $1", account_id
        )
        assert [p["volume"] for p in positions] == [Decimal("0.10")]
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()
