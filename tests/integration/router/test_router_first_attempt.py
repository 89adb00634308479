"""An order's first Execute (``ExecuteCommand.first_attempt``, what oms's in-process router sends):
a B-book fill without reading the order's state first. The claim still decides: a configuration
committed on another router since this one loaded its own applies to the order, an order filled
already gets its fill again (never a second one), a fenced order is abandoned."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import asyncpg
import grpc
from router_harness import ACCOUNT, Stub, change, create_rule, quote, reconcile, symbol

from bbook import Side
from fxmesh.v1 import router_pb2
from router import Book, ExecuteCommand
from router.domain import ExecutionStatus
from router.server import RouterApp


def first(sym: str, *, group: str = "standard", order_id: str | None = None) -> ExecuteCommand:
    return ExecuteCommand(
        order_id=order_id or str(uuid.uuid4()),
        account_id=ACCOUNT,
        symbol=sym,
        side=Side.BUY,
        volume=Decimal("1.00"),
        client_group=group,
        contract_size=Decimal(100000),
        quote_to_usd_rate=Decimal(1),
        first_attempt=True,
    )


async def rows(db: asyncpg.Connection, order_id: str) -> tuple[int, int, str | None]:
    """Claims and B-book fills of the order, and its recorded routing reason."""
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM router.order_claims WHERE order_id = $1) AS claims, "
        "(SELECT count(*) FROM router.bbook_fills WHERE order_id = $1) AS fills, "
        "(SELECT reason FROM router.routing_decisions WHERE order_id = $1) AS reason",
        order_id,
    )
    assert row is not None
    return row["claims"], row["fills"], row["reason"]


async def test_first_attempt_when_a_rule_was_added_on_another_router_then_the_order_follows_it(
    start: Callable[[], Awaitable[RouterApp]], redis_client: object, db: asyncpg.Connection
) -> None:
    one, two = await start(), await start()
    sym, grp = symbol(), f"first-{uuid.uuid4().hex[:8]}"
    await quote(redis_client, sym, "1.08440", "1.08460")
    # The second router hears no NOTIFY: only its claim can find out that it routes with an
    # old configuration.
    await two.service.stop()
    before = await two.service.execute(first(sym, group=grp))
    assert (before.status, before.routing_reason) == (ExecutionStatus.FILLED, "DEFAULT_B_BOOK")
    loaded = two.service.config_version

    async with grpc.aio.insecure_channel(f"127.0.0.1:{one.server.port}") as channel:
        changed = await Stub(channel).ChangeRoutingConfig(
            change(create_rule(grp, sym, "FIRST_ATTEMPT_RULE")), timeout=10
        )
        assert two.service.config_version == loaded  # not reloaded yet
        order = first(sym, group=grp)
        after = await two.service.execute(order)
        try:
            assert after.status is ExecutionStatus.FILLED
            assert after.routing_reason == "FIRST_ATTEMPT_RULE"
            assert two.service.config_version == changed.version
            assert await rows(db, order.order_id) == (1, 1, "FIRST_ATTEMPT_RULE")
        finally:
            await Stub(channel).ChangeRoutingConfig(
                change(router_pb2.RoutingConfigEdit(delete_rule=changed.created_rule_ids[0])),
                timeout=10,
            )


async def test_first_attempt_when_the_order_was_filled_already_then_its_fill_again_and_no_second(
    router: RouterApp, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order = first(sym)
    filled = await router.service.execute(order)
    await quote(redis_client, sym, "1.20000", "1.20020")
    again = await router.service.execute(order)

    assert filled.status is again.status is ExecutionStatus.FILLED
    assert again.fills == filled.fills
    assert filled.fills[0].price == Decimal("1.10020")
    assert await rows(db, order.order_id) == (1, 1, "DEFAULT_B_BOOK")
    [exposure] = [e for e in await router.service.engine.exposures() if e.symbol == sym]
    assert exposure.net_lots == Decimal("-1.00")  # the house sold once


async def test_first_attempt_when_the_order_was_fenced_then_abandoned_and_nothing_filled(
    router: RouterApp, redis_client: object, db: asyncpg.Connection
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.10000", "1.10020")
    order = first(sym)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{router.server.port}") as channel:
        fenced = await Stub(channel).ReconcileExecution(reconcile(order.order_id), timeout=10)
    assert fenced.status == router_pb2.EXECUTION_STATUS_REJECTED

    result = await router.service.execute(order)

    assert result.status is ExecutionStatus.REJECTED
    assert result.reject_reason == "ORDER_ABANDONED"
    assert result.book is Book.B
    claims, fills, _ = await rows(db, order.order_id)
    assert (claims, fills) == (1, 0)
