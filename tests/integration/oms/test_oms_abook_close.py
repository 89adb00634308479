"""Closing follows the venue: a position remembers the book, LP and LP order id of its opening fill,
and every order that closes or reduces it asks the router for that venue (``close_book`` /
``close_venue``): client closes, stop losses, and netting orders against the position."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms_helpers import BUY, SELL, order_request

from fxmesh.v1 import oms_pb2, router_pb2, types_pb2
from oms.domain.model import CloseReason, OrderStatus, PositionId, Price

D = Decimal
FILLED = types_pb2.ORDER_STATUS_FILLED


def request_of(oms: Any, order_id: str) -> router_pb2.ExecuteRequest:
    return next(r for r in oms.router.requests if r.order.order_id == order_id)


async def place(oms: Any, account_id: int, side: int, volume: str = "1.00", **extra: Any) -> Any:
    reply = await oms.stub.PlaceOrder(order_request(account_id, side=side, volume=volume, **extra))
    assert reply.order.status == FILLED, reply.order.reject_reason
    return reply


async def position_row(oms: Any, position_id: int) -> Any:
    conn = await oms.db()
    try:
        return await conn.fetchrow(
            "SELECT book, venue, venue_order_id, closed_at FROM oms.positions "
            "WHERE position_id = $1",
            position_id,
        )
    finally:
        await conn.close()


async def test_open_when_lp_fills_then_position_keeps_book_venue_and_lp_order_id(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.abook_venue = "LP1"

    reply = await place(oms, account_id, BUY)

    [position] = reply.positions
    opening = request_of(oms, reply.order.order_id)
    assert opening.close_book == types_pb2.BOOK_UNSPECIFIED
    assert opening.close_venue == ""
    listed = await oms.stub.ListPositions(oms_pb2.ListPositionsRequest(account_id=str(account_id)))
    [shown] = listed.positions
    assert (shown.book, shown.venue, shown.venue_order_id) == (
        types_pb2.BOOK_A,
        "LP1",
        f"LP1-ORD-{reply.order.order_id}",
    )
    assert position.venue == "LP1"


async def test_client_close_when_position_at_lp_then_sent_to_that_lp_and_deal_booked_there(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.abook_venue = "LP2"
    [position] = (await place(oms, account_id, BUY)).positions
    oms.router.abook_venue = None  # new flow would go to the house now; the close must not

    closed = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account_id), position_id=position.position_id, client_order_id="c-1"
        )
    )

    assert closed.order.status == FILLED
    sent = request_of(oms, closed.order.order_id)
    assert (sent.close_book, sent.close_venue) == (types_pb2.BOOK_A, "LP2")
    [deal] = closed.deals
    assert (deal.venue, deal.book) == ("LP2", types_pb2.BOOK_A)
    assert (await position_row(oms, int(position.position_id)))["closed_at"] is not None


async def test_client_close_when_house_position_then_sent_to_the_b_book(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    [position] = (await place(oms, account_id, SELL)).positions
    row = await position_row(oms, int(position.position_id))
    assert (row["book"], row["venue"], row["venue_order_id"]) == ("B", "BBOOK", None)

    closed = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account_id),
            position_id=position.position_id,
            client_order_id="c-2",
            volume="0.40",
        )
    )

    sent = request_of(oms, closed.order.order_id)
    assert (sent.close_book, sent.close_venue) == (types_pb2.BOOK_B, "BBOOK")


async def test_stop_loss_when_position_at_lp_then_close_sent_to_that_lp(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.abook_venue = "LP1"
    reply = await place(oms, account_id, BUY, stop_loss="1.08200")
    position_id = PositionId(int(reply.positions[0].position_id))
    oms.router.abook_venue = None
    await put_quote("EURUSD", "1.08190", "1.08200")

    order = await oms.app.service.close_for_protection(
        position_id, CloseReason.STOP_LOSS, Price(D("1.08190"), D("1.08200"))
    )

    assert order.status is OrderStatus.FILLED
    sent = request_of(oms, str(order.order_id))
    assert (sent.close_book, sent.close_venue) == (types_pb2.BOOK_A, "LP1")


async def test_netting_when_order_reduces_lp_position_then_sent_to_that_lp_adds_are_not(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(margin_mode="NETTING")
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.abook_venue = "LP2"
    await place(oms, account_id, BUY, "1.00")
    oms.router.abook_venue = None

    added = await place(oms, account_id, BUY, "0.50")
    reduced = await place(oms, account_id, SELL, "0.30")

    add_request = request_of(oms, added.order.order_id)
    assert add_request.close_book == types_pb2.BOOK_UNSPECIFIED
    reduce_request = request_of(oms, reduced.order.order_id)
    assert (reduce_request.close_book, reduce_request.close_venue) == (types_pb2.BOOK_A, "LP2")
