"""WatchAccount: an account marked to market as prices move, against the real oms.

Each mark must be what GetAccountSummary and ListPositions say at the same quotes; a stream sends
only when something it shows changed; opening and closing a position and a deposit reach it from
oms's commits; an unknown account is NOT_FOUND."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import grpc
import pytest
from oms_helpers import BUY, SELL, balance_of, order_request

from fxmesh.errors import from_rpc_error
from fxmesh.v1 import oms_pb2, types_pb2
from oms.domain.model import AccountId
from oms.trading.marks import AccountMarks, TooManyWatches

D = Decimal
READ_TIMEOUT = 10.0


async def next_mark(call: Any, *, until: Any = None) -> oms_pb2.WatchAccountResponse:
    """The next mark (the first one for which ``until(mark)`` holds, if given)."""
    while True:
        mark = await asyncio.wait_for(call.read(), READ_TIMEOUT)
        assert mark is not grpc.aio.EOF, "the stream ended"
        if until is None or until(mark):
            return mark


def marks_of(mark: oms_pb2.WatchAccountResponse) -> dict[str, tuple[str, str]]:
    return {p.position_id: (p.current_price, p.profit) for p in mark.positions}


async def test_watch_account_marks_positions_and_figures_as_the_price_moves(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="10000.00")
    await put_quote("EURUSD", "1.10000", "1.10010")
    placed = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="1.00"))
    assert placed.order.status == types_pb2.ORDER_STATUS_FILLED
    [position] = placed.positions
    assert D(position.open_price) == D("1.10010")
    call = oms.stub.WatchAccount(oms_pb2.WatchAccountRequest(account_id=str(account_id)))
    try:
        first = await next_mark(call)
        assert first.account_id == str(account_id)
        assert first.currency == "USD"
        # A buy is marked at the bid: 1 lot x 100 000 x (1.10000 - 1.10010) = -10.00 USD.
        assert marks_of(first) == {position.position_id: ("1.10000", "-10.00")}
        assert D(first.unrealized_pnl) == D("-10.00")
        assert D(first.equity) == D(first.balance) - 10

        await put_quote("EURUSD", "1.10250", "1.10260")
        moved = await next_mark(call, until=lambda m: m.positions[0].current_price == "1.10250")
        assert D(moved.positions[0].profit) == D("240.00")
        assert D(moved.equity) == D(moved.balance) + 240
        # The same figures GetAccountSummary and ListPositions give at this quote.
        summary = await oms.stub.GetAccountSummary(
            oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
        )
        listed = await oms.stub.ListPositions(
            oms_pb2.ListPositionsRequest(account_id=str(account_id))
        )
        assert (moved.equity, moved.margin, moved.free_margin, moved.margin_level) == (
            summary.equity,
            summary.margin,
            summary.free_margin,
            summary.margin_level,
        )
        assert [(p.current_price, p.profit) for p in listed.positions] == [
            (p.current_price, p.profit) for p in moved.positions
        ]
        assert moved.as_of.ToDatetime() >= first.as_of.ToDatetime()

        # Nothing moved: nothing is sent (several marks intervals).
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(call.read(), 4 * oms.settings.marks_interval_seconds)
    finally:
        call.cancel()


async def test_watch_account_follows_fills_closes_and_deposits(oms: Any, put_quote: Any) -> None:
    account_id = await oms.new_account(deposit="5000.00")
    await put_quote("EURUSD", "1.20000", "1.20010")
    call = oms.stub.WatchAccount(oms_pb2.WatchAccountRequest(account_id=str(account_id)))
    try:
        empty = await next_mark(call)
        assert list(empty.positions) == []
        assert empty.margin_level == ""
        assert D(empty.equity) == D("5000.00")

        placed = await oms.stub.PlaceOrder(order_request(account_id, side=SELL, volume="0.50"))
        [position] = placed.positions
        opened = await next_mark(call, until=lambda m: len(m.positions) == 1)
        [mark] = opened.positions
        assert (mark.position_id, mark.side, mark.volume) == (
            position.position_id,
            types_pb2.SIDE_SELL,
            "0.50",
        )
        assert mark.current_price == "1.20010"  # a sell is marked at the ask
        assert D(opened.margin) > 0

        await oms.stub.ClosePosition(
            oms_pb2.ClosePositionRequest(
                account_id=str(account_id),
                position_id=position.position_id,
                client_order_id="close-watch-1",
            )
        )
        closed = await next_mark(call, until=lambda m: not m.positions)
        conn = await oms.db()
        try:
            booked = await balance_of(conn, account_id)
        finally:
            await conn.close()
        # Opened at the bid 1.20000, closed at the ask 1.20010 (-5.00), commission 2 x 1.75.
        assert booked == D("4991.50")
        assert D(closed.balance) == booked
        assert D(closed.margin) == 0

        await oms.stub.PostBalanceOperation(
            oms_pb2.PostBalanceOperationRequest(
                account_id=str(account_id),
                request_id="watch-deposit-1",
                type=types_pb2.LEDGER_ENTRY_TYPE_DEPOSIT,
                amount="100.00",
            )
        )
        deposited = await next_mark(call, until=lambda m: D(m.balance) == booked + 100)
        assert D(deposited.equity) == booked + 100
    finally:
        call.cancel()


async def test_watch_account_of_an_unknown_account_is_not_found(oms: Any) -> None:
    call = oms.stub.WatchAccount(oms_pb2.WatchAccountRequest(account_id="987654321"))
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await asyncio.wait_for(call.read(), READ_TIMEOUT)
    error = from_rpc_error(info.value)
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "ACCOUNT_NOT_FOUND")


async def test_watch_account_beyond_the_watched_accounts_limit_is_refused(oms: Any) -> None:
    marks = AccountMarks(oms.app.service.uow, interval_seconds=0.05, max_accounts=1)
    first, second = await oms.new_account(), await oms.new_account()
    watching = marks.watch(AccountId(first))
    try:
        assert (await anext(watching)).account.account_id == first
        # A second stream of the same account shares its slot; another account is refused.
        same = marks.watch(AccountId(first))
        assert (await anext(same)).account.account_id == first
        await same.aclose()
        with pytest.raises(TooManyWatches) as refused:
            await anext(marks.watch(AccountId(second)))
        assert (refused.value.code, refused.value.metadata) == (
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            {"max": "1"},
        )
    finally:
        await watching.aclose()
        await marks.stop()
    # The slot is free again once the first account's last stream ended.
    again = marks.watch(AccountId(second))
    assert (await anext(again)).account.account_id == second
    await again.aclose()
    await marks.stop()
