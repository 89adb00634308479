"""The reads of orders in flight go through the partial index ``orders_in_flight_idx`` whatever
plan PostgreSQL caches for them.

asyncpg prepares every statement, and after a few executions PostgreSQL may keep a generic plan,
made without the parameters' values. A status list passed as a parameter cannot match the
partial index's predicate in such a plan, so the read walks the account's whole order history (or
every order, for recovery's sweep) on every order placed. The session here forces the generic
plan and makes sequential scans a last resort, so only a statement that can use the partial index
does.
"""

from __future__ import annotations

from collections.abc import Awaitable
from decimal import Decimal

import asyncpg
import pytest

from oms.domain.model import AccountId, OrderId, PositionId
from oms.store import orders as order_store
from oms.store import positions as position_store

_INDEX = "orders_in_flight_idx"


async def _index_scans(conn: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    scans: int = await conn.fetchval(
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = $1", _INDEX
    )
    return scans


@pytest.fixture
async def book(empty_oms_dsn: str) -> tuple[str, int, int, int]:
    """One account with 200 finished orders and one in flight that closes a position: the dsn,
    the account, the order in flight and its position."""
    conn = await asyncpg.connect(empty_oms_dsn)
    try:
        await conn.execute(
            "INSERT INTO oms.symbols (symbol, description, asset_class, base_currency, "
            "quote_currency, digits, contract_size, volume_min, volume_max, volume_step, "
            "commission_currency) VALUES ('EURUSD', 'Euro', 'FX', 'EUR', 'USD', 5, 100000, "
            "0.01, 50, 0.01, 'USD')"
        )
        account_id: int = await conn.fetchval(
            "INSERT INTO oms.accounts (login, password_hash, type, currency, leverage) "
            "VALUES ('inflight', 'x', 'DEMO', 'USD', 100) RETURNING account_id"
        )
        await conn.execute(
            "INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, "
            "time_in_force, volume, filled_volume, avg_fill_price, status) "
            "SELECT $1, 'done-' || g, 'EURUSD', 'BUY', 'MARKET', 'IOC', 0.01, 0.01, 1.1, "
            "'FILLED' FROM generate_series(1, 200) g",
            account_id,
        )
        position_id: int = await conn.fetchval(
            "INSERT INTO oms.positions (account_id, symbol, side, volume, open_price, "
            "open_order_id) SELECT $1, 'EURUSD', 'BUY', 0.01, 1.1, min(order_id) "
            "FROM oms.orders RETURNING position_id",
            account_id,
        )
        order_id: int = await conn.fetchval(
            "INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, "
            "time_in_force, volume, status, position_id) VALUES ($1, 'closing', 'EURUSD', "
            "'SELL', 'MARKET', 'IOC', 0.01, 'FILLING', $2) RETURNING order_id",
            account_id,
            position_id,
        )
        await conn.execute(
            "INSERT INTO oms.order_events (order_id, seq, from_status, to_status, reason) "
            "VALUES ($1, 1, 'PENDING', 'ACCEPTED', 'ACCEPT'), "
            "($1, 2, 'ACCEPTED', 'FILLING', 'SUBMIT')",
            order_id,
        )
        await conn.execute("ANALYZE oms.orders")
    finally:
        await conn.close()
    return empty_oms_dsn, account_id, order_id, position_id


async def test_in_flight_reads_when_plan_is_generic_then_use_the_partial_index_and_find_the_order(
    book: tuple[str, int, int, int],
) -> None:
    dsn, account_id, order_id, position_id = book
    generic = await asyncpg.connect(
        dsn, server_settings={"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}
    )
    stats = await asyncpg.connect(dsn)
    try:

        async def scans_of(read: Awaitable[object]) -> int:
            before = await _index_scans(stats)
            await read
            # This backend's counters reach the shared statistics when its next statement ends.
            await generic.execute("SELECT pg_stat_force_next_flush()")
            await generic.execute("SELECT 1")
            return await _index_scans(stats) - before

        account, order = AccountId(account_id), OrderId(order_id)
        positions, in_flight = await position_store.open_book(generic, account)
        assert [o.order_id for o in in_flight] == [order]
        assert [p.position_id for p in positions] == [PositionId(position_id)]
        assert in_flight[0].events_seq == 2
        assert await scans_of(position_store.open_book(generic, account)) >= 1

        # The lock functions' reads, the book's and the settled order's (each call its own
        # transaction: the counters reach the statistics when it ends).
        locked = await position_store.lock_account_book(generic, account)
        assert locked is not None
        assert [o.order_id for o in locked[2]] == [order]
        assert await scans_of(position_store.lock_account_book(generic, account)) >= 1
        settling = await position_store.lock_account_order(generic, account, order, "B", "none")
        assert settling is not None
        assert settling.order is not None
        assert settling.order.events_seq == 2
        assert not settling.fill_applied
        assert [o.order_id for o in settling.in_flight] == [order]
        read = position_store.lock_account_order(generic, account, order, "B", "none")
        assert await scans_of(read) >= 1

        assert [o.order_id for o in await order_store.in_flight(generic, account)] == [order]
        assert await scans_of(order_store.in_flight(generic, account)) >= 1

        assert [o.order_id for o in await order_store.stuck(generic, None)] == [order]
        assert await scans_of(order_store.stuck(generic, None)) >= 1

        volume = await order_store.closing_volume(generic, PositionId(position_id))
        assert volume == Decimal("0.01")
        assert await scans_of(order_store.closing_volume(generic, PositionId(position_id))) >= 1
    finally:
        await generic.close()
        await stats.close()
