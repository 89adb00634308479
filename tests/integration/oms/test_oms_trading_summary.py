"""GetTradingSummary: the day's activity for admin's summary, counted from PostgreSQL."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from oms_helpers import BUY, SELL, order_request

from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal


async def summary(oms: Any, since: Timestamp | None = None) -> oms_pb2.GetTradingSummaryResponse:
    request = oms_pb2.GetTradingSummaryRequest()
    if since is not None:
        request.since.CopyFrom(since)
    reply: oms_pb2.GetTradingSummaryResponse = await oms.stub.GetTradingSummary(request, timeout=10)
    return reply


async def test_trading_summary_counts_orders_deals_lots_accounts_and_what_is_open(
    oms: Any, put_quote: Any
) -> None:
    conn = await oms.db()
    try:
        started = await conn.fetchval("SELECT now()")
    finally:
        await conn.close()
    since = Timestamp()
    since.FromDatetime(started)
    before = await summary(oms)
    first, second = await oms.new_account(), await oms.new_account()
    await put_quote("EURUSD", "1.10000", "1.10010")

    opened = await oms.stub.PlaceOrder(order_request(first, side=BUY, volume="1.00"))
    [position] = opened.positions
    await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(first),
            position_id=position.position_id,
            volume="0.40",
            client_order_id="summary-partial-close",
        )
    )
    await oms.stub.PlaceOrder(order_request(second, side=SELL, volume="0.50"))
    rejected = await oms.stub.PlaceOrder(order_request(second, volume="0.001"))  # below minimum
    await oms.stub.PlaceOrder(order_request(second, type_="LIMIT", price="1.00000", tif="GTC"))

    ours = await summary(oms, since)
    now = await summary(oms)

    assert rejected.order.status == types_pb2.ORDER_STATUS_REJECTED
    # Placed: the buy, its closing order, the sell, the reject and the limit order.
    assert (ours.orders_placed, ours.orders_filled, ours.orders_rejected) == (5, 3, 1)
    assert (ours.deals, D(ours.lots_traded), ours.active_accounts) == (3, D("1.90"), 2)
    assert ours.since.ToDatetime() == since.ToDatetime()
    # The stand-in router fills in the B-book: the whole split is B.
    [book] = ours.by_book
    assert (book.book, book.deals, D(book.lots)) == (types_pb2.BOOK_B, 3, D("1.90"))
    # 3 deals' commissions (-3.50, -1.40, -1.75) and the partial close's -4.00.
    assert D(book.client_net) == D("-10.65")
    # Now: the buy's 0.60 left and the sell are open, the limit order works.
    assert now.open_positions - before.open_positions == 2
    assert now.working_orders - before.working_orders == 1
    assert now.orders_placed - before.orders_placed == 5
    # By default the day starts at 00:00 UTC.
    assert now.since.ToDatetime().time().isoformat() == "00:00:00"
