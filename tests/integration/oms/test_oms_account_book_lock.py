"""An order's acceptance takes its account's lock and reads the account's book in one round trip
(``oms.store.positions.lock_account_book``, migration oms/0016). The read must see what the
lock's previous holder committed while the order waited for it: a margin check against the book
as it was before the wait would accept an order the account cannot carry."""

from __future__ import annotations

import asyncio
from typing import Any

from oms_helpers import BUY, order_request

from fxmesh.v1 import types_pb2
from oms.store import orders as order_store


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
        for _ in range(200):
            waiting = await holder.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting or placing.done():
                break
            await asyncio.sleep(0.05)
        assert waiting == 1, "the order never waited for the account's lock"
        await transaction.commit()
        refused = await placing
    finally:
        await holder.close()

    # 1.00 lot needs ~1 085 USD; free margin after the holder's position is ~674.
    assert refused.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert refused.order.reject_reason == "NOT_ENOUGH_MONEY"


async def test_lock_account_book_when_read_then_in_flight_statuses_are_oms_own(oms: Any) -> None:
    """The function's in-flight filter is a copy of ``IN_FLIGHT_SQL`` (literals, for the partial
    index): the two must not drift apart."""
    db = await oms.db()
    try:
        source: str = await db.fetchval(
            "SELECT prosrc FROM pg_proc WHERE proname = 'lock_account_book'"
        )
    finally:
        await db.close()
    assert source.count(order_store.IN_FLIGHT_SQL) == 2
