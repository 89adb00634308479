"""Helpers for router integration tests: requests, quotes, private symbols, waiting."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal

import asyncpg

from bbook import HouseBook, store
from fxmesh.quotecache import ClientQuote, write_quote
from fxmesh.v1 import router_pb2, router_pb2_grpc, types_pb2
from router.config import RouterSettings
from router.server import RouterApp

D = Decimal
Stub = router_pb2_grpc.RouterServiceStub
ACCOUNT = "1001"


# Where no fixgw listens (port 9 is discard, closed on loopback): A-book orders find fixgw away
# unless a test starts one and names its address.
NO_FIXGW = "127.0.0.1:9"


def settings(
    pg_dsn: str, redis_url: str, fixgw_addr: str = NO_FIXGW, **extra: object
) -> RouterSettings:
    """A router on port 0. Leader election is off unless ``extra`` turns it on: these tests race
    several serving instances on purpose (the claims keep each order decided once)."""
    extra.setdefault("router_leader_election", False)
    return RouterSettings(
        postgres_dsn=pg_dsn,
        redis_url=redis_url,
        router_addr="127.0.0.1:0",
        fixgw_addr=fixgw_addr,
        metrics_port=0,
        router_config_reload_seconds=600,
        **extra,  # type: ignore[arg-type]
    )


def symbol() -> str:
    """A symbol private to one test, so house exposure is not shared between tests."""
    return "T" + uuid.uuid4().hex[:7].upper()


async def quote(redis_client: object, sym: str, bid: str, ask: str, age_ms: int = 0) -> None:
    now_ms = int(time.time() * 1000)
    await write_quote(redis_client, ClientQuote(sym, D(bid), D(ask), now_ms - age_ms))


def request(
    sym: str,
    side: types_pb2.Side.ValueType,
    volume: str = "1.00",
    *,
    order_id: str | None = None,
    account_id: str = ACCOUNT,
    group: str = "standard",
    requested_price: str = "",
    deviation: str = "",
    limit_price: str = "",
    contract_size: str = "100000",
    usd_rate: str = "1",
) -> router_pb2.ExecuteRequest:
    return router_pb2.ExecuteRequest(
        order=types_pb2.Order(
            order_id=order_id or str(uuid.uuid4()),
            account_id=account_id,
            symbol=sym,
            side=side,
            type=types_pb2.ORDER_TYPE_LIMIT if limit_price else types_pb2.ORDER_TYPE_MARKET,
            volume=volume,
            price=limit_price,
            requested_price=requested_price,
        ),
        client_group=group,
        max_price_deviation=deviation,
        limit_price=limit_price,
        contract_size=contract_size,
        quote_to_usd_rate=usd_rate,
    )


def change(
    *edits: router_pb2.RoutingConfigEdit, expected: int | None = None
) -> router_pb2.ChangeRoutingConfigRequest:
    req = router_pb2.ChangeRoutingConfigRequest(edits=list(edits), actor="tester", note="test")
    if expected is not None:
        req.expected_version = expected
    return req


def create_rule(grp: str, sym: str, reason: str) -> router_pb2.RoutingConfigEdit:
    return router_pb2.RoutingConfigEdit(
        create_rule=router_pb2.RoutingRuleConfig(
            priority=10,
            client_group=grp,
            symbol=sym,
            book=types_pb2.BOOK_B,
            reason=reason,
            enabled=True,
        )
    )


def reconcile(order_id: str, account_id: str = ACCOUNT) -> router_pb2.ReconcileExecutionRequest:
    return router_pb2.ReconcileExecutionRequest(order_id=order_id, account_id=account_id)


async def exposure(stub: Stub, sym: str) -> router_pb2.SymbolExposure | None:
    response = await stub.GetHouseExposure(router_pb2.GetHouseExposureRequest(), timeout=10)
    return next((e for e in response.exposures if e.symbol == sym), None)


async def eventually(check: Callable[[], bool]) -> None:
    """Wait (generously) for something asynchronous, e.g. a NOTIFY-driven reload."""
    for _ in range(600):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached within 30 s")


def assert_live_book_is_the_replayed_one(
    router: RouterApp, sym: str, rows: Sequence[asyncpg.Record]
) -> None:
    """The live house position of ``sym`` equals the one a restart replays from ``rows`` (its
    fill rows by ``seq``): average price and realized P&L depend on the order fills apply in."""
    replayed = HouseBook()
    for row in rows:
        fill = store.from_row(row)
        assert fill is not None
        replayed.apply(fill)
    live = router.service.engine.book.position(sym)
    expected = replayed.position(sym)
    assert (live.net_lots, live.avg_price, live.realized_pnl_usd) == (
        expected.net_lots,
        expected.avg_price,
        expected.realized_pnl_usd,
    )
