"""B-book limit prices, per-symbol execution settings and the house P&L in GetHouseExposure.

Real gRPC, PostgreSQL (settings reach the running router through NOTIFY) and Redis quotes.
"""

from __future__ import annotations

import uuid

import asyncpg
import grpc
import pytest
from router_harness import Stub, eventually, exposure, quote, request, symbol

from fxmesh.errors import from_rpc_error
from fxmesh.v1 import router_pb2, types_pb2
from router.server import RouterApp

FILLED = router_pb2.EXECUTION_STATUS_FILLED
REJECTED = router_pb2.EXECUTION_STATUS_REJECTED


async def test_execute_when_ask_is_below_buy_limit_then_fills_at_the_better_ask(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")

    response = await stub.Execute(
        request(sym, types_pb2.SIDE_BUY, limit_price="1.08500"), timeout=10
    )

    assert response.status == FILLED
    assert response.fills[0].price == "1.08460"


async def test_execute_when_ask_is_above_buy_limit_then_limit_not_reached_until_ask_drops(
    stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")
    order_id = str(uuid.uuid4())

    early = await stub.Execute(
        request(sym, types_pb2.SIDE_BUY, order_id=order_id, limit_price="1.08400"), timeout=10
    )
    recorded = await db.fetchval(
        "SELECT reject_reason FROM router.routing_decisions WHERE order_id = $1", order_id
    )
    await quote(redis_client, sym, "1.08370", "1.08390")
    triggered = await stub.Execute(
        request(sym, types_pb2.SIDE_BUY, order_id=order_id, limit_price="1.08400"), timeout=10
    )

    assert early.status == REJECTED
    assert early.reject_reason == "LIMIT_NOT_REACHED"
    assert "1.08460" in early.reject_message
    assert "1.08400" in early.reject_message
    assert not early.fills
    assert recorded == "LIMIT_NOT_REACHED"
    assert triggered.status == FILLED
    assert triggered.fills[0].price == "1.08390"


async def test_execute_when_sell_limit_is_above_bid_then_rejects_and_at_the_limit_fills(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")

    above = await stub.Execute(request(sym, types_pb2.SIDE_SELL, limit_price="1.08450"), timeout=10)
    at = await stub.Execute(request(sym, types_pb2.SIDE_SELL, limit_price="1.08440"), timeout=10)

    assert above.reject_reason == "LIMIT_NOT_REACHED"
    assert "1.08440" in above.reject_message
    assert at.status == FILLED
    assert at.fills[0].price == "1.08440"


async def test_execute_when_limit_and_deviation_both_given_then_deviation_still_applies(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")

    response = await stub.Execute(
        request(
            sym,
            types_pb2.SIDE_BUY,
            limit_price="1.09000",
            requested_price="1.08000",
            deviation="0.00100",
        ),
        timeout=10,
    )

    assert response.reject_reason == "PRICE_DEVIATION_EXCEEDED"


async def test_execute_when_limit_price_is_not_a_decimal_then_invalid_argument(
    stub: Stub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(request(symbol(), types_pb2.SIDE_BUY, limit_price="1,08"), timeout=10)

    error = from_rpc_error(caught.value)
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert error.metadata.get("field") == "limit_price"


async def test_execute_when_bbook_disabled_for_symbol_then_book_unavailable_until_enabled(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")
    engine = router.service.engine
    await db.execute(
        "INSERT INTO router.bbook_symbol_settings (symbol, enabled) VALUES ($1, false)", sym
    )
    await eventually(lambda: not engine.settings_for(sym).enabled)

    disabled = await stub.Execute(request(sym, types_pb2.SIDE_BUY), timeout=10)
    await db.execute(
        "UPDATE router.bbook_symbol_settings SET enabled = true WHERE symbol = $1", sym
    )
    await eventually(lambda: engine.settings_for(sym).enabled)
    enabled = await stub.Execute(request(sym, types_pb2.SIDE_BUY), timeout=10)

    assert disabled.status == REJECTED
    assert disabled.book == types_pb2.BOOK_B
    assert disabled.reject_reason == "BOOK_UNAVAILABLE"
    assert sym in disabled.reject_message
    assert enabled.status == FILLED


async def test_execute_when_symbol_sets_its_own_quote_age_then_it_replaces_the_default(
    router: RouterApp, stub: Stub, redis_client: object, db: asyncpg.Connection
) -> None:
    lenient, strict, default = symbol(), symbol(), symbol()
    for sym in (lenient, strict, default):
        await quote(
            redis_client, sym, "1.08440", "1.08460", age_ms=2_000 if sym == strict else 30_000
        )
    await db.execute(
        "INSERT INTO router.bbook_symbol_settings (symbol, max_quote_age_ms) "
        "VALUES ($1, 60000), ($2, 1000)",
        lenient,
        strict,
    )
    engine = router.service.engine
    await eventually(lambda: engine.settings_for(strict).max_quote_age_ms == 1000)

    responses = [
        await stub.Execute(request(sym, types_pb2.SIDE_BUY), timeout=10)
        for sym in (lenient, strict, default)
    ]

    # 30 s old fills under a 60 s limit; 2 s old is stale under 1 s; no row keeps the 5 s default.
    assert [r.reject_reason for r in responses] == ["", "QUOTE_STALE", "QUOTE_STALE"]
    assert responses[0].status == FILLED


async def test_house_exposure_when_clients_trade_then_reports_average_price_and_pnl(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    await stub.Execute(request(sym, types_pb2.SIDE_BUY, "2.00"), timeout=10)
    await quote(redis_client, sym, "1.09900", "1.09920")
    await stub.Execute(request(sym, types_pb2.SIDE_SELL, "0.50"), timeout=10)

    marked = await exposure(stub, sym)
    await redis_client.delete(f"quote:{sym}")  # type: ignore[attr-defined]
    unquoted = await exposure(stub, sym)

    assert marked is not None
    # The house sold 2 lots at 1.10020 and bought 0.5 back at 1.09900: +0.00120 x 50000 realized.
    assert marked.net_volume == "-1.50"
    assert marked.avg_price == "1.10020"
    assert marked.realized_pnl_usd == "60.00"
    # The remaining short closes at the ask 1.09920: +0.00100 x 150000.
    assert marked.unrealized_pnl_usd == "150.00"
    assert marked.notional_usd == "164880.00"
    assert unquoted is not None
    assert unquoted.unrealized_pnl_usd == ""
    assert unquoted.realized_pnl_usd == "60.00"


async def test_house_exposure_when_clients_flatten_the_house_then_no_average_price_and_pnl_kept(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    await stub.Execute(request(sym, types_pb2.SIDE_SELL, "1.00"), timeout=10)
    await quote(redis_client, sym, "1.10100", "1.10120")
    await stub.Execute(request(sym, types_pb2.SIDE_BUY, "1.00"), timeout=10)

    flat = await exposure(stub, sym)

    assert flat is not None
    assert flat.net_volume == "0"
    assert flat.avg_price == ""
    # The house bought 1 lot at 1.10000 and sold it at 1.10120.
    assert flat.realized_pnl_usd == "120.00"
    assert flat.unrealized_pnl_usd == "0.00"
