"""Smart routing end to end below oms: the rule engine, C-book splits, LP-health fallback, config
versions and Explain, with a real fixgw and two LP simulators over FIX 4.4 (the fixtures of
``test_router_abook``: LPA first in the symbol's list, LPB second)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal

import asyncpg
import grpc
import pytest
import test_router_abook as _abook
from router_harness import eventually
from test_router_abook import (
    BUY,
    FILLED,
    REJECTED,
    SELL,
    SYMBOL,
    Router,
    abook,
    claim_of,
    reconcile_until_known,
    until,
)

from fixgw.lpsim.knobs import Fault
from fixgw.lpsim.simulator import LpSimulator
from fixgw.server import FixgwApp
from fxmesh.errors import from_rpc_error
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, router_pb2, types_pb2

# The A-book module's fixtures: two LP simulators, fixgw, a router per test, quiet LPs.
lps = _abook.lps
fixgw = _abook.fixgw
router = _abook.router
db = _abook.db
_lp_defaults = _abook._lp_defaults

D = Decimal
MakeGroup = Callable[..., Awaitable[str]]


@pytest.fixture
async def make_group(router: Router, db: asyncpg.Connection) -> AsyncIterator[MakeGroup]:
    """Client groups of this test, each routed by one rule for EURUSD."""
    rule_ids: list[int] = []

    async def make(book: str, ratio: str = "0", reason: str = "") -> str:
        name = f"grp-{uuid.uuid4().hex[:8]}"
        rule_id = await db.fetchval(
            "INSERT INTO router.routing_rules "
            "(priority, client_group, symbol, book, c_book_hedge_ratio, reason) "
            "VALUES (10, $1, $2, $3, $4, $5) RETURNING rule_id",
            name,
            SYMBOL,
            book,
            D(ratio),
            reason or f"GROUP_{book}_BOOK",
        )
        rule_ids.append(rule_id)
        app = router[0]
        await eventually(lambda: any(r.rule_id == rule_id for r in app.service.rules))
        return name

    yield make
    await db.execute("DELETE FROM router.routing_rules WHERE rule_id = ANY($1)", rule_ids)


@pytest.fixture
async def lps_known(router: Router) -> None:
    """The router has polled fixgw's LP health at least once."""
    health = router[0].service.lp_health
    assert health is not None
    await health.poll()
    assert health.snapshot().known


async def house_net(router: Router) -> Decimal:
    response = await router[1].GetHouseExposure(router_pb2.GetHouseExposureRequest(), timeout=10)
    found = next((e for e in response.exposures if e.symbol == SYMBOL), None)
    return D(found.net_volume) if found is not None else D(0)


async def explain(router: Router, order_id: str) -> router_pb2.ExplainResponse:
    return await router[1].Explain(router_pb2.ExplainRequest(order_id=order_id), timeout=10)


def legs(response: router_pb2.ExplainResponse) -> list[tuple[str, str, Decimal]]:
    return [(types_pb2.Book.Name(x.book), x.venue, D(x.volume)) for x in response.legs]


async def test_orders_of_a_b_and_c_groups_then_each_goes_where_its_rule_says(
    router: Router, make_group: MakeGroup, lps_known: None
) -> None:
    _, stub = router
    a_group = await make_group("A")
    c_group = await make_group("C", "0.5")
    net_before = await house_net(router)

    a = await stub.Execute(abook(a_group, BUY), timeout=10)
    b = await stub.Execute(abook("standard", BUY), timeout=10)
    c_order = abook(c_group, BUY)
    c = await stub.Execute(c_order, timeout=10)
    again = await stub.Execute(c_order, timeout=10)

    assert (a.status, a.book, [f.venue for f in a.fills]) == (FILLED, types_pb2.BOOK_A, ["LPA"])
    assert (b.status, b.book, [f.venue for f in b.fills]) == (FILLED, types_pb2.BOOK_B, ["BBOOK"])
    assert (c.status, c.book, c.routing_reason) == (FILLED, types_pb2.BOOK_C, "GROUP_C_BOOK")
    # One fill per leg: the LP's 0.50 at its price plus markup, the house's 0.50 at the quote.
    assert [(f.book, f.venue, D(f.volume), D(f.price)) for f in c.fills] == [
        (types_pb2.BOOK_A, "LPA", D("0.50"), D("1.08462")),
        (types_pb2.BOOK_B, "BBOOK", D("0.50"), D("1.08462")),
    ]
    assert list(again.fills) == list(c.fills)
    # The house took B's 1.00 and C's B leg 0.50, once each.
    assert await house_net(router) == net_before - D("1.50")


async def test_c_book_explain_then_split_legs_inputs_and_config_version(
    router: Router, make_group: MakeGroup, lps_known: None, db: asyncpg.Connection
) -> None:
    c_group = await make_group("C", "0.3")
    order = abook(c_group, SELL, "0.70")
    await router[1].Execute(order, timeout=10)

    explained = await explain(router, order.order.order_id)

    version = await db.fetchval("SELECT max(version) FROM router.config_versions")
    assert (explained.book, explained.level, explained.routing_reason) == (
        types_pb2.BOOK_C,
        "RULE",
        "GROUP_C_BOOK",
    )
    assert (D(explained.a_volume), D(explained.b_volume), D(explained.hedge_ratio)) == (
        D("0.21"),
        D("0.49"),
        D("0.3"),
    )
    assert explained.rule_id > 0
    assert 0 < explained.config_version <= version
    assert legs(explained) == [("BOOK_A", "LPA", D("0.21")), ("BOOK_B", "BBOOK", D("0.49"))]
    inputs = {i.name: i.value for i in explained.inputs}
    assert inputs["client_group"] == c_group
    assert inputs["lps_healthy"] == "LPA,LPB"
    assert inputs["lp_health"] == "known"
    assert "house_net_lots" in inputs
    assert "toxicity" in inputs
    assert [s.level for s in explained.steps] == [
        "ACCOUNT_OVERRIDE",
        "RULE",
        "RULE",  # the split
        "BBOOK_MAX_VOLUME",
        "EXPOSURE_LIMIT",
        "LP_HEALTH",
    ]


async def test_explain_when_order_never_routed_then_not_found(router: Router) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await explain(router, str(uuid.uuid4()))

    error = from_rpc_error(caught.value)
    assert (error.code, error.reason) == (grpc.StatusCode.NOT_FOUND, "ORDER_NOT_ROUTED")


async def test_c_book_when_lps_reject_a_leg_then_house_takes_the_whole_order(
    router: Router, make_group: MakeGroup, lps: dict[str, LpSimulator], db: asyncpg.Connection
) -> None:
    c_group = await make_group("C", "0.5")
    for sim in lps.values():
        sim.add_fault(Fault("reject", text="credit limit exceeded"))
    net_before = await house_net(router)
    order = abook(c_group, BUY)

    response = await router[1].Execute(order, timeout=10)

    assert (response.status, response.book) == (FILLED, types_pb2.BOOK_C)
    assert [(f.venue, D(f.volume)) for f in response.fills] == [("BBOOK", D("1.00"))]
    assert await claim_of(db, order.order.order_id) == "EXECUTED"
    assert await house_net(router) == net_before - D("1.00")
    assert legs(await explain(router, order.order.order_id)) == [("BOOK_B", "BBOOK", D("1.00"))]


async def test_c_book_when_a_leg_partly_filled_then_house_takes_the_rest(
    router: Router, make_group: MakeGroup, lps: dict[str, LpSimulator]
) -> None:
    c_group = await make_group("C", "0.5")
    lps["LPA"].update_config(fill_ratio="0.4")

    response = await router[1].Execute(
        abook(c_group, BUY, requested_price="1.08462", deviation="0.00010"), timeout=10
    )

    assert response.status == FILLED
    assert [(f.venue, D(f.volume)) for f in response.fills] == [
        ("LPA", D("0.20")),
        ("BBOOK", D("0.80")),
    ]


async def test_c_book_when_a_leg_outcome_comes_late_then_reconcile_answers_both_legs_once(
    router: Router, make_group: MakeGroup, lps: dict[str, LpSimulator], db: asyncpg.Connection
) -> None:
    _, stub = router
    c_group = await make_group("C", "0.5")
    lps["LPA"].update_config(latency_ms=2500)
    net_before = await house_net(router)
    order = abook(c_group, BUY)
    order_id = order.order.order_id

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Execute(order, timeout=1.5)
    assert from_rpc_error(caught.value).reason == "EXECUTION_PENDING"
    # The B leg is priced and kept with the submission; nothing is in the house book yet.
    assert await claim_of(db, order_id) == "SUBMITTED"
    assert await house_net(router) == net_before

    reconciled = await reconcile_until_known(stub, order_id)
    again = await stub.Execute(order, timeout=10)

    assert reconciled.status == FILLED
    assert [(f.venue, D(f.volume)) for f in reconciled.fills] == [
        ("LPA", D("0.50")),
        ("BBOOK", D("0.50")),
    ]
    assert list(again.fills) == list(reconciled.fills)
    assert await house_net(router) == net_before - D("0.50")


async def test_c_book_when_house_cannot_price_b_leg_then_rejected_and_nothing_sent(
    router: Router, make_group: MakeGroup, lps: dict[str, LpSimulator], db: asyncpg.Connection
) -> None:
    c_group = await make_group("C", "0.5")
    sent = lps["LPA"].counters["filled"]
    order = abook(c_group, BUY, requested_price="1.08400", deviation="0.00005")  # a requote

    response = await router[1].Execute(order, timeout=10)

    assert (response.status, response.reject_reason) == (REJECTED, "PRICE_DEVIATION_EXCEEDED")
    assert lps["LPA"].counters["filled"] == sent
    assert await claim_of(db, order.order.order_id) is None


@pytest.mark.parametrize(
    ("fallback", "status", "book", "reason", "reject", "level"),
    [
        ("B", FILLED, types_pb2.BOOK_B, "LP_DOWN_FALLBACK_B", "", "LP_HEALTH"),
        # REJECT: the order still goes to fixgw, whose own answer is NO_LIQUIDITY.
        (None, REJECTED, types_pb2.BOOK_A, "GROUP_A_BOOK", "NO_LIQUIDITY", "RULE"),
    ],
)
async def test_when_no_lp_is_healthy_then_symbols_fallback_decides(
    router: Router,
    make_group: MakeGroup,
    fixgw: FixgwApp,
    lps: dict[str, LpSimulator],
    db: asyncpg.Connection,
    fallback: str | None,
    status: int,
    book: int,
    reason: str,
    reject: str,
    level: str,
) -> None:
    app, stub = router
    a_group = await make_group("A")
    if fallback is not None:
        await db.execute(
            "INSERT INTO router.routing_symbol_settings (symbol, lp_fallback) VALUES ($1, $2)",
            SYMBOL,
            fallback,
        )
    health = app.service.lp_health
    assert health is not None
    async with grpc.aio.insecure_channel(f"127.0.0.1:{fixgw.grpc_port}") as channel:
        gateway = fixgw_pb2_grpc.FixGatewayServiceStub(channel)
        for name in lps:
            await gateway.Disconnect(fixgw_pb2.DisconnectRequest(name=name), timeout=10)
        try:
            await until(lambda: not any(fixgw.gateway.healthy(name) for name in lps))
            await health.poll()  # the background poll would see it within a second
            order = abook(a_group, BUY)

            response = await stub.Execute(order, timeout=10)
            explained = await explain(router, order.order.order_id)
        finally:
            await db.execute("DELETE FROM router.routing_symbol_settings WHERE symbol = $1", SYMBOL)
            for name in lps:
                await gateway.Connect(fixgw_pb2.ConnectRequest(name=name), timeout=10)
            await until(lambda: all(fixgw.gateway.healthy(name) for name in lps))
            await health.poll()

    assert (response.status, response.book, response.routing_reason, response.reject_reason) == (
        status,
        book,
        reason,
        reject,
    )
    assert explained.level == level
    inputs = {i.name: i.value for i in explained.inputs}
    assert (inputs["lps_healthy"], inputs["lps_unhealthy"]) == ("", "LPA,LPB")


async def test_config_change_then_applies_to_the_very_next_order(
    router: Router, db: asyncpg.Connection, lps_known: None
) -> None:
    _, stub = router
    account = f"8{uuid.uuid4().int % 10**8}"
    await stub.Execute(abook("standard", BUY, account_id=account), timeout=10)

    await db.execute(
        "INSERT INTO router.account_overrides (account_id, book, reason) "
        "VALUES ($1, 'A', 'VIP_FORCED_A')",
        account,
    )
    version = await db.fetchval("SELECT max(version) FROM router.config_versions")
    try:
        # No waiting for the NOTIFY: the order itself finds the newer version committed.
        order = abook("standard", BUY, account_id=account)
        response = await stub.Execute(order, timeout=10)
        explained = await explain(router, order.order.order_id)
    finally:
        await db.execute("DELETE FROM router.account_overrides WHERE account_id = $1", account)

    assert (response.status, response.book, response.routing_reason) == (
        FILLED,
        types_pb2.BOOK_A,
        "VIP_FORCED_A",
    )
    assert (explained.level, explained.config_version) == ("ACCOUNT_OVERRIDE", version)
