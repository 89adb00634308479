"""The actions the trigger watcher calls, called directly: SL / TP closes, trailing stops,
stop-out with negative balance protection, margin calls, the start-up state and listeners."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from oms_helpers import BUY, SELL, balance_of, events, ledger_consistent, ledger_rows, order_request

from fxmesh.v1 import oms_pb2, types_pb2
from oms.domain.model import (
    AccountId,
    CloseReason,
    Order,
    OrderId,
    OrderOrigin,
    OrderStatus,
    PositionId,
    Price,
)
from oms.domain.records import PositionRow

D = Decimal
FILLED = types_pb2.ORDER_STATUS_FILLED


async def open_position(
    oms: Any, account_id: int, side: int = BUY, volume: str = "1.00", **extra: Any
) -> PositionId:
    reply = await oms.stub.PlaceOrder(order_request(account_id, side=side, volume=volume, **extra))
    assert reply.order.status == FILLED, reply.order.reject_reason
    return PositionId(int(reply.positions[0].position_id))


async def position_row(oms: Any, position_id: PositionId) -> Any:
    conn = await oms.db()
    try:
        return await conn.fetchrow(
            "SELECT * FROM oms.positions WHERE position_id = $1", position_id
        )
    finally:
        await conn.close()


async def test_take_profit_when_bid_reaches_it_then_position_closed_with_reason(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position_id = await open_position(oms, account_id, stop_loss="1.08200", take_profit="1.08800")
    service = oms.app.service

    not_reached = await service.close_for_protection(
        position_id, CloseReason.TAKE_PROFIT, Price(D("1.08790"), D("1.08800"))
    )
    assert not_reached is None  # a buy closes at the bid: the ask at the TP does not count

    await put_quote("EURUSD", "1.08800", "1.08810")
    order = await service.close_for_protection(
        position_id, CloseReason.TAKE_PROFIT, Price(D("1.08800"), D("1.08810"))
    )

    assert order.status is OrderStatus.FILLED
    assert order.origin is OrderOrigin.TAKE_PROFIT
    assert order.position_id == position_id
    row = await position_row(oms, position_id)
    assert (row["close_reason"], row["close_price"], row["realized_pnl"]) == (
        "TAKE_PROFIT",
        D("1.08800"),
        D("350.00"),
    )
    again = await service.close_for_protection(
        position_id, CloseReason.TAKE_PROFIT, Price(D("1.08800"), D("1.08810"))
    )
    assert again is None
    conn = await oms.db()
    try:
        reasons = await conn.fetch(
            "SELECT reason FROM oms.deals WHERE position_id = $1 ORDER BY deal_id", position_id
        )
        assert [r["reason"] for r in reasons] == ["CLIENT", "TAKE_PROFIT"]
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_stop_loss_when_ask_gaps_through_it_then_sell_closed_at_the_market(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position_id = await open_position(oms, account_id, SELL, "0.50", stop_loss="1.08600")
    await put_quote("EURUSD", "1.08640", "1.08650")  # gapped 5 pips past the SL

    order = await oms.app.service.close_for_protection(
        position_id, CloseReason.STOP_LOSS, Price(D("1.08640"), D("1.08650"))
    )

    assert order.origin is OrderOrigin.STOP_LOSS
    assert order.avg_fill_price == D("1.08650")
    row = await position_row(oms, position_id)
    assert row["close_reason"] == "STOP_LOSS"
    assert row["realized_pnl"] == D("-105.00")  # (1.08440 - 1.08650) x 50000


async def test_trailing_stop_when_moved_then_only_improvements_by_the_step_persist(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position_id = await open_position(oms, account_id)
    plain = await open_position(oms, account_id)
    await oms.stub.ModifyPosition(
        oms_pb2.ModifyPositionRequest(
            account_id=str(account_id),
            position_id=str(position_id),
            trailing_distance_points=150,
            trailing_step_points=10,
        )
    )
    service = oms.app.service

    assert await service.move_trailing_stop(position_id, D("1.08400")) is True
    assert await service.move_trailing_stop(position_id, D("1.08405")) is False  # under the step
    assert await service.move_trailing_stop(position_id, D("1.08410")) is True
    assert await service.move_trailing_stop(position_id, D("1.08300")) is False  # backwards
    assert await service.move_trailing_stop(plain, D("1.08400")) is False  # no trailing stop

    assert (await position_row(oms, position_id))["stop_loss"] == D("1.08410")
    conn = await oms.db()
    try:
        updates = await events(conn, account_id, "position_update")
        assert updates[-1][1]["stopLoss"] == "1.08410"
    finally:
        await conn.close()


async def test_stop_out_when_level_below_50_then_most_losing_closed_until_level_restored(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="1000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    await put_quote("XAUUSD", "2650.00", "2650.50")
    euro = await open_position(oms, account_id, BUY, "0.50")
    gold = await open_position(oms, account_id, BUY, "0.10", symbol="XAUUSD")
    # EURUSD -500.00, XAUUSD -200.00: equity 297.75 over margin 807.30 is 36.88 %.
    await put_quote("EURUSD", "1.07450", "1.07460")
    await put_quote("XAUUSD", "2630.50", "2631.00")

    closing = await oms.app.service.stop_out(AccountId(account_id))

    assert [(o.position_id, o.origin, o.status) for o in closing] == [
        (euro, OrderOrigin.STOP_OUT, OrderStatus.FILLED)
    ]
    assert (await position_row(oms, euro))["close_reason"] == "STOP_OUT"
    assert (await position_row(oms, gold))["closed_at"] is None
    summary = await oms.stub.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
    )
    assert D(summary.balance) == D("496.00")
    assert D(summary.margin_level) >= 50
    assert await oms.app.service.stop_out(AccountId(account_id)) == []  # nothing more to do


async def test_stop_out_when_gap_leaves_negative_balance_then_adjusted_to_exactly_zero(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="100.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    position_id = await open_position(oms, account_id, BUY, "0.09")
    await put_quote("EURUSD", "1.06000", "1.06010")  # a weekend gap: -220.50

    closing = await oms.app.service.stop_out(AccountId(account_id))

    assert [o.position_id for o in closing] == [position_id]
    conn = await oms.db()
    try:
        rows = await ledger_rows(conn, account_id)
        assert rows[-2:] == [("REALIZED_PNL", D("-220.50")), ("ADJUSTMENT", D("121.14"))]
        assert await balance_of(conn, account_id) == D("0.00")
        note = await conn.fetchval(
            "SELECT note FROM oms.ledger WHERE account_id = $1 AND type = 'ADJUSTMENT'",
            account_id,
        )
        assert "negative balance protection" in note
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_stop_out_when_protection_off_then_negative_balance_stays(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="100.00", negative_balance_protection=False)
    await put_quote("EURUSD", "1.08440", "1.08450")
    await open_position(oms, account_id, BUY, "0.09")
    await put_quote("EURUSD", "1.06000", "1.06010")
    await oms.app.service.stop_out(AccountId(account_id))
    conn = await oms.db()
    try:
        assert await balance_of(conn, account_id) == D("-121.14")
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_margin_call_when_level_crosses_below_100_then_one_event_until_restored(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="1000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    await open_position(oms, account_id, BUY, "0.90")  # margin 976.05
    service = oms.app.service
    assert await service.margin_call(AccountId(account_id)) is False  # 101.2 %

    await put_quote("EURUSD", "1.08400", "1.08410")  # 97.5 %
    assert await service.margin_call(AccountId(account_id)) is True
    assert await service.margin_call(AccountId(account_id)) is False  # once per crossing

    await put_quote("EURUSD", "1.08500", "1.08510")
    assert await service.margin_call(AccountId(account_id)) is False
    conn = await oms.db()
    try:
        kinds = [
            (k, d.get("marginLevel"))
            for k, d in await events(conn, account_id)
            if k.startswith("margin_call")
        ]
        assert [k for k, _ in kinds] == ["margin_call", "margin_call_cleared"]
        assert kinds[0][1] == "97.52"
    finally:
        await conn.close()


async def test_trigger_state_when_loaded_then_positions_with_protection_and_accounts(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(stop_out_level="30")
    await put_quote("EURUSD", "1.08440", "1.08450")
    position_id = await open_position(oms, account_id, SELL, stop_loss="1.09000")
    state = await oms.app.service.load_stored_triggers()
    [mine] = [p for p in state.positions if p.position_id == position_id]
    assert (mine.side.value, mine.stop_loss, mine.take_profit) == ("SELL", D("1.09000"), None)
    assert state.accounts[account_id].stop_out_level == D(30)


class Recorder:
    def __init__(self) -> None:
        self.orders: list[tuple[int, str]] = []
        self.positions: list[tuple[int, bool]] = []
        self.accounts: list[int] = []

    def order_changed(self, order: Order) -> None:
        self.orders.append((order.order_id or 0, order.status.value))

    def position_changed(self, position: PositionRow) -> None:
        self.positions.append((position.position_id, position.is_open))

    def account_changed(self, account: Any, open_positions: Any) -> None:
        self.accounts.append(account.account_id)


async def test_listener_when_orders_and_positions_change_then_hears_each_commit(
    oms: Any, put_quote: Any
) -> None:
    recorder = Recorder()
    oms.app.service.add_listener(recorder)
    try:
        account_id = await oms.new_account()
        await put_quote("EURUSD", "1.08440", "1.08450")
        pending = await oms.stub.PlaceOrder(order_request(account_id, "LIMIT", price="1.08000"))
        position_id = await open_position(oms, account_id, SELL, "0.10")
    finally:
        oms.app.service.uow.listeners.remove(recorder)
    assert (int(pending.order.order_id), "WORKING") in recorder.orders
    assert [s for _, s in recorder.orders][-2:] == ["FILLING", "FILLED"]
    assert recorder.positions == [(position_id, True)]
    assert recorder.accounts == [account_id]


async def test_sl_and_client_close_when_racing_then_position_closed_once(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    position_id = await open_position(oms, account_id, stop_loss="1.08300")
    await put_quote("EURUSD", "1.08290", "1.08300")
    hit = Price(D("1.08290"), D("1.08300"))

    results = await asyncio.gather(
        oms.app.service.close_for_protection(position_id, CloseReason.STOP_LOSS, hit),
        oms.app.service.close_for_protection(position_id, CloseReason.STOP_LOSS, hit),
        oms.stub.ClosePosition(
            oms_pb2.ClosePositionRequest(account_id=str(account_id), position_id=str(position_id))
        ),
        return_exceptions=True,
    )

    conn = await oms.db()
    try:
        outs = await conn.fetchval(
            "SELECT count(*) FROM oms.deals WHERE position_id = $1 AND entry = 'OUT'", position_id
        )
        assert outs == 1
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()
    assert sum(1 for r in results[:2] if isinstance(r, Order)) <= 1


async def test_activate_stop_limit_when_stop_reached_then_active_and_published(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    reply = await oms.stub.PlaceOrder(
        order_request(account_id, "STOP_LIMIT", price="1.08600", stop_limit_price="1.08550")
    )
    order_id = OrderId(int(reply.order.order_id))
    service = oms.app.service
    early = await service.activate_stop_limit(order_id, Price(D("1.08580"), D("1.08590")))
    assert early.stop_limit_active is False
    active = await service.activate_stop_limit(order_id, Price(D("1.08600"), D("1.08610")))
    assert (active.status, active.stop_limit_active) == (OrderStatus.WORKING, True)
    conn = await oms.db()
    try:
        updates = await events(conn, account_id, "order_update")
        assert updates[-1][1]["stopLimitActive"] is True
    finally:
        await conn.close()
