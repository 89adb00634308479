"""An order's acceptance takes its account's lock and reads the account's book in one round trip
(``oms.store.positions.lock_account_book``, migration oms/0016), and settling its execution takes
the lock and reads the order, whether its fill is booked and the book in one
(``lock_account_order``, 0017). Each read must see what the lock's previous holder committed while
the order waited for it: a margin check against the book as it was before the wait would accept
an order the account cannot carry, and a settlement that missed another settlement's commit would
book the fill twice. The figures a settlement reports are its book with its own changes laid over
(``Tx.book_now``), not a read: they must equal what the account shows afterwards."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

from oms_helpers import BUY, SELL, order_request

from fxmesh.v1 import oms_pb2, types_pb2
from oms.store import orders as order_store
from tests.pg_locks import wait_for_lock_waiters


async def test_order_when_it_waited_for_the_lock_then_its_margin_counts_what_the_holder_committed(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="10000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    first = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="0.10"))
    assert first.order.status == types_pb2.ORDER_STATUS_FILLED

    holder = await oms.db()
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT 1 FROM oms.accounts WHERE account_id = $1 FOR UPDATE", account_id
        )
        # While it holds the lock, a position of 8.50 lots (~9 218 USD of margin) opens.
        await holder.execute(
            "INSERT INTO oms.positions (account_id, symbol, side, volume, open_price, "
            "open_order_id) SELECT account_id, symbol, side, 8.50, open_price, open_order_id "
            "FROM oms.positions WHERE account_id = $1",
            account_id,
        )
        placing = asyncio.ensure_future(
            oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="1.00"))
        )
        await wait_for_lock_waiters(holder, 1, placing)
        await transaction.commit()
        refused = await placing
    finally:
        await holder.close()

    # 1.00 lot needs ~1 085 USD; free margin after the holder's position is ~674.
    assert refused.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert refused.order.reject_reason == "NOT_ENOUGH_MONEY"


async def test_order_settled_twice_when_second_waited_for_the_first_then_booked_once(
    oms: Any, put_quote: Any
) -> None:
    """PlaceOrder's settlement and recovery's settle the same fill; both wait for the account's
    lock, so the one that gets it second must read the first one's deal."""
    account_id = await oms.new_account(deposit="10000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.gate = asyncio.Event()
    placing = asyncio.ensure_future(
        oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="1.00"))
    )
    holder = await oms.db()
    try:
        for _ in range(200):
            if oms.router.requests and oms.router.requests[-1].order.account_id == str(account_id):
                break
            await asyncio.sleep(0.02)
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT 1 FROM oms.accounts WHERE account_id = $1 FOR UPDATE", account_id
        )
        oms.router.gate.set()
        await wait_for_lock_waiters(holder, 1, placing)
        # Recovery finds the order FILLING and asks the router, which answers the same fill.
        recovering = asyncio.ensure_future(oms.app.recovery.run_once(everything=True))
        await wait_for_lock_waiters(holder, 2, placing, recovering)
        await transaction.commit()
        placed = await placing
        await recovering
        deals = await holder.fetch(
            "SELECT fill_id, commission FROM oms.deals WHERE account_id = $1", account_id
        )
        positions = await holder.fetchval(
            "SELECT count(*) FROM oms.positions WHERE account_id = $1", account_id
        )
        balance = await holder.fetchval(
            "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
        )
    finally:
        await holder.close()

    assert placed.order.status == types_pb2.ORDER_STATUS_FILLED
    assert len(deals) == 1
    assert positions == 1
    assert balance == Decimal("10000.00") + deals[0]["commission"]


async def account_updates(oms: Any, account_id: int) -> list[dict[str, Any]]:
    db = await oms.db()
    try:
        rows = await db.fetch(
            "SELECT payload FROM oms.outbox WHERE account_id = $1 "
            "AND event_type = 'account_update' ORDER BY outbox_id",
            account_id,
        )
    finally:
        await db.close()
    return [json.loads(r["payload"])["data"] for r in rows]


async def summary_of(oms: Any, account_id: int) -> dict[str, Decimal]:
    summary = await oms.stub.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
    )
    return {
        "balance": Decimal(summary.balance),
        "equity": Decimal(summary.equity),
        "margin": Decimal(summary.margin),
        "freeMargin": Decimal(summary.free_margin),
    }


async def test_fill_when_account_holds_positions_then_reported_figures_count_the_new_one(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="10000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    for volume in ("0.30", "0.50"):
        placed = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume=volume))
        assert placed.order.status == types_pb2.ORDER_STATUS_FILLED

    reported = (await account_updates(oms, account_id))[-1]

    expected = await summary_of(oms, account_id)
    assert expected["margin"] == Decimal("867.60")  # 0.80 lot at 1.08450, 1:100
    assert {k: Decimal(reported[k]) for k in expected} == expected


async def test_netting_reversal_when_filled_then_reported_figures_drop_the_closed_position(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account(deposit="10000.00", margin_mode="NETTING")
    await put_quote("EURUSD", "1.08440", "1.08450")
    bought = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="1.00"))
    assert bought.order.status == types_pb2.ORDER_STATUS_FILLED
    reversed_ = await oms.stub.PlaceOrder(order_request(account_id, side=SELL, volume="1.50"))
    assert reversed_.order.status == types_pb2.ORDER_STATUS_FILLED

    reported = (await account_updates(oms, account_id))[-1]

    expected = await summary_of(oms, account_id)
    assert expected["margin"] == Decimal("542.20")  # 0.50 lot sold at 1.08440, 1:100
    assert {k: Decimal(reported[k]) for k in expected} == expected


async def test_book_functions_when_read_then_in_flight_statuses_are_oms_own(oms: Any) -> None:
    """The book's in-flight filter is a copy of ``IN_FLIGHT_SQL`` (literals, for the partial
    index), in one function both lock functions read through: they must not drift apart."""
    db = await oms.db()
    try:
        sources: dict[str, str] = {
            r["proname"]: r["prosrc"]
            for r in await db.fetch(
                "SELECT proname, prosrc FROM pg_proc WHERE proname IN "
                "('account_book', 'lock_account_book', 'lock_account_order')"
            )
        }
    finally:
        await db.close()
    assert sources["account_book"].count(order_store.IN_FLIGHT_SQL) == 2
    assert "oms.account_book(p_account_id)" in sources["lock_account_book"]
    assert "oms.account_book(p_account_id)" in sources["lock_account_order"]
