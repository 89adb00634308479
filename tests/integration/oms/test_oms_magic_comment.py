"""MetaTrader's magic number and comment through a real oms: kept on the order and on its deals,
returned in history, carried by a closing order too."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
import pytest

from fxmesh.errors import from_rpc_error
from fxmesh.v1 import oms_pb2, types_pb2


def market(account_id: int, **extra: Any) -> oms_pb2.PlaceOrderRequest:
    return oms_pb2.PlaceOrderRequest(
        account_id=str(account_id),
        client_order_id=f"cli-{uuid.uuid4().hex[:12]}",
        symbol="EURUSD",
        side=types_pb2.SIDE_BUY,
        type=types_pb2.ORDER_TYPE_MARKET,
        volume="1.00",
        **extra,
    )


async def test_place_and_close_when_magic_and_comment_then_kept_on_orders_and_deals_in_history(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")

    placed = await oms.stub.PlaceOrder(
        market(account_id, magic=234000, comment="python script open")
    )
    position_id = placed.positions[0].position_id
    closed = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account_id),
            position_id=position_id,
            client_order_id=f"close-{uuid.uuid4().hex[:12]}",
            magic=234001,
            comment="python script close",
        )
    )
    history = await oms.stub.ListOrders(
        oms_pb2.ListOrdersRequest(account_id=str(account_id), view=oms_pb2.ORDER_LIST_VIEW_HISTORY)
    )
    deals = await oms.stub.ListDeals(oms_pb2.ListDealsRequest(account_id=str(account_id)))

    assert placed.order.status == types_pb2.ORDER_STATUS_FILLED
    assert (placed.order.magic, placed.order.comment) == (234000, "python script open")
    assert (closed.order.magic, closed.order.comment) == (234001, "python script close")
    assert (closed.deals[0].magic, closed.deals[0].comment) == (234001, "python script close")
    tags = {o.order_id: (o.magic, o.comment) for o in history.orders}
    assert tags == {
        placed.order.order_id: (234000, "python script open"),
        closed.order.order_id: (234001, "python script close"),
    }
    by_order = {d.order_id: (d.magic, d.comment) for d in deals.deals}
    assert by_order == tags


async def test_place_when_no_magic_then_zero_and_empty(oms: Any, put_quote: Any) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")

    placed = await oms.stub.PlaceOrder(market(account_id))

    assert (placed.order.magic, placed.order.comment) == (0, "")


async def test_place_when_magic_negative_or_comment_too_long_then_invalid_field(
    oms: Any,
) -> None:
    account_id = await oms.new_account()

    for extra, field in (({"magic": -1}, "magic"), ({"comment": "x" * 256}, "comment")):
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await oms.stub.PlaceOrder(market(account_id, **extra))
        err = from_rpc_error(info.value)
        assert (err.reason, err.metadata["field"]) == ("INVALID_FIELD", field)
