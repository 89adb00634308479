"""Position operations over gRPC on hedging accounts: close, partial close, close-all, close-by,
modify SL / TP / trailing, suspended accounts, hedged margin; ledger invariants after each."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import grpc
import pytest
from oms_helpers import (
    BUY,
    SELL,
    balance_of,
    deals_of,
    events,
    ledger_consistent,
    ledger_rows,
    order_request,
    rpc_error,
)

from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal
FILLED, REJECTED = types_pb2.ORDER_STATUS_FILLED, types_pb2.ORDER_STATUS_REJECTED


async def open_position(
    oms: Any, account_id: int, side: int = BUY, volume: str = "1.00", **extra: Any
) -> Any:
    reply = await oms.stub.PlaceOrder(order_request(account_id, side=side, volume=volume, **extra))
    assert reply.order.status == FILLED, reply.order.reject_reason
    [position] = reply.positions
    return position


def close_request(account_id: int, position_id: str, **extra: Any) -> oms_pb2.ClosePositionRequest:
    return oms_pb2.ClosePositionRequest(
        account_id=str(account_id), position_id=position_id, **extra
    )


async def check_ledger(oms: Any, account_id: int) -> None:
    conn = await oms.db()
    try:
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_hedging_when_buy_and_sell_filled_then_two_positions_and_larger_leg_margin(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    buy = await open_position(oms, account_id, BUY, "1.00")
    sell = await open_position(oms, account_id, SELL, "0.60")

    listed = await oms.stub.ListPositions(oms_pb2.ListPositionsRequest(account_id=str(account_id)))
    summary = await oms.stub.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
    )

    assert {p.position_id for p in listed.positions} == {buy.position_id, sell.position_id}
    assert [p.margin for p in listed.positions] == ["1084.50", "650.64"]
    # Larger leg: max(buy 1084.50, sell 650.64), not their sum.
    assert D(summary.margin) == D("1084.50")
    assert D(summary.balance) == D("10000.00") - D("3.50") - D("2.10")


async def test_close_position_when_partial_then_full_then_realized_pnl_commission_and_reason(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position = await open_position(oms, account_id, BUY, "1.00")
    await put_quote("EURUSD", "1.08500", "1.08510")

    part = await oms.stub.ClosePosition(
        close_request(account_id, position.position_id, volume="0.40", client_order_id="part-1")
    )

    assert part.order.status == FILLED
    assert part.order.side == types_pb2.SIDE_SELL
    assert part.order.position_id == position.position_id
    assert part.order.origin == types_pb2.ORDER_ORIGIN_CLIENT
    [deal] = part.deals
    assert (deal.entry, deal.volume, deal.price) == (types_pb2.DEAL_ENTRY_OUT, "0.40", "1.08500")
    assert (deal.realized_pnl, deal.commission) == ("20.00", "-1.40")
    assert deal.reason == types_pb2.CLOSE_REASON_CLIENT
    assert (part.position.volume, part.position.realized_pnl) == ("0.60", "20.00")
    assert part.position.commission == "-4.90"
    assert part.position.close_reason == types_pb2.CLOSE_REASON_UNSPECIFIED

    await put_quote("EURUSD", "1.08400", "1.08410")
    rest = await oms.stub.ClosePosition(close_request(account_id, position.position_id))

    assert rest.order.status == FILLED
    assert rest.order.volume == "0.60"
    closed = rest.position
    assert closed.close_reason == types_pb2.CLOSE_REASON_CLIENT
    assert (closed.close_price, closed.realized_pnl) == ("1.08400", "-10.00")
    assert D(closed.volume) == 0
    assert closed.HasField("close_time")
    conn = await oms.db()
    try:
        assert await ledger_rows(conn, account_id) == [
            ("DEPOSIT", D("10000.00")),
            ("COMMISSION", D("-3.50")),
            ("COMMISSION", D("-1.40")),
            ("REALIZED_PNL", D("20.00")),
            ("COMMISSION", D("-2.10")),
            ("REALIZED_PNL", D("-30.00")),
        ]
        assert await balance_of(conn, account_id) == D("9983.00")
        await ledger_consistent(conn, account_id)
        updates = await events(conn, account_id, "position_update")
        assert updates[-1][1]["state"] == "CLOSED"
        assert updates[-1][1]["closeReason"] == "CLIENT"
        accounts = await events(conn, account_id, "account_update")
        assert accounts[-1][1]["balance"] == "9983.00"
        assert accounts[-1][1]["marginLevel"] == ""
    finally:
        await conn.close()
    left = await oms.stub.ListPositions(oms_pb2.ListPositionsRequest(account_id=str(account_id)))
    assert list(left.positions) == []


async def test_close_position_when_retried_with_same_client_order_id_then_one_close(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position = await open_position(oms, account_id, SELL, "0.50")
    request = close_request(account_id, position.position_id, client_order_id="close-once")

    first = await oms.stub.ClosePosition(request)
    again = await oms.stub.ClosePosition(request)

    assert (first.replayed, again.replayed) == (False, True)
    assert again.order.order_id == first.order.order_id
    assert [d.deal_id for d in again.deals] == [d.deal_id for d in first.deals]
    assert again.position.close_reason == types_pb2.CLOSE_REASON_CLIENT
    conn = await oms.db()
    try:
        outs = [d for d in await deals_of(conn, account_id) if d["entry"] == "OUT"]
        assert len(outs) == 1
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()
    err = await rpc_error(
        oms.stub.ClosePosition(
            close_request(account_id, position.position_id, client_order_id="close-twice")
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "POSITION_NOT_OPEN")


@pytest.mark.parametrize(
    ("volume", "reason"),
    [("0.015", "VOLUME_STEP"), ("0.001", "VOLUME_TOO_SMALL"), ("1.50", "VOLUME_TOO_LARGE")],
)
async def test_close_position_when_volume_does_not_fit_then_rejected_order_with_reason(
    oms: Any, put_quote: Any, volume: str, reason: str
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position = await open_position(oms, account_id)
    reply = await oms.stub.ClosePosition(
        close_request(account_id, position.position_id, volume=volume)
    )
    assert reply.order.status == REJECTED
    assert reply.order.reject_reason == reason
    assert reply.position.volume == "1.00"


async def test_close_position_when_unknown_or_other_accounts_then_not_found(
    oms: Any, put_quote: Any
) -> None:
    owner, other = await oms.new_account(), await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position = await open_position(oms, owner)
    for account_id, position_id in ((other, position.position_id), (owner, "999999999")):
        err = await rpc_error(oms.stub.ClosePosition(close_request(account_id, position_id)))
        assert (err.code, err.reason) == (grpc.StatusCode.NOT_FOUND, "POSITION_NOT_FOUND")


async def test_suspended_account_when_opening_then_refused_but_closing_allowed(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position = await open_position(oms, account_id)
    conn = await oms.db()
    try:
        await conn.execute(
            "UPDATE oms.accounts SET status = 'SUSPENDED' WHERE account_id = $1", account_id
        )
    finally:
        await conn.close()

    opened = await oms.stub.PlaceOrder(order_request(account_id))
    closed = await oms.stub.ClosePosition(close_request(account_id, position.position_id))

    assert opened.order.status == REJECTED
    assert opened.order.reject_reason == "ACCOUNT_NOT_ACTIVE"
    assert closed.order.status == FILLED
    assert closed.position.close_reason == types_pb2.CLOSE_REASON_CLIENT


async def test_close_all_when_retried_with_same_request_id_then_each_position_closed_once(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    await put_quote("XAUUSD", "2650.00", "2650.50")
    euro = [await open_position(oms, account_id, BUY, "0.10") for _ in range(2)]
    gold = await open_position(oms, account_id, SELL, "0.10", symbol="XAUUSD")

    only_gold = await oms.stub.CloseAllPositions(
        oms_pb2.CloseAllPositionsRequest(
            account_id=str(account_id), symbol="XAUUSD", request_id="gold-out"
        )
    )
    assert [r.position.position_id for r in only_gold.results] == [gold.position_id]

    request = oms_pb2.CloseAllPositionsRequest(account_id=str(account_id), request_id="all-out")
    first = await oms.stub.CloseAllPositions(request)
    again = await oms.stub.CloseAllPositions(request)

    ids = sorted((p.position_id for p in euro), key=int)  # ids are decimal strings: 99 < 100
    assert [r.position.position_id for r in first.results] == ids
    assert all(r.order.status == FILLED and not r.replayed for r in first.results)
    assert [r.order.client_order_id for r in first.results] == [f"all-out:{i}" for i in ids]
    assert [r.order.order_id for r in again.results] == [r.order.order_id for r in first.results]
    assert all(r.replayed for r in again.results)
    await check_ledger(oms, account_id)


async def test_close_by_when_buy_closed_by_smaller_sell_then_out_by_deals_and_exact_pnl(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    buy = await open_position(oms, account_id, BUY, "1.00")  # at 1.08450
    await put_quote("EURUSD", "1.08500", "1.08510")
    sell = await open_position(oms, account_id, SELL, "0.40")  # at 1.08500
    calls = len(oms.router.requests)

    reply = await oms.stub.CloseBy(
        oms_pb2.CloseByRequest(
            account_id=str(account_id),
            position_id=buy.position_id,
            opposite_position_id=sell.position_id,
        )
    )

    assert len(oms.router.requests) == calls  # the house book does not change
    first, second = reply.deals
    assert (first.entry, first.position_id, first.price) == (
        types_pb2.DEAL_ENTRY_OUT_BY,
        buy.position_id,
        "1.08500",
    )
    assert (first.volume, first.realized_pnl, first.side) == ("0.40", "20.00", types_pb2.SIDE_SELL)
    assert (second.position_id, second.price, second.realized_pnl) == (
        sell.position_id,
        "1.08500",
        "0",
    )
    assert {d.reason for d in reply.deals} == {types_pb2.CLOSE_REASON_CLOSE_BY}
    after = {p.position_id: p for p in reply.positions}
    assert (after[buy.position_id].volume, after[buy.position_id].open_price) == ("0.60", "1.08450")
    assert after[buy.position_id].realized_pnl == "20.00"
    assert after[sell.position_id].close_reason == types_pb2.CLOSE_REASON_CLOSE_BY
    conn = await oms.db()
    try:
        assert (await ledger_rows(conn, account_id))[-1] == ("REALIZED_PNL", D("20.00"))
        assert await balance_of(conn, account_id) == D("10000.00") - D("3.50") - D("1.40") + 20
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()
    err = await rpc_error(
        oms.stub.CloseBy(
            oms_pb2.CloseByRequest(
                account_id=str(account_id),
                position_id=buy.position_id,
                opposite_position_id=sell.position_id,
            )
        )
    )
    assert err.reason == "POSITION_NOT_OPEN"


async def test_close_by_when_same_side_or_netting_then_failed_precondition(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    a = await open_position(oms, account_id, BUY, "0.10")
    b = await open_position(oms, account_id, BUY, "0.10")
    err = await rpc_error(
        oms.stub.CloseBy(
            oms_pb2.CloseByRequest(
                account_id=str(account_id),
                position_id=a.position_id,
                opposite_position_id=b.position_id,
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "CLOSE_BY_NOT_ALLOWED")
    netting = await oms.new_account(margin_mode="NETTING")
    n = await open_position(oms, netting, BUY, "0.10")
    err = await rpc_error(
        oms.stub.CloseBy(
            oms_pb2.CloseByRequest(
                account_id=str(netting),
                position_id=n.position_id,
                opposite_position_id=a.position_id,
            )
        )
    )
    assert err.reason == "CLOSE_BY_NOT_ALLOWED"


async def test_modify_position_when_valid_then_sl_tp_trailing_saved_and_published(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position = await open_position(oms, account_id, BUY, take_profit="1.09000")

    reply = await oms.stub.ModifyPosition(
        oms_pb2.ModifyPositionRequest(
            account_id=str(account_id),
            position_id=position.position_id,
            stop_loss="1.08200",
            take_profit="",
            trailing_distance_points=150,
            trailing_step_points=10,
        )
    )

    changed = reply.position
    assert (changed.stop_loss, changed.take_profit) == ("1.08200", "1.09000")
    assert (changed.trailing_distance_points, changed.trailing_step_points) == (150, 10)
    removed = await oms.stub.ModifyPosition(
        oms_pb2.ModifyPositionRequest(
            account_id=str(account_id),
            position_id=position.position_id,
            take_profit="0",
            trailing_distance_points=-1,
            trailing_step_points=-1,
        )
    )
    assert (removed.position.stop_loss, removed.position.take_profit) == ("1.08200", "")
    assert removed.position.trailing_distance_points == 150
    conn = await oms.db()
    try:
        updates = await events(conn, account_id, "position_update")
        assert updates[-1][1]["takeProfit"] == ""
        assert updates[-2][1]["trailingDistancePoints"] == 150
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"stop_loss": "1.08500"}, "INVALID_STOPS"),  # above the bid of a buy
        ({"take_profit": "1.08445"}, "INVALID_STOPS"),  # within 10 points of the bid
        ({"trailing_distance_points": 5}, "INVALID_STOPS"),
    ],
)
async def test_modify_position_when_invalid_then_failed_precondition_with_reason(
    oms: Any, put_quote: Any, change: dict[str, Any], reason: str
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position = await open_position(oms, account_id)
    err = await rpc_error(
        oms.stub.ModifyPosition(
            oms_pb2.ModifyPositionRequest(
                account_id=str(account_id), position_id=position.position_id, **change
            )
        )
    )
    assert (err.code, err.reason) == (grpc.StatusCode.FAILED_PRECONDITION, reason)


async def test_place_order_when_account_limits_reached_then_max_positions_and_daily_volume(
    oms: Any, put_quote: Any
) -> None:
    await put_quote("EURUSD", "1.08440", "1.08450")
    capped = await oms.new_account(max_open_positions=1)
    await open_position(oms, capped, volume="0.10")
    second = await oms.stub.PlaceOrder(order_request(capped, volume="0.10"))
    assert second.order.reject_reason == "MAX_POSITIONS"

    daily = await oms.new_account(max_daily_volume="0.50")
    await open_position(oms, daily, volume="0.30")
    over = await oms.stub.PlaceOrder(order_request(daily, volume="0.30"))
    assert over.order.reject_reason == "MAX_DAILY_VOLUME"
    within = await oms.stub.PlaceOrder(order_request(daily, volume="0.20"))
    assert within.order.status == FILLED


async def test_account_info_when_listed_then_levels_and_limits_shown(oms: Any) -> None:
    account_id = await oms.new_account(
        margin_call_level="120", stop_out_level="40", max_open_positions=7, max_daily_volume="9.5"
    )
    reply = await oms.stub.ListAccounts(oms_pb2.ListAccountsRequest(page_size=1000))
    info = next(a for a in reply.accounts if a.account_id == str(account_id))
    assert (info.margin_call_level, info.stop_out_level) == ("120", "40")
    assert (info.max_open_positions, info.max_daily_volume) == (7, "9.5")
    assert info.negative_balance_protection is True


@pytest.mark.parametrize(
    ("call", "request_", "reason"),
    [
        ("ClosePosition", oms_pb2.ClosePositionRequest(position_id="abc"), "INVALID_POSITION_ID"),
        (
            "ClosePosition",
            oms_pb2.ClosePositionRequest(position_id="1", volume="-1"),
            "INVALID_DECIMAL",
        ),
        (
            "CloseBy",
            oms_pb2.CloseByRequest(position_id="1", opposite_position_id="1"),
            "SAME_POSITION",
        ),
        (
            "ModifyPosition",
            oms_pb2.ModifyPositionRequest(position_id="1", trailing_distance_points=-2),
            "INVALID_POINTS",
        ),
        (
            "ModifyPosition",
            oms_pb2.ModifyPositionRequest(position_id="1", stop_loss="1.2.3"),
            "INVALID_DECIMAL",
        ),
        ("ModifyOrder", oms_pb2.ModifyOrderRequest(order_id="1", price="0"), "INVALID_DECIMAL"),
        (
            "CloseAllPositions",
            oms_pb2.CloseAllPositionsRequest(request_id="x" * 41),
            "INVALID_CLIENT_ORDER_ID",
        ),
    ],
)
async def test_position_rpcs_when_request_malformed_then_invalid_argument(
    oms: Any, call: str, request_: Any, reason: str
) -> None:
    account_id = await oms.new_account()
    request_.account_id = str(account_id)
    err = await rpc_error(getattr(oms.stub, call)(request_))
    assert (err.code, err.reason) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
