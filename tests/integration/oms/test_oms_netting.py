"""Netting accounts (add, reduce, close, reverse) and golden realized P&L in USD, EUR and JPY
accounts, each checked against the ledger."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from oms_helpers import (
    BUY,
    SELL,
    balance_of,
    deals_of,
    ledger_consistent,
    ledger_rows,
    order_request,
)

from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal
FILLED = types_pb2.ORDER_STATUS_FILLED


async def fill(oms: Any, account_id: int, side: int, volume: str, symbol: str = "EURUSD") -> Any:
    reply = await oms.stub.PlaceOrder(
        order_request(account_id, side=side, volume=volume, symbol=symbol)
    )
    assert reply.order.status == FILLED, reply.order.reject_reason
    return reply


async def open_positions(oms: Any, account_id: int) -> list[Any]:
    reply = await oms.stub.ListPositions(oms_pb2.ListPositionsRequest(account_id=str(account_id)))
    return list(reply.positions)


async def test_netting_when_sell_exceeds_buy_then_inout_reverses_with_realized_pnl(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(margin_mode="NETTING")
    await put_quote("EURUSD", "1.08440", "1.08450")
    first = await fill(oms, account_id, BUY, "1.00")  # 1.0 at the ask 1.08450
    await put_quote("EURUSD", "1.08500", "1.08510")

    reversal = await fill(oms, account_id, SELL, "1.50")  # 1.5 at the bid 1.08500

    [now_open] = await open_positions(oms, account_id)
    assert (now_open.side, now_open.volume, now_open.open_price) == (
        types_pb2.SIDE_SELL,
        "0.50",
        "1.08500",
    )
    assert now_open.position_id != first.positions[0].position_id
    assert now_open.commission == "-1.75"
    by_id = {p.position_id: p for p in reversal.positions}
    old = by_id[first.positions[0].position_id]
    assert old.close_reason == types_pb2.CLOSE_REASON_NETTING
    assert (old.close_price, old.realized_pnl, old.commission) == ("1.08500", "50.00", "-7.00")
    conn = await oms.db()
    try:
        deals = await deals_of(conn, account_id)
        assert [(d["entry"], d["volume"], d["realized_pnl"], d["commission"]) for d in deals] == [
            ("IN", D("1.00"), D(0), D("-3.50")),
            ("INOUT", D("1.50"), D("50.00"), D("-5.25")),
        ]
        assert deals[1]["position_id"] == int(now_open.position_id)
        assert deals[1]["reason"] == "NETTING"
        assert await ledger_rows(conn, account_id) == [
            ("DEPOSIT", D("10000.00")),
            ("COMMISSION", D("-3.50")),
            ("COMMISSION", D("-5.25")),
            ("REALIZED_PNL", D("50.00")),
        ]
        assert await balance_of(conn, account_id) == D("10041.25")
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_netting_when_adding_then_average_price_then_reduce_and_close_with_pnl(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(margin_mode="NETTING")
    await put_quote("EURUSD", "1.08440", "1.08450")
    await fill(oms, account_id, BUY, "1.00")
    await put_quote("EURUSD", "1.08460", "1.08470")
    added = await fill(oms, account_id, BUY, "1.00")

    [position] = added.positions
    assert (position.volume, position.open_price) == ("2.00", "1.0846")
    assert position.commission == "-7.00"

    await put_quote("EURUSD", "1.08500", "1.08510")
    reduced = await fill(oms, account_id, SELL, "0.50")
    assert (reduced.positions[0].volume, reduced.positions[0].realized_pnl) == ("1.50", "20.00")

    await put_quote("EURUSD", "1.08400", "1.08410")
    closed = await fill(oms, account_id, SELL, "1.50")

    [after] = closed.positions
    assert after.close_reason == types_pb2.CLOSE_REASON_NETTING
    assert after.realized_pnl == "-70.00"  # +20.00, then (1.08400 - 1.08460) x 150000 = -90.00
    assert await open_positions(oms, account_id) == []
    conn = await oms.db()
    try:
        entries = [(d["entry"], d["realized_pnl"]) for d in await deals_of(conn, account_id)]
        assert entries == [
            ("IN", D(0)),
            ("IN", D(0)),
            ("OUT", D("20.00")),
            ("OUT", D("-90.00")),
        ]
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_netting_when_closed_by_client_close_then_reason_client_and_one_position(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(margin_mode="NETTING")
    await put_quote("EURUSD", "1.08440", "1.08450")
    opened = await fill(oms, account_id, SELL, "0.30")
    position_id = opened.positions[0].position_id
    await put_quote("EURUSD", "1.08400", "1.08410")

    reply = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(account_id=str(account_id), position_id=position_id)
    )

    assert reply.order.status == FILLED
    assert reply.position.close_reason == types_pb2.CLOSE_REASON_CLIENT
    assert reply.position.realized_pnl == "9.00"  # (1.08440 - 1.08410) x 30000


async def test_netting_suspended_account_when_order_only_reduces_then_allowed(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(margin_mode="NETTING")
    await put_quote("EURUSD", "1.08440", "1.08450")
    await fill(oms, account_id, BUY, "1.00")
    conn = await oms.db()
    try:
        await conn.execute(
            "UPDATE oms.accounts SET status = 'SUSPENDED' WHERE account_id = $1", account_id
        )
    finally:
        await conn.close()
    grow = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="0.10"))
    reverse = await oms.stub.PlaceOrder(order_request(account_id, side=SELL, volume="2.00"))
    shrink = await oms.stub.PlaceOrder(order_request(account_id, side=SELL, volume="0.40"))
    assert grow.order.reject_reason == "ACCOUNT_NOT_ACTIVE"
    assert reverse.order.reject_reason == "ACCOUNT_NOT_ACTIVE"
    assert shrink.order.status == FILLED


# --- golden realized P&L in several account currencies -----------------------------------------


async def test_golden_eur_account_when_eurusd_closed_50_points_up_per_half_then_pnl_in_eur(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(currency="EUR")
    await put_quote("EURUSD", "1.08440", "1.08450")
    opened = await fill(oms, account_id, BUY, "1.00")
    assert opened.positions[0].commission == "-3.23"  # 3.50 USD / 1.08445
    await put_quote("EURUSD", "1.08550", "1.08560")

    reply = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account_id), position_id=opened.positions[0].position_id
        )
    )

    [deal] = reply.deals
    # 100.00 USD at EURUSD mid 1.08555 = 92.12 EUR; commission 3.50 USD = 3.22 EUR.
    assert (deal.realized_pnl, deal.commission) == ("92.12", "-3.22")
    conn = await oms.db()
    try:
        assert await balance_of(conn, account_id) == D("10085.67")
        currencies = await conn.fetch(
            "SELECT DISTINCT currency FROM oms.ledger WHERE account_id = $1", account_id
        )
        assert [c["currency"] for c in currencies] == ["EUR"]
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_golden_jpy_account_when_usdjpy_up_20_pips_then_pnl_in_whole_yen(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(currency="JPY", deposit="2000000")
    await put_quote("USDJPY", "151.490", "151.500")
    opened = await fill(oms, account_id, BUY, "1.00", symbol="USDJPY")
    assert opened.positions[0].commission == "-530"  # 3.50 USD x 151.495
    summary = await oms.stub.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
    )
    assert D(summary.margin) == D("151500")  # 100000 USD / 100 at 151.500
    await put_quote("USDJPY", "151.700", "151.710")

    reply = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account_id), position_id=opened.positions[0].position_id
        )
    )

    [deal] = reply.deals
    assert (deal.realized_pnl, deal.commission) == ("20000", "-531")
    conn = await oms.db()
    try:
        assert await balance_of(conn, account_id) == D("2018939")
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_golden_usd_account_when_usdjpy_and_gold_closed_then_converted_and_plain_usd(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="50000.00")
    await put_quote("USDJPY", "151.490", "151.500")
    await put_quote("XAUUSD", "2650.00", "2650.50")
    yen = await fill(oms, account_id, BUY, "1.00", symbol="USDJPY")
    gold = await fill(oms, account_id, BUY, "1.00", symbol="XAUUSD")
    await put_quote("USDJPY", "151.700", "151.710")
    await put_quote("XAUUSD", "2660.50", "2661.00")

    closes = await oms.stub.CloseAllPositions(
        oms_pb2.CloseAllPositionsRequest(account_id=str(account_id))
    )

    pnl = {r.position.symbol: r.deals[0].realized_pnl for r in closes.results}
    # 20000 JPY at USDJPY mid 151.705 = 131.83 USD; gold (2660.50 - 2650.50) x 100 = 1000.00.
    assert pnl == {"USDJPY": "131.83", "XAUUSD": "1000.00"}
    assert {yen.positions[0].commission, gold.positions[0].commission} == {"-3.50", "-5.00"}
    conn = await oms.db()
    try:
        assert await balance_of(conn, account_id) == D("50000.00") - 7 - 10 + D("1131.83")
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()
