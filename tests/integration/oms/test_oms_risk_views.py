"""Risk views for admin: top winners and losers over a period, accounts near margin call."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from oms_helpers import BUY, order_request, rpc_error

from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal


async def round_trip(oms: Any, put_quote: Any, account: int, exit_bid: str, tag: str) -> None:
    """Buy 1 lot at the ask 1.10010, then close it at ``exit_bid``."""
    await put_quote("EURUSD", "1.10000", "1.10010")
    placed = await oms.stub.PlaceOrder(order_request(account, side=BUY, volume="1.00"))
    assert placed.order.status == types_pb2.ORDER_STATUS_FILLED
    [position] = placed.positions
    await put_quote("EURUSD", exit_bid, str(D(exit_bid) + D("0.00010")))
    closed = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account), position_id=position.position_id, client_order_id=tag
        )
    )
    assert closed.order.status == types_pb2.ORDER_STATUS_FILLED


async def test_top_traders_rank_net_results_since_a_moment(oms: Any, put_quote: Any) -> None:
    conn = await oms.db()
    try:
        started = await conn.fetchval("SELECT now()")
    finally:
        await conn.close()
    since = Timestamp()
    since.FromDatetime(started)
    winner, loser = await oms.new_account(), await oms.new_account()
    await round_trip(oms, put_quote, winner, "1.10500", "top-win")
    await round_trip(oms, put_quote, loser, "1.09500", "top-lose")

    reply = await oms.stub.ListTopTraders(oms_pb2.ListTopTradersRequest(since=since, limit=5))

    # (1.10500 - 1.10010) x 100 000 - 2 x 3.50 commission = 483; the loser -510 - 7 = -517.
    assert [(t.account_id, t.net, t.net_usd, t.deals, t.lots) for t in reply.winners] == [
        (str(winner), "483.00", "483.00", 2, "2.00")
    ]
    assert [(t.account_id, t.net) for t in reply.losers] == [(str(loser), "-517.00")]
    assert reply.since.ToDatetime() == since.ToDatetime()
    too_many = await rpc_error(oms.stub.ListTopTraders(oms_pb2.ListTopTradersRequest(limit=101)))
    assert too_many.reason == "INVALID_LIMIT"


async def test_margin_watch_lists_accounts_near_their_margin_call_level_lowest_first(
    oms: Any, put_quote: Any
) -> None:
    await put_quote("EURUSD", "1.10000", "1.10010")
    tight = await oms.new_account(deposit="1200.00")  # 1 lot holds 1 100.10 margin: ~108 %
    healthy = await oms.new_account(deposit="100000.00")
    for account, volume in ((tight, "1.00"), (healthy, "0.10")):
        placed = await oms.stub.PlaceOrder(order_request(account, side=BUY, volume=volume))
        assert placed.order.status == types_pb2.ORDER_STATUS_FILLED

    near = await oms.stub.ListMarginWatch(oms_pb2.ListMarginWatchRequest(within="50"))
    strict = await oms.stub.ListMarginWatch(oms_pb2.ListMarginWatchRequest(within="0"))

    listed = {a.account_id: a for a in near.accounts}
    assert str(tight) in listed
    assert str(healthy) not in listed
    entry = listed[str(tight)]
    assert D(entry.margin_level) <= D(entry.margin_call_level) + 50
    assert (entry.open_positions, entry.margin_call_level) == (1, "100")
    # 1 200 - 3.50 commission; marked at the bid 1.10000 (-10); 1 lot x 1.10010 at 1:100.
    assert (entry.balance, entry.equity, entry.margin) == ("1196.50", "1186.50", "1100.10")
    assert entry.margin_level == "107.85"  # 1 186.50 / 1 100.10
    levels = [D(a.margin_level) for a in near.accounts]
    assert levels == sorted(levels)
    assert str(tight) not in {a.account_id for a in strict.accounts}  # 108 % is above 100 %
