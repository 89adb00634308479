"""House fills written in their caller's transaction (``RouterService.prepare_house_fill``, oms's
one-transaction B-book order): transactions of one symbol commit in either order, yet the house
book takes their fills in ``seq`` order, the order a restart replays, and a rolled-back fill
neither books nor holds up the fills after it.

Real PostgreSQL and Redis; each caller transaction on its own connection, as oms's committers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
from prometheus_client import REGISTRY
from router_harness import (
    assert_live_book_is_the_replayed_one,
    quote,
    request,
    symbol,
)

from bbook import store
from fxmesh.v1 import types_pb2
from router import PreparedHouseFill
from router.convert import execute_command
from router.server import RouterApp

BUY, SELL = types_pb2.SIDE_BUY, types_pb2.SIDE_SELL


@pytest.fixture
async def connections(pg_dsn: str) -> AsyncIterator[list[asyncpg.Connection]]:
    conns = [await asyncpg.connect(pg_dsn) for _ in range(3)]
    yield conns
    for conn in conns:
        await conn.close()


def unbooked_seconds() -> float:
    """The gauge an SRE's alert reads (the latest router started in this process)."""
    value = REGISTRY.get_sample_value("fxmesh_router_house_oldest_unbooked_seconds")
    assert value is not None
    return value


async def prepared(
    router: RouterApp, redis_client: object, sym: str, side: int, volume: str, bid: str, ask: str
) -> PreparedHouseFill:
    await quote(redis_client, sym, bid, ask)
    cmd = execute_command(request(sym, side, volume), None)  # type: ignore[arg-type]
    fill = await router.service.prepare_house_fill(cmd)
    assert fill is not None
    return fill


async def test_fills_committed_out_of_seq_order_in_callers_transactions_then_booked_in_seq_order(
    router: RouterApp,
    redis_client: object,
    db: asyncpg.Connection,
    connections: list[asyncpg.Connection],
) -> None:
    sym = symbol()
    service = router.service
    # Prices differ, so the house's average price and realized P&L depend on the order.
    first = await prepared(router, redis_client, sym, BUY, "1.00", "1.10000", "1.10020")
    second = await prepared(router, redis_client, sym, SELL, "0.40", "1.20000", "1.20020")
    third = await prepared(router, redis_client, sym, SELL, "0.30", "1.30000", "1.30020")
    assert first.reservation.seq < second.reservation.seq < third.reservation.seq
    transactions = [conn.transaction() for conn in connections]
    for conn, transaction, fill in zip(
        connections, transactions, [first, second, third], strict=True
    ):
        await transaction.start()
        assert await service.write_house_fill(conn, fill)

    await transactions[1].commit()
    service.house_fill_settled(second, True)
    # Committed, but a lower seq of the symbol is still under way: not booked yet, and an SRE
    # sees how long the oldest fill has waited.
    assert not service.engine.is_booked(second.reservation.fill.fill_id)
    assert service.house.pending(sym) == 3
    assert unbooked_seconds() > 0

    await transactions[2].rollback()
    service.house_fill_settled(third, False)
    await transactions[0].commit()
    service.house_fill_settled(first, True)

    engine = service.engine
    assert engine.is_booked(first.reservation.fill.fill_id)
    assert engine.is_booked(second.reservation.fill.fill_id)
    assert not engine.is_booked(third.reservation.fill.fill_id)
    assert service.house.pending(sym) == 0
    assert unbooked_seconds() == 0
    rows = await db.fetch(
        f"SELECT {store.columns()} FROM router.bbook_fills WHERE symbol = $1 ORDER BY seq", sym
    )
    assert [r["order_id"] for r in rows] == [first.cmd.order_id, second.cmd.order_id]
    # What a restart rebuilds is what the live book holds (booked the other way round, the
    # average price and the realized P&L would differ).
    assert_live_book_is_the_replayed_one(router, sym, rows)
    # The house, short 1.00 at 1.10020, bought 0.40 back at 1.20000.
    assert engine.book.position(sym).realized_pnl_usd == Decimal("-3992")


async def test_fill_rolled_back_first_then_the_later_fills_of_its_symbol_booked_at_their_commit(
    router: RouterApp, redis_client: object, connections: list[asyncpg.Connection]
) -> None:
    sym = symbol()
    service = router.service
    lost = await prepared(router, redis_client, sym, BUY, "1.00", "1.10000", "1.10020")
    kept = await prepared(router, redis_client, sym, BUY, "0.50", "1.10000", "1.10020")
    lost_tx, kept_tx = connections[0].transaction(), connections[1].transaction()
    await lost_tx.start()
    await kept_tx.start()
    assert await service.write_house_fill(connections[0], lost)
    assert await service.write_house_fill(connections[1], kept)

    await lost_tx.rollback()
    service.house_fill_settled(lost, False)
    assert not service.engine.is_booked(lost.reservation.fill.fill_id)
    await kept_tx.commit()
    service.house_fill_settled(kept, True)

    assert service.engine.is_booked(kept.reservation.fill.fill_id)
    assert service.engine.book.position(sym).net_lots == -kept.reservation.fill.volume
    # Settling again (a caller told twice) changes nothing.
    service.house_fill_settled(kept, True)
    assert service.engine.book.position(sym).fills == 1


async def test_prepare_when_the_rules_send_the_order_elsewhere_then_none_and_nothing_reserved(
    router: RouterApp, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    await db.execute(
        "INSERT INTO router.account_overrides (account_id, book, reason) VALUES ($1, 'A', 'T')",
        "acc-forced-a",
    )
    await router.service.reload_config()
    try:
        cmd = execute_command(request(sym, BUY, "1.00", account_id="acc-forced-a"), None)
        assert await router.service.prepare_house_fill(cmd) is None
    finally:
        await db.execute("DELETE FROM router.account_overrides WHERE account_id = 'acc-forced-a'")
        await router.service.reload_config()
    # A stale price is the house's to refuse: the caller executes as usual and hears why.
    await quote(redis_client, sym, "1.10000", "1.10020", age_ms=3_600_000)
    assert await router.service.prepare_house_fill(execute_command(request(sym, BUY), None)) is None
    assert router.service.house.pending(sym) == 0
