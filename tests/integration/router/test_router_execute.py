"""RouterService over real gRPC, PostgreSQL and Redis: routing, B-book fills, idempotency, restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import asyncpg
import grpc
import pytest
from prometheus_client import REGISTRY
from router_harness import D, Stub, eventually, exposure, quote, request, symbol

from bbook import HedgeRequest
from fxmesh.errors import from_rpc_error
from fxmesh.quotecache import ClientQuote, write_quote
from fxmesh.v1 import router_pb2, types_pb2
from router.server import RouterApp


async def test_execute_when_client_buys_then_bbook_fills_at_the_ask(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")

    response = await stub.Execute(request(sym, types_pb2.SIDE_BUY, "1.50"), timeout=10)

    assert response.status == router_pb2.EXECUTION_STATUS_FILLED
    assert response.book == types_pb2.BOOK_B
    assert response.routing_reason == "DEFAULT_B_BOOK"
    [fill] = response.fills
    assert (fill.price, fill.volume, fill.venue) == ("1.08460", "1.50", "BBOOK")
    row = await db.fetchrow("SELECT * FROM router.bbook_fills WHERE fill_id = $1", fill.fill_id)
    assert row is not None
    assert row["client_side"] == "BUY"
    assert row["price"] == D("1.08460")
    decision = await db.fetchrow(
        "SELECT book, reason, status FROM router.routing_decisions WHERE order_id = $1",
        row["order_id"],
    )
    assert decision is not None
    assert tuple(decision) == ("B", "DEFAULT_B_BOOK", "FILLED")
    house = await exposure(stub, sym)
    assert house is not None
    assert house.net_volume == "-1.50"
    # short 1.5 lots marked at the ask: 1.5 x 100000 x 1.08460
    assert house.notional_usd == "162690.00"


async def test_execute_when_client_sells_then_bbook_fills_at_the_bid(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "2649.90", "2650.10")

    response = await stub.Execute(
        request(sym, types_pb2.SIDE_SELL, "0.20", contract_size="100"), timeout=10
    )

    assert response.status == router_pb2.EXECUTION_STATUS_FILLED
    assert response.fills[0].price == "2649.90"
    house = await exposure(stub, sym)
    assert house is not None
    assert house.net_volume == "0.20"


async def test_execute_when_quote_is_stale_then_rejects_quote_stale_without_fill(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460", age_ms=30_000)
    order_id = str(uuid.uuid4())

    response = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)

    assert response.status == router_pb2.EXECUTION_STATUS_REJECTED
    assert response.reject_reason == "QUOTE_STALE"
    assert not response.fills
    assert (
        await db.fetchval("SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", order_id)
        == 0
    )
    assert (
        await db.fetchval(
            "SELECT reject_reason FROM router.routing_decisions WHERE order_id = $1", order_id
        )
        == "QUOTE_STALE"
    )


async def test_execute_when_no_quote_then_rejects_no_quote(
    stub: Stub, redis_client: object
) -> None:
    response = await stub.Execute(request(symbol(), types_pb2.SIDE_BUY), timeout=10)

    assert response.status == router_pb2.EXECUTION_STATUS_REJECTED
    assert response.reject_reason == "NO_QUOTE"


async def test_execute_when_price_moved_beyond_deviation_then_requotes(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")

    response = await stub.Execute(
        request(sym, types_pb2.SIDE_BUY, requested_price="1.08400", deviation="0.00050"),
        timeout=10,
    )

    assert response.status == router_pb2.EXECUTION_STATUS_REJECTED
    assert response.reject_reason == "PRICE_DEVIATION_EXCEEDED"
    assert "1.08460" in response.reject_message
    assert await exposure(stub, sym) is None


async def test_execute_when_retried_for_same_order_then_returns_same_fill_once(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order_id = str(uuid.uuid4())
    first = await stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)
    await quote(redis_client, sym, "1.20000", "1.20020")  # the market moved meanwhile

    again = await asyncio.gather(
        *(
            stub.Execute(request(sym, types_pb2.SIDE_BUY, order_id=order_id), timeout=10)
            for _ in range(3)
        )
    )

    for response in again:
        assert response.status == router_pb2.EXECUTION_STATUS_FILLED
        assert response.fills[0].fill_id == first.fills[0].fill_id
        assert response.fills[0].price == "1.10020"
    assert (
        await db.fetchval("SELECT count(*) FROM router.bbook_fills WHERE order_id = $1", order_id)
        == 1
    )
    house = await exposure(stub, sym)
    assert house is not None
    assert house.net_volume == "-1.00"


async def test_execute_when_c_book_rule_hedges_nothing_then_house_takes_all_and_split_recorded(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    group = f"vip-{uuid.uuid4().hex[:8]}"
    await quote(redis_client, sym, "1.08440", "1.08460")
    # Hedge ratio 0 (the column's default): the A leg rounds to nothing.
    rule_id = await db.fetchval(
        "INSERT INTO router.routing_rules (priority, client_group, book, reason) "
        "VALUES (10, $1, 'C', 'GROUP_VIP_C_BOOK') RETURNING rule_id",
        group,
    )
    try:
        # The change reaches the running router through NOTIFY, without a restart.
        await eventually(lambda: any(r.rule_id == rule_id for r in router.service.rules))
        order_id = str(uuid.uuid4())

        response = await stub.Execute(
            request(sym, types_pb2.SIDE_BUY, order_id=order_id, group=group), timeout=10
        )
        other = await stub.Execute(request(sym, types_pb2.SIDE_BUY, group="standard"), timeout=10)
    finally:
        await db.execute("DELETE FROM router.routing_rules WHERE rule_id = $1", rule_id)

    assert response.status == router_pb2.EXECUTION_STATUS_FILLED
    assert response.book == types_pb2.BOOK_B
    assert response.routing_reason == "GROUP_VIP_C_BOOK"
    assert [f.venue for f in response.fills] == ["BBOOK"]
    decision = await db.fetchrow(
        "SELECT book, reason, rule_id, status, level, a_volume, b_volume FROM "
        "router.routing_decisions WHERE order_id = $1",
        order_id,
    )
    assert decision is not None
    assert tuple(decision) == (
        "B",
        "GROUP_VIP_C_BOOK",
        rule_id,
        "FILLED",
        "RULE",
        D("0"),
        D("1.00"),
    )
    assert other.status == router_pb2.EXECUTION_STATUS_FILLED
    assert other.routing_reason == "DEFAULT_B_BOOK"


async def test_execute_when_forced_b_account_takes_house_beyond_limit_then_hedge_request(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    account = f"9{uuid.uuid4().int % 10**8}"
    await quote(redis_client, sym, "1.08440", "1.08460")
    # An account forced to the B-book is not steered by the exposure limit: the house goes beyond
    # it and the engine raises a hedge request.
    await db.execute(
        "INSERT INTO router.account_overrides (account_id, book, reason) "
        "VALUES ($1, 'B', 'FORCED_B_BOOK')",
        account,
    )
    await db.execute(
        "INSERT INTO router.exposure_limits (symbol, max_net_lots) VALUES ($1, 1.5)", sym
    )
    await eventually(
        lambda: sym in router.service.engine.limits and account in router.service.config.overrides
    )
    requests: list[HedgeRequest] = []
    router.service.engine.on_hedge_request(requests.append)
    before = REGISTRY.get_sample_value("fxmesh_bbook_hedge_requests_total", {"symbol": sym}) or 0

    try:
        await stub.Execute(request(sym, types_pb2.SIDE_BUY, "1.00", account_id=account), timeout=10)
        assert requests == []
        await stub.Execute(request(sym, types_pb2.SIDE_BUY, "1.00", account_id=account), timeout=10)
    finally:
        await db.execute("DELETE FROM router.account_overrides WHERE account_id = $1", account)
        # No limit left behind: the leader would keep hedging this symbol in later tests.
        await db.execute("DELETE FROM router.exposure_limits WHERE symbol = $1", sym)

    [hedge] = requests
    assert (hedge.symbol, hedge.house_net_lots, hedge.excess_lots) == (sym, D("-2.00"), D("-0.50"))
    after = REGISTRY.get_sample_value("fxmesh_bbook_hedge_requests_total", {"symbol": sym})
    assert after == before + 1


async def test_restart_when_new_router_starts_on_same_db_then_rebuilds_house_exposure(
    start: Callable[[], Awaitable[RouterApp]], redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "150.000", "150.020")
    first = await start()
    order_id = str(uuid.uuid4())
    async with grpc.aio.insecure_channel(f"127.0.0.1:{first.server.port}") as channel:
        stub = Stub(channel)
        filled = await stub.Execute(
            request(sym, types_pb2.SIDE_BUY, "2.00", order_id=order_id, usd_rate="0.0066"),
            timeout=10,
        )
        await stub.Execute(request(sym, types_pb2.SIDE_SELL, "0.50", usd_rate="0.0066"), timeout=10)
        before = await exposure(stub, sym)
    realized = first.service.engine.book.position(sym).realized_pnl_usd
    await first.stop()

    second = await start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{second.server.port}") as channel:
        stub = Stub(channel)
        after = await exposure(stub, sym)
        retried = await stub.Execute(
            request(sym, types_pb2.SIDE_BUY, "2.00", order_id=order_id, usd_rate="0.0066"),
            timeout=10,
        )

    assert before is not None
    assert after == before
    assert after.net_volume == "-1.50"
    assert second.service.engine.book.position(sym).realized_pnl_usd == realized
    assert retried.fills[0].fill_id == filled.fills[0].fill_id


async def test_execute_when_volume_missing_then_invalid_argument(stub: Stub) -> None:
    bad = request(symbol(), types_pb2.SIDE_BUY, volume="")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(bad, timeout=10)

    error = from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "MISSING_FIELD"


async def test_execute_when_order_is_larger_than_the_best_level_then_fills_at_the_depth_vwap(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    lot = D(100_000)
    deep = ClientQuote(
        sym,
        D("1.08440"),
        D("1.08460"),
        int(time.time() * 1000),
        bids=((D("1.08440"), lot), (D("1.08435"), 5 * lot), (D("1.08425"), 20 * lot)),
        asks=((D("1.08460"), lot), (D("1.08465"), 5 * lot), (D("1.08480"), 20 * lot)),
    )
    await write_quote(redis_client, deep)

    small = await stub.Execute(request(sym, types_pb2.SIDE_BUY, "1.00"), timeout=10)
    large = await stub.Execute(request(sym, types_pb2.SIDE_BUY, "20.00"), timeout=10)

    assert small.fills[0].price == "1.08460"  # the best level covers it
    # 1 x 1.08460 + 5 x 1.08465 + 14 x 1.08480 over 20 lots = 1.0847525, rounded up for a buy
    assert large.status == router_pb2.EXECUTION_STATUS_FILLED
    [fill] = large.fills
    assert (fill.price, fill.volume) == ("1.08476", "20.00")
    stored = await db.fetchval(
        "SELECT price FROM router.bbook_fills WHERE fill_id = $1", fill.fill_id
    )
    assert stored == D("1.08476")
