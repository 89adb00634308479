"""B-book fills at the client group's own price (quotes writes one per group with its own markup).

Real gRPC, PostgreSQL and Redis; the quotes are written as quotes writes them
(``fxmesh.quotecache``), a fresh symbol per test.
"""

from __future__ import annotations

import time

from router_harness import D, Stub, quote, request, symbol

from fxmesh.quotecache import ClientQuote, write_quote
from fxmesh.v1 import router_pb2, types_pb2


async def group_quote(redis_client: object, sym: str, group: str, bid: str, ask: str) -> None:
    now_ms = int(time.time() * 1000)
    await write_quote(redis_client, ClientQuote(sym, D(bid), D(ask), now_ms, group=group))  # type: ignore[arg-type]


async def test_execute_when_group_has_own_price_then_its_client_fills_at_it_and_others_at_default(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")
    await group_quote(redis_client, sym, "vip", "1.08447", "1.08453")

    vip_buy = await stub.Execute(request(sym, types_pb2.SIDE_BUY, group="vip"), timeout=10)
    vip_sell = await stub.Execute(request(sym, types_pb2.SIDE_SELL, group="vip"), timeout=10)
    standard_buy = await stub.Execute(
        request(sym, types_pb2.SIDE_BUY, group="standard"), timeout=10
    )

    assert vip_buy.status == router_pb2.EXECUTION_STATUS_FILLED
    assert vip_buy.fills[0].price == "1.08453"
    assert vip_sell.fills[0].price == "1.08447"
    assert standard_buy.fills[0].price == "1.08460"


async def test_execute_when_group_price_stale_then_rejected_not_filled_at_the_default(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")
    now_ms = int(time.time() * 1000)
    await write_quote(
        redis_client,  # type: ignore[arg-type]
        ClientQuote(sym, D("1.08447"), D("1.08453"), now_ms - 30_000, group="vip"),
    )

    response = await stub.Execute(request(sym, types_pb2.SIDE_BUY, group="vip"), timeout=10)

    assert response.status == router_pb2.EXECUTION_STATUS_REJECTED
    assert response.reject_reason == "QUOTE_STALE"
