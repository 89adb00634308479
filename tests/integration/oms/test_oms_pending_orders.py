"""Pending orders end to end: place over gRPC, trigger through the watcher's actions, modify,
cancel, expire, list; market FOK; validation reasons a client sees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import grpc
import pytest
from oms_helpers import (
    SELL,
    events,
    ledger_consistent,
    order_request,
    rpc_error,
    ts,
)

from fxmesh.v1 import oms_pb2, types_pb2
from oms.domain.model import OrderId, OrderStatus, Price

D = Decimal
WORKING = types_pb2.ORDER_STATUS_WORKING
WEDNESDAY = datetime(2026, 11, 18, 13, 0, tzinfo=UTC)


def quote(bid: str, ask: str) -> Price:
    return Price(D(bid), D(ask))


async def place(oms: Any, request: oms_pb2.PlaceOrderRequest) -> Any:
    return (await oms.stub.PlaceOrder(request)).order


async def transitions(oms: Any, order_id: str) -> list[tuple[str, str]]:
    conn = await oms.db()
    try:
        rows = await conn.fetch(
            "SELECT to_status, reason FROM oms.order_events WHERE order_id = $1 ORDER BY seq",
            int(order_id),
        )
    finally:
        await conn.close()
    return [(r["to_status"], r["reason"]) for r in rows]


async def test_buy_limit_when_ask_drops_to_price_then_fills_at_limit_with_sl_tp_on_position(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(
        oms,
        order_request(
            account_id,
            "LIMIT",
            price="1.08300",
            stop_loss="1.08000",
            take_profit="1.09000",
            volume="0.50",
        ),
    )
    assert order.status == WORKING
    assert order.time_in_force == types_pb2.TIME_IN_FORCE_GTC
    assert (order.stop_loss, order.take_profit) == ("1.08000", "1.09000")
    calls = len(oms.router.requests)

    await put_quote("EURUSD", "1.08290", "1.08300")
    after = await oms.app.service.trigger_order(
        OrderId(int(order.order_id)), quote("1.08290", "1.08300")
    )

    assert after.status is OrderStatus.FILLED
    assert after.avg_fill_price == D("1.08300")
    sent = oms.router.requests[calls]
    assert sent.limit_price == "1.08300"
    positions = await oms.stub.ListPositions(
        oms_pb2.ListPositionsRequest(account_id=str(account_id))
    )
    [position] = positions.positions
    assert (position.open_price, position.volume) == ("1.08300", "0.50")
    assert (position.stop_loss, position.take_profit) == ("1.08000", "1.09000")
    assert await transitions(oms, order.order_id) == [
        ("ACCEPTED", "ACCEPT"),
        ("WORKING", "PARK"),
        ("FILLING", "PRICE_REACHED"),
        ("FILLED", "FILL"),
    ]
    conn = await oms.db()
    try:
        kinds = [k for k, _ in await events(conn, account_id)]
        assert kinds == [
            "order_update",
            "order_update",
            "order_update",
            "order_filled",
            "position_update",
            "account_update",
        ]
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_buy_stop_when_ask_rises_to_stop_then_executes_at_market(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "STOP", price="1.08600"))
    assert order.status == WORKING
    await put_quote("EURUSD", "1.08605", "1.08615")  # gapped over the stop
    calls = len(oms.router.requests)

    after = await oms.app.service.trigger_order(
        OrderId(int(order.order_id)), quote("1.08605", "1.08615")
    )

    assert after.status is OrderStatus.FILLED
    assert after.avg_fill_price == D("1.08615")  # a stop becomes a market order: slippage
    assert oms.router.requests[calls].limit_price == ""


async def test_sell_stop_limit_when_stop_reached_then_activates_and_fills_at_its_limit(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(
        oms,
        order_request(
            account_id, "STOP_LIMIT", side=SELL, price="1.08300", stop_limit_price="1.08350"
        ),
    )
    assert order.status == WORKING
    assert order.stop_limit_price == "1.08350"
    order_id = OrderId(int(order.order_id))
    calls = len(oms.router.requests)

    activated = await oms.app.service.trigger_order(order_id, quote("1.08300", "1.08310"))

    assert activated.status is OrderStatus.WORKING
    assert activated.stop_limit_active is True
    assert len(oms.router.requests) == calls  # activation is not an execution
    shown = await oms.stub.GetOrder(
        oms_pb2.GetOrderRequest(account_id=str(account_id), order_id=order.order_id)
    )
    assert shown.order.stop_limit_active is True
    not_yet = await oms.app.service.trigger_order(order_id, quote("1.08320", "1.08330"))
    assert not_yet.status is OrderStatus.WORKING

    await put_quote("EURUSD", "1.08350", "1.08360")
    filled = await oms.app.service.trigger_order(order_id, quote("1.08350", "1.08360"))

    assert filled.status is OrderStatus.FILLED
    assert filled.avg_fill_price == D("1.08350")
    assert oms.router.requests[-1].limit_price == "1.08350"
    assert (await transitions(oms, order.order_id))[2] == ("WORKING", "STOP_PRICE_REACHED")


async def test_triggered_limit_when_price_moved_back_at_the_venue_then_works_again(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "LIMIT", price="1.08300"))
    order_id = OrderId(int(order.order_id))
    # The watcher saw the ask at the limit; by the time the router prices it, it is back up.
    await put_quote("EURUSD", "1.08310", "1.08320")

    after = await oms.app.service.trigger_order(order_id, quote("1.08290", "1.08300"))

    assert after.status is OrderStatus.WORKING
    assert (await transitions(oms, order.order_id))[-1] == ("WORKING", "LIMIT_NOT_REACHED")
    await put_quote("EURUSD", "1.08280", "1.08290")
    filled = await oms.app.service.trigger_order(order_id, quote("1.08280", "1.08290"))
    assert filled.status is OrderStatus.FILLED
    assert filled.avg_fill_price == D("1.08290")  # better than the limit


async def test_trigger_when_quote_does_not_reach_price_then_nothing_happens(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "LIMIT", price="1.08300"))
    calls = len(oms.router.requests)
    after = await oms.app.service.trigger_order(
        OrderId(int(order.order_id)), quote("1.08300", "1.08310")
    )
    assert after.status is OrderStatus.WORKING  # a buy limit watches the ask, not the bid
    assert len(oms.router.requests) == calls
    assert await oms.app.service.trigger_order(OrderId(999_999_999), quote("1", "1")) is None


async def test_triggered_order_when_margin_no_longer_suffices_then_rejected_without_router(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="2000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "LIMIT", price="1.08300", volume="1.00"))
    assert order.status == WORKING
    spent = await oms.stub.PlaceOrder(order_request(account_id, volume="1.00"))
    assert spent.order.status == types_pb2.ORDER_STATUS_FILLED
    calls = len(oms.router.requests)

    after = await oms.app.service.trigger_order(
        OrderId(int(order.order_id)), quote("1.08290", "1.08300")
    )

    assert after.status is OrderStatus.REJECTED
    assert after.reject_reason == "NOT_ENOUGH_MONEY"
    assert len(oms.router.requests) == calls


async def test_day_order_when_its_utc_day_ends_then_expired_with_reason(
    oms: Any, put_quote: Any
) -> None:
    oms.clock.at = WEDNESDAY
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "LIMIT", tif="DAY", price="1.08000"))
    assert order.status == WORKING
    assert order.expire_time.ToDatetime(tzinfo=UTC) == datetime(2026, 11, 19, tzinfo=UTC)
    order_id = OrderId(int(order.order_id))

    oms.clock.at = datetime(2026, 11, 18, 23, 59, 59, tzinfo=UTC)
    assert (await oms.app.service.expire_order(order_id)).status is OrderStatus.WORKING
    oms.clock.at = datetime(2026, 11, 19, tzinfo=UTC)
    expired = await oms.app.service.expire_order(order_id)

    assert expired.status is OrderStatus.EXPIRED
    assert expired.reject_reason == "ORDER_EXPIRED"
    assert (await transitions(oms, order.order_id))[-1] == ("EXPIRED", "ORDER_EXPIRED")


async def test_gtd_order_when_expire_time_passes_then_expired_by_the_sweep(
    oms: Any, put_quote: Any
) -> None:
    oms.clock.at = WEDNESDAY
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    expiry = WEDNESDAY + timedelta(hours=2)
    order = await place(
        oms, order_request(account_id, "STOP", tif="GTD", price="1.09000", expire_time=ts(expiry))
    )
    assert order.status == WORKING
    assert order.expire_time.ToDatetime(tzinfo=UTC) == expiry

    oms.clock.at = expiry
    await oms.app.service.orders.expire_due()

    shown = await oms.stub.GetOrder(
        oms_pb2.GetOrderRequest(account_id=str(account_id), order_id=order.order_id)
    )
    assert shown.order.status == types_pb2.ORDER_STATUS_EXPIRED


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"type_": "LIMIT", "price": "1.08000", "tif": "GTD"}, "INVALID_EXPIRATION"),
        (
            {
                "type_": "LIMIT",
                "price": "1.08000",
                "tif": "GTD",
                "expire_time": ts(datetime(2020, 1, 1, tzinfo=UTC)),
            },
            "INVALID_EXPIRATION",
        ),
        ({"type_": "LIMIT", "price": "1.08000", "tif": "IOC"}, "INVALID_EXPIRATION"),
        ({"type_": "MARKET", "tif": "GTC"}, "INVALID_EXPIRATION"),
        ({"type_": "LIMIT", "price": "1.08500"}, "INVALID_PRICE"),
        ({"type_": "STOP", "price": "1.08400"}, "INVALID_PRICE"),
        ({"type_": "LIMIT", "side": SELL, "price": "1.08400"}, "INVALID_PRICE"),
        ({"type_": "STOP", "side": SELL, "price": "1.08500"}, "INVALID_PRICE"),
        (
            {"type_": "STOP_LIMIT", "price": "1.08600", "stop_limit_price": "1.08700"},
            "INVALID_PRICE",
        ),
        ({"stop_loss": "1.08500"}, "INVALID_STOPS"),
        ({"take_profit": "1.08445"}, "INVALID_STOPS"),
        ({"side": SELL, "stop_loss": "1.08455"}, "INVALID_STOPS"),
        ({"symbol": "AUDUSD", "clock": datetime(2026, 11, 21, 12, tzinfo=UTC)}, "MARKET_CLOSED"),
    ],
)
async def test_place_order_when_client_can_fix_it_then_rejected_with_reason(
    oms: Any, put_quote: Any, extra: dict[str, Any], reason: str
) -> None:
    extra = dict(extra)
    oms.clock.at = extra.pop("clock", None)
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    await put_quote("AUDUSD", "0.65440", "0.65450")
    calls = len(oms.router.requests)

    reply = await oms.stub.PlaceOrder(order_request(account_id, **extra))

    assert reply.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert reply.order.reject_reason == reason
    assert reply.order.reject_message
    assert len(oms.router.requests) == calls


async def test_market_order_when_session_opens_sunday_22_utc_then_fills(
    oms: Any, put_quote: Any
) -> None:
    oms.clock.at = datetime(2026, 11, 22, 22, 0, tzinfo=UTC)
    account_id = await oms.new_account()
    await put_quote("AUDUSD", "0.65440", "0.65450")
    reply = await oms.stub.PlaceOrder(order_request(account_id, symbol="AUDUSD"))
    assert reply.order.status == types_pb2.ORDER_STATUS_FILLED


async def test_market_fok_when_book_fills_whole_then_filled(oms: Any, put_quote: Any) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    reply = await oms.stub.PlaceOrder(order_request(account_id, tif="FOK"))
    assert reply.order.status == types_pb2.ORDER_STATUS_FILLED
    assert oms.router.requests[-1].order.time_in_force == types_pb2.TIME_IN_FORCE_FOK


async def test_market_fok_when_venue_fills_only_part_then_part_booked_and_rest_cancelled(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "partial"
    reply = await oms.stub.PlaceOrder(order_request(account_id, tif="FOK"))
    assert reply.order.status == types_pb2.ORDER_STATUS_CANCELLED
    assert reply.order.reject_reason == "REMAINDER_CANCELLED"
    assert [p.volume for p in reply.positions] == ["0.50"]


# --- modify, cancel, list --------------------------------------------------------------------


async def test_modify_order_when_working_then_price_stops_and_expiry_change(
    oms: Any, put_quote: Any
) -> None:
    oms.clock.at = WEDNESDAY
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(
        oms,
        order_request(
            account_id,
            "LIMIT",
            tif="GTD",
            price="1.08300",
            stop_loss="1.08000",
            expire_time=ts(WEDNESDAY + timedelta(hours=1)),
        ),
    )
    later = WEDNESDAY + timedelta(days=2)

    reply = await oms.stub.ModifyOrder(
        oms_pb2.ModifyOrderRequest(
            account_id=str(account_id),
            order_id=order.order_id,
            price="1.08200",
            stop_loss="0",
            take_profit="1.09000",
            expire_time=ts(later),
        )
    )

    changed = reply.order
    assert changed.status == WORKING
    assert (changed.price, changed.stop_loss, changed.take_profit) == ("1.08200", "", "1.09000")
    assert changed.expire_time.ToDatetime(tzinfo=UTC) == later
    assert (await transitions(oms, order.order_id))[-1] == ("WORKING", "MODIFIED")
    conn = await oms.db()
    try:
        updates = await events(conn, account_id, "order_update")
        assert updates[-1][1]["price"] == "1.08200"
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"price": "1.08600"}, "INVALID_PRICE"),
        ({"take_profit": "1.08200"}, "INVALID_STOPS"),
        ({"expire_time": ts(datetime(2030, 1, 1, tzinfo=UTC))}, "INVALID_EXPIRATION"),
    ],
)
async def test_modify_order_when_new_values_invalid_then_failed_precondition(
    oms: Any, put_quote: Any, change: dict[str, Any], reason: str
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "LIMIT", price="1.08300"))
    err = await rpc_error(
        oms.stub.ModifyOrder(
            oms_pb2.ModifyOrderRequest(
                account_id=str(account_id), order_id=order.order_id, **change
            )
        )
    )
    assert err.code == grpc.StatusCode.FAILED_PRECONDITION
    assert err.reason == reason


async def test_modify_or_cancel_when_order_not_working_then_refused_with_reason(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    filled = (await oms.stub.PlaceOrder(order_request(account_id))).order
    err = await rpc_error(
        oms.stub.ModifyOrder(
            oms_pb2.ModifyOrderRequest(
                account_id=str(account_id), order_id=filled.order_id, stop_loss="1.08000"
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ORDER_NOT_MODIFIABLE")
    err = await rpc_error(
        oms.stub.CancelOrder(
            oms_pb2.CancelOrderRequest(account_id=str(account_id), order_id=filled.order_id)
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ORDER_NOT_CANCELLABLE")


async def test_cancel_order_when_working_then_cancelled_once(oms: Any, put_quote: Any) -> None:
    account_id, other = await oms.new_account(), await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "STOP", price="1.09000"))
    request = oms_pb2.CancelOrderRequest(account_id=str(account_id), order_id=order.order_id)

    err = await rpc_error(
        oms.stub.CancelOrder(
            oms_pb2.CancelOrderRequest(account_id=str(other), order_id=order.order_id)
        )
    )
    assert err.code == grpc.StatusCode.NOT_FOUND
    cancelled = (await oms.stub.CancelOrder(request)).order

    assert cancelled.status == types_pb2.ORDER_STATUS_CANCELLED
    assert cancelled.reject_reason == "CLIENT_CANCELLED"
    err = await rpc_error(oms.stub.CancelOrder(request))
    assert err.reason == "ORDER_NOT_CANCELLABLE"
    after = await oms.app.service.trigger_order(OrderId(int(order.order_id)), quote("1.09", "1.09"))
    assert after.status is OrderStatus.CANCELLED


async def test_modify_order_when_nothing_changes_then_invalid_argument(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(oms, order_request(account_id, "LIMIT", price="1.08300"))
    err = await rpc_error(
        oms.stub.ModifyOrder(
            oms_pb2.ModifyOrderRequest(account_id=str(account_id), order_id=order.order_id)
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "NO_CHANGES")


async def test_list_orders_when_open_and_history_then_views_and_pages_newest_first(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    working = [
        await place(oms, order_request(account_id, "LIMIT", price=f"1.0{8300 - i}"))
        for i in range(3)
    ]
    filled = [(await oms.stub.PlaceOrder(order_request(account_id, volume="0.01"))).order]
    everything = [*working, *filled]

    open_view = await oms.stub.ListOrders(
        oms_pb2.ListOrdersRequest(account_id=str(account_id), view=oms_pb2.ORDER_LIST_VIEW_OPEN)
    )
    assert [o.order_id for o in open_view.orders] == [o.order_id for o in reversed(working)]
    assert open_view.next_page_token == ""

    seen: list[str] = []
    token = ""
    while True:
        page = await oms.stub.ListOrders(
            oms_pb2.ListOrdersRequest(
                account_id=str(account_id),
                view=oms_pb2.ORDER_LIST_VIEW_HISTORY,
                page_size=3,
                page_token=token,
            )
        )
        seen += [o.order_id for o in page.orders]
        token = page.next_page_token
        if not token:
            break
    assert seen == [o.order_id for o in reversed(everything)]

    window = await oms.stub.ListOrders(
        oms_pb2.ListOrdersRequest(
            account_id=str(account_id),
            view=oms_pb2.ORDER_LIST_VIEW_HISTORY,
            from_time=ts(datetime(2000, 1, 1, tzinfo=UTC)),
            to_time=ts(datetime(2000, 1, 2, tzinfo=UTC)),
        )
    )
    assert list(window.orders) == []
    err = await rpc_error(
        oms.stub.ListOrders(
            oms_pb2.ListOrdersRequest(account_id=str(account_id), page_token="not-a-token")
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PAGE_TOKEN")


async def test_pending_order_when_placed_then_restored_for_the_watcher(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(
        oms, order_request(account_id, "STOP_LIMIT", price="1.08600", stop_limit_price="1.08550")
    )
    state = await oms.app.service.load_stored_triggers()
    mine = [o for o in state.orders if o.order_id == int(order.order_id)]
    assert len(mine) == 1
    assert mine[0].stop_limit_price == D("1.08550")
    assert state.accounts[account_id].leverage == 100


async def test_trigger_when_order_expired_before_its_price_came_then_expired_not_executed(
    oms: Any, put_quote: Any
) -> None:
    oms.clock.at = WEDNESDAY
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    order = await place(
        oms,
        order_request(
            account_id,
            "LIMIT",
            tif="GTD",
            price="1.08300",
            expire_time=ts(WEDNESDAY + timedelta(minutes=5)),
        ),
    )
    oms.clock.at = WEDNESDAY + timedelta(minutes=5)
    calls = len(oms.router.requests)

    after = await oms.app.service.trigger_order(
        OrderId(int(order.order_id)), quote("1.08290", "1.08300")
    )

    assert after.status is OrderStatus.EXPIRED
    assert len(oms.router.requests) == calls
