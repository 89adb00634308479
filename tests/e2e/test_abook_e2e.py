"""End to end: A-book orders from the edge API to two LP simulators speaking real FIX 4.4, and back.

A private stack with two LP simulators (LPSIM first, LPSIM2 second in fixgw's priority list) and a
routing rule that sends one client group to the A-book. Each test opens its own account in that
group and trades through edge like a client; the LPs are steered through their control APIs and
fixgw through its gRPC API. Client prices are the LP's plus the EURUSD markup of 5 points.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
import redis.asyncio as aioredis
from e2e_client import WAIT, eventually, login

from admin import repository as admin_repository
from admin.domain import Role
from devstack.supervisor import FIRST_LP, SECOND_LP, Stack, StackConfig, claim_redis_db
from fxmesh import passwords
from fxmesh.money import parse_decimal
from fxmesh.quotecache import read_quote
from fxmesh.v1 import (
    fixgw_pb2,
    fixgw_pb2_grpc,
    oms_pb2,
    oms_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
    types_pb2,
)

pytestmark = pytest.mark.e2e

GROUP = "e2e_abook"
MARKUP = Decimal("0.00005")  # EURUSD: 5 points on each side at 5 digits
# LPSIM2 quotes one point wider on each side: the client quote is LPSIM's, and a fill at LPSIM2
# is told apart by its price.
LP2_WIDER = Decimal("0.00001")


@pytest.fixture(scope="module")
async def abook_stack() -> AsyncIterator[Stack]:
    """A private stack with two LPs and the A-book rule for GROUP."""
    run_dir = Path(tempfile.mkdtemp(prefix="fxmesh-e2e-abook-"))
    redis_db = await claim_redis_db("redis://127.0.0.1:6379", owner=f"e2e-abook:{os.getpid()}")
    stack = Stack(
        StackConfig.isolated(run_dir, redis_db=redis_db, ready_timeout=120.0, second_lp=True)
    )
    await stack.start(lambda _line: None)
    failed = True
    try:
        conn = await asyncpg.connect(stack.config.postgres_dsn)
        try:
            await conn.execute(
                "INSERT INTO router.routing_rules (priority, client_group, symbol, book, reason) "
                "VALUES (1, $1, NULL, 'A', 'E2E_A_BOOK')",
                GROUP,
            )
        finally:
            await conn.close()
        yield stack
        failed = False
    finally:
        await stack.stop(lambda _line: None)
        if failed:
            print(f"e2e: A-book stack logs kept in {run_dir / 'logs'}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


def money(value: str) -> Decimal:
    return parse_decimal(value, "money")


class Market:
    """Both LP simulators' control APIs: pinned prices, faults and knobs."""

    def __init__(self, lp1: httpx.AsyncClient, lp2: httpx.AsyncClient) -> None:
        self.lp = {FIRST_LP: lp1, SECOND_LP: lp2}

    async def pin(self, client_bid: str, client_ask: str) -> tuple[Decimal, Decimal]:
        """Freeze LPSIM at the price whose client quote is client_bid / client_ask (LPSIM2 one
        point wider); return LPSIM's bid and ask."""
        lp_bid, lp_ask = Decimal(client_bid) + MARKUP, Decimal(client_ask) - MARKUP
        for name, client in self.lp.items():
            wider = LP2_WIDER if name == SECOND_LP else Decimal(0)
            frozen = await client.put("/config", json={"walk": False})
            assert frozen.status_code == 200, frozen.text
            priced = await client.put(
                "/prices/EURUSD", json={"bid": str(lp_bid - wider), "ask": str(lp_ask + wider)}
            )
            assert priced.status_code == 200, priced.text
        return lp_bid, lp_ask

    async def fault(self, lp: str, kind: str, count: int = 1, **extra: Any) -> None:
        reply = await self.lp[lp].post("/faults", json={"kind": kind, "count": count, **extra})
        assert reply.status_code == 200, reply.text

    async def configure(self, lp: str, **knobs: Any) -> None:
        reply = await self.lp[lp].put("/config", json=knobs)
        assert reply.status_code == 200, reply.text

    async def clear(self) -> None:
        for client in self.lp.values():
            await client.delete("/faults")
            reply = await client.put("/config", json={"latencyMs": 0})
            assert reply.status_code == 200, reply.text


class Client:
    """One A-book client trading through edge."""

    def __init__(self, edge: httpx.AsyncClient, auth: dict[str, str], account_id: str = "") -> None:
        self.edge = edge
        self.auth = auth
        self.account_id = account_id

    async def market(self, side: str, volume: str = "0.10", **extra: Any) -> dict[str, Any]:
        body = {
            "symbol": "EURUSD",
            "side": side,
            "volume": volume,
            "clientOrderId": extra.pop("clientOrderId", f"e2e-{uuid.uuid4().hex[:12]}"),
            **extra,
        }
        reply = await self.edge.post("/api/orders/market", json=body, headers=self.auth)
        assert reply.status_code == 200, reply.text
        answer: dict[str, Any] = reply.json()
        return answer

    async def positions(self) -> list[dict[str, Any]]:
        reply = await self.edge.get("/api/account/positions", headers=self.auth)
        assert reply.status_code == 200, reply.text
        return list(reply.json()["positions"])

    async def deals(self) -> list[dict[str, Any]]:
        reply = await self.edge.get(
            "/api/account/trades", params={"pageSize": 100}, headers=self.auth
        )
        assert reply.status_code == 200, reply.text
        return list(reply.json()["deals"])

    async def order(self, order_id: str) -> dict[str, Any]:
        reply = await self.edge.get(f"/api/orders/{order_id}", headers=self.auth)
        assert reply.status_code == 200, reply.text
        order: dict[str, Any] = reply.json()["order"]
        return order

    async def balance_is_sum_of_ledger(self) -> None:
        summary = await self.edge.get("/api/account/summary", headers=self.auth)
        assert summary.status_code == 200, summary.text
        ledger = await self.edge.get(
            "/api/account/ledger", params={"pageSize": 1000}, headers=self.auth
        )
        assert ledger.status_code == 200, ledger.text
        entries = ledger.json()["entries"]
        total = sum((money(e["amount"]) for e in entries), Decimal(0))
        assert total == money(summary.json()["balance"])


async def open_client(stack: Stack, edge: httpx.AsyncClient, group: str = GROUP) -> Client:
    login_name, password = f"e2e-a-{uuid.uuid4().hex[:10]}", "e2e-password-1"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.config.ports.oms}") as channel:
        created = await oms_pb2_grpc.OmsServiceStub(channel).CreateAccount(
            oms_pb2.CreateAccountRequest(
                login=login_name,
                password=password,
                type=types_pb2.ACCOUNT_TYPE_DEMO,
                currency="USD",
                leverage=100,
                margin_mode=types_pb2.MARGIN_MODE_HEDGING,
                initial_deposit="10000.00",
                client_group=group,
            ),
            timeout=WAIT,
        )
    return Client(edge, await login(edge, login_name, password), created.account.account_id)


@pytest.fixture
async def trading(abook_stack: Stack) -> AsyncIterator[tuple[Client, Market]]:
    """A fresh A-book client and both LPs, pinned at a known price; faults cleared afterwards."""
    async with (
        httpx.AsyncClient(base_url=abook_stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=abook_stack.lpsim_control_url, timeout=30.0) as lp1,
        httpx.AsyncClient(base_url=abook_stack.lpsim2_control_url, timeout=30.0) as lp2,
    ):
        market = Market(lp1, lp2)
        await market.clear()
        await market.pin("1.08440", "1.08452")
        client = await open_client(abook_stack, edge)
        await wait_for_client_quote(abook_stack, "1.08452")
        yield client, market
        await market.clear()


async def wait_for_client_quote(stack: Stack, ask: str) -> None:
    """Until the client quote in Redis (what oms and the router price orders at) is the pinned one."""
    redis = aioredis.Redis.from_url(stack.config.redis_url)
    try:

        async def priced() -> bool:
            quote = await read_quote(redis, "EURUSD")
            return quote is not None and quote.ask == Decimal(ask)

        await eventually(f"client ask {ask}", priced)
    finally:
        await redis.aclose()


async def fixgw_call(stack: Stack, method: str, request: Any) -> Any:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.config.ports.fixgw}") as channel:
        stub = fixgw_pb2_grpc.FixGatewayServiceStub(channel)
        return await getattr(stub, method)(request, timeout=WAIT)


async def sessions_down(stack: Stack) -> bool:
    reply = await fixgw_call(stack, "ListSessions", fixgw_pb2.ListSessionsRequest())
    return not any(s.logged_on for s in reply.sessions)


async def sessions_logged_on(stack: Stack) -> bool:
    reply = await fixgw_call(stack, "ListSessions", fixgw_pb2.ListSessionsRequest())
    return all(s.healthy for s in reply.sessions) and len(reply.sessions) == 2


async def test_market_buy_when_routed_a_book_then_filled_at_the_lp_ask_plus_markup_and_closed_there(
    trading: tuple[Client, Market],
) -> None:
    client, _market = trading
    lp_ask = Decimal("1.08452") - MARKUP

    answer = await client.market("BUY")

    order = answer["order"]
    assert order["status"] == "FILLED", answer
    assert order["book"] == "A"
    [fill] = answer["fills"]
    assert money(fill["price"]) == lp_ask + MARKUP
    [position] = await client.positions()
    assert position["venue"] == FIRST_LP
    assert position["book"] == "A"
    assert position["venueOrderId"]

    # The client closes: the close goes to the LP holding the risk, at its bid minus the markup.
    closed = await client.edge.post(
        f"/api/positions/{position['positionId']}/close",
        json={"clientOrderId": f"close-{uuid.uuid4().hex[:8]}"},
        headers=client.auth,
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["order"]["status"] == "FILLED", closed.json()
    assert await client.positions() == []
    deals = await client.deals()
    assert {(d["entry"], d["venue"], d["book"]) for d in deals} == {
        ("IN", FIRST_LP, "A"),
        ("OUT", FIRST_LP, "A"),
    }
    [out] = [d for d in deals if d["entry"] == "OUT"]
    assert money(out["price"]) == Decimal("1.08440")  # LP bid 1.08445 - markup
    await client.balance_is_sum_of_ledger()


async def test_market_order_when_first_lp_rejects_then_second_lp_fills_it(
    trading: tuple[Client, Market],
) -> None:
    client, market = trading
    await market.fault(FIRST_LP, "reject", text="no credit line for FXMESH")

    answer = await client.market("BUY")

    assert answer["order"]["status"] == "FILLED", answer
    [fill] = answer["fills"]
    assert fill["venue"] == SECOND_LP
    assert money(fill["price"]) == Decimal("1.08452") + LP2_WIDER
    [deal] = await client.deals()
    assert deal["venue"] == SECOND_LP


async def test_market_order_when_every_lp_rejects_then_rejected_with_the_lp_text(
    trading: tuple[Client, Market],
) -> None:
    client, market = trading
    await market.fault(FIRST_LP, "reject", text="no credit line for FXMESH")
    await market.fault(SECOND_LP, "reject", text="instrument halted")

    answer = await client.market("SELL")

    order = answer["order"]
    assert order["status"] == "REJECTED", answer
    assert order["rejectReason"] == "LP_REJECTED"
    assert "instrument halted" in order["rejectMessage"]
    assert await client.deals() == []
    assert await client.positions() == []


async def test_market_order_when_no_lp_session_is_up_then_rejected_no_liquidity(
    abook_stack: Stack, trading: tuple[Client, Market]
) -> None:
    client, _market = trading
    for lp in (FIRST_LP, SECOND_LP):
        await fixgw_call(abook_stack, "Disconnect", fixgw_pb2.DisconnectRequest(name=lp))
    # No wait for the Logouts to be answered: a disconnected LP takes no new order at once.
    try:
        answer = await client.market("BUY")
        assert answer["order"]["status"] == "REJECTED", answer
        assert answer["order"]["rejectReason"] == "NO_LIQUIDITY"
    finally:
        # The Logouts are answered first, so that "logged on" below means logged on again.
        await eventually("both LP sessions down", lambda: sessions_down(abook_stack))
        for lp in (FIRST_LP, SECOND_LP):
            await fixgw_call(abook_stack, "Connect", fixgw_pb2.ConnectRequest(name=lp))
        await eventually("both LP sessions back", lambda: sessions_logged_on(abook_stack))
    assert await client.positions() == []


async def test_stop_loss_of_an_a_booked_position_when_bid_falls_through_then_closed_at_the_lp(
    abook_stack: Stack, trading: tuple[Client, Market]
) -> None:
    stack = abook_stack
    client, market = trading
    answer = await client.market("BUY", stopLoss="1.08300")
    assert answer["order"]["status"] == "FILLED", answer["order"].get("rejectMessage")

    await market.pin("1.08280", "1.08292")
    await wait_for_client_quote(stack, "1.08292")

    await eventually("the stop loss closes the position", lambda: _flat(client))
    [out] = [d for d in await client.deals() if d["entry"] == "OUT"]
    assert out["reason"] == "STOP_LOSS"
    assert out["venue"] == FIRST_LP
    assert out["book"] == "A"
    assert money(out["price"]) == Decimal("1.08280")
    await client.balance_is_sum_of_ledger()


async def test_fixgw_killed_while_the_lp_works_an_order_then_the_fill_is_booked_once_after_restart(
    abook_stack: Stack, trading: tuple[Client, Market]
) -> None:
    client, market = trading
    await market.configure(FIRST_LP, latencyMs=3000)
    client_order_id = f"crash-{uuid.uuid4().hex[:8]}"

    placing = asyncio.create_task(client.market("BUY", clientOrderId=client_order_id))
    await asyncio.sleep(1.0)  # the NewOrderSingle is at the LP, its fill 2 s away
    abook_stack.kill("fixgw")
    try:
        first = await placing
    finally:
        await abook_stack.restart("fixgw")  # whatever happened, the next test has a gateway
    # The client is told the truth: the order is in flight, not rejected.
    assert first["order"]["status"] in ("FILLING", "FILLED"), first

    async def filled() -> bool:
        return (await client.order(first["order"]["orderId"]))["status"] == "FILLED"

    await eventually("the order is settled from the LP's fill", filled, within=60.0)
    retried = await client.market("BUY", clientOrderId=client_order_id)
    assert retried["replayed"] is True
    assert retried["order"]["orderId"] == first["order"]["orderId"]
    assert retried["order"]["status"] == "FILLED"
    deals = await client.deals()
    assert len(deals) == 1
    assert deals[0]["venue"] == FIRST_LP
    assert len(await client.positions()) == 1
    await client.balance_is_sum_of_ledger()
    await eventually("both LP sessions back", lambda: sessions_logged_on(abook_stack))


async def _flat(client: Client) -> bool:
    return await client.positions() == []


async def test_lp_restarted_while_it_works_an_order_then_its_fill_is_booked_once_after_logon(
    abook_stack: Stack, trading: tuple[Client, Market]
) -> None:
    client, market = trading
    await market.configure(FIRST_LP, latencyMs=1500)

    placing = asyncio.create_task(client.market("SELL"))
    await asyncio.sleep(0.5)  # the NewOrderSingle is at the LP, its fill 1 s away
    restarted = await market.lp[FIRST_LP].post("/restart", json={"downMs": 3000})
    assert restarted.status_code == 200, restarted.text
    first = await placing

    async def settled() -> dict[str, Any] | None:
        order = await client.order(first["order"]["orderId"])
        return order if order["status"] in ("FILLED", "REJECTED") else None

    order = await eventually("the order is settled", settled, within=60.0)
    # The LP filled it while it was down; the report went out after the new logon, and was
    # booked once.
    assert order["status"] == "FILLED", order
    deals = await client.deals()
    assert [(d["venue"], d["entry"]) for d in deals] == [(FIRST_LP, "IN")]
    assert len(await client.positions()) == 1
    await client.balance_is_sum_of_ledger()
    await eventually("both LP sessions back", lambda: sessions_logged_on(abook_stack))


async def test_a_b_and_c_orders_then_lps_house_and_both_split_and_admin_explains_each(
    abook_stack: Stack, trading: tuple[Client, Market]
) -> None:
    """Issue 14's end-to-end triple: an A-book order filled at LPSIM, a B-book order taken by the
    house, and a C-book order split half and half whose A leg LPSIM rejects, so LPSIM2 fills it:
    one fill per leg, one position per venue, and GET /admin/orders/{id}/routing says why."""
    a_client, market = trading
    c_group = f"e2e_c_{uuid.uuid4().hex[:6]}"
    b_client = await open_client(abook_stack, a_client.edge, group="e2e_house")
    c_client = await open_client(abook_stack, a_client.edge, group=c_group)
    db = await asyncpg.connect(abook_stack.config.postgres_dsn)
    rule_id = await db.fetchval(
        "INSERT INTO router.routing_rules "
        "(priority, client_group, symbol, book, c_book_hedge_ratio, reason) "
        "VALUES (1, $1, 'EURUSD', 'C', 0.5, 'E2E_C_BOOK') RETURNING rule_id",
        c_group,
    )
    try:
        a = await a_client.market("BUY", "0.20")
        b = await b_client.market("BUY", "0.20")
        await market.fault(FIRST_LP, "reject", text="no credit line for FXMESH")
        c = await c_client.market("BUY", "0.20")
        async with httpx.AsyncClient(base_url=abook_stack.admin_url, timeout=30.0) as admin:
            auth = await admin_login(abook_stack, admin)
            why = {
                book: (
                    await admin.get(f"/admin/orders/{o['order']['orderId']}/routing", headers=auth)
                )
                for book, o in (("A", a), ("B", b), ("C", c))
            }
    finally:
        await db.execute("DELETE FROM router.routing_rules WHERE rule_id = $1", rule_id)
        await db.close()

    client_ask = Decimal("1.08452")
    assert (a["order"]["status"], a["order"]["book"]) == ("FILLED", "A"), a
    assert [(f["venue"], money(f["price"])) for f in a["fills"]] == [(FIRST_LP, client_ask)]
    assert (b["order"]["status"], b["order"]["book"]) == ("FILLED", "B"), b
    assert [(f["venue"], money(f["price"])) for f in b["fills"]] == [("BBOOK", client_ask)]
    assert (c["order"]["status"], c["order"]["book"]) == ("FILLED", "C"), c
    # The A leg at LPSIM2 (one point wider, plus the markup), the B leg at the client quote.
    assert [(f["venue"], money(f["volume"]), money(f["price"])) for f in c["fills"]] == [
        (SECOND_LP, Decimal("0.10"), client_ask + LP2_WIDER),
        ("BBOOK", Decimal("0.10"), client_ask),
    ]
    assert sorted((p["venue"], p["book"]) for p in await c_client.positions()) == [
        ("BBOOK", "B"),
        (SECOND_LP, "A"),
    ]
    for book, reply in why.items():
        assert reply.status_code == 200, reply.text
        assert reply.json()["book"] == book
    assert why["C"].json()["routingReason"] == "E2E_C_BOOK"
    assert why["B"].json()["routingReason"] == "DEFAULT_B_BOOK"
    for client in (a_client, b_client, c_client):
        await client.balance_is_sum_of_ledger()


async def admin_login(stack: Stack, http: httpx.AsyncClient) -> dict[str, str]:
    """A risk manager of this stack (created in its database), logged in over admin REST."""
    username, password = f"e2e-risk-{uuid.uuid4().hex[:6]}", "e2e-risk-password-1"
    conn = await asyncpg.connect(stack.config.postgres_dsn)
    try:
        await admin_repository.upsert_user(
            conn, username, passwords.hash_password(password), Role.RISK_MANAGER
        )
    finally:
        await conn.close()
    reply = await http.post("/admin/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    return {"authorization": f"Bearer {reply.json()['accessToken']}"}


async def test_admin_forces_a_client_to_a_book_then_the_next_order_is_filled_at_an_lp(
    abook_stack: Stack, trading: tuple[Client, Market]
) -> None:
    """admin forces a client to A-book (client override via admin REST) and the next order is
    filled at an LP."""
    a_client, _market = trading
    client = await open_client(abook_stack, a_client.edge, group="e2e_house")
    lp_ask = Decimal("1.08452") - MARKUP

    before = await client.market("BUY")
    async with httpx.AsyncClient(base_url=abook_stack.admin_url, timeout=30.0) as admin:
        auth = await admin_login(abook_stack, admin)
        forced = await admin.post(
            "/admin/client-overrides",
            json={"accountId": client.account_id, "mode": "A", "reason": "E2E_FORCED_A"},
            headers=auth,
        )
        try:
            after = await client.market("BUY")
        finally:
            removed = await admin.delete(
                f"/admin/client-overrides/{client.account_id}", headers=auth
            )
        audit = await admin.get(
            "/admin/audit", params={"action": "execution.override_set"}, headers=auth
        )

    assert before["order"]["status"] == "FILLED", before
    assert (before["order"]["book"], [f["venue"] for f in before["fills"]]) == ("B", ["BBOOK"])
    assert forced.status_code == 200, forced.text
    assert after["order"]["status"] == "FILLED", after
    assert after["order"]["book"] == "A"
    [fill] = after["fills"]
    assert fill["venue"] == FIRST_LP
    assert money(fill["price"]) == lp_ask + MARKUP
    assert removed.status_code == 200, removed.text
    assert audit.status_code == 200, audit.text
    assert any(
        e["resource"] == f"account:{client.account_id}" and e["outcome"] == "ALLOWED"
        for e in audit.json()["entries"]
    )


async def eurusd_exposure(stack: Stack) -> router_pb2.SymbolExposure | None:
    """The router's house book for EURUSD, None while the house has none."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.config.ports.router}") as channel:
        book = await router_pb2_grpc.RouterServiceStub(channel).GetHouseExposure(
            router_pb2.GetHouseExposureRequest(), timeout=WAIT
        )
    return next((e for e in book.exposures if e.symbol == "EURUSD"), None)


async def test_auto_hedge_when_forced_b_client_takes_the_house_beyond_its_limit_then_lp_hedges(
    abook_stack: Stack, trading: tuple[Client, Market]
) -> None:
    """Last in the module: it leaves the house a net in EURUSD (the other tests trade A-book)."""
    client_a, _market = trading
    login_name, password = f"e2e-h-{uuid.uuid4().hex[:10]}", "e2e-password-1"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{abook_stack.config.ports.oms}") as channel:
        created = await oms_pb2_grpc.OmsServiceStub(channel).CreateAccount(
            oms_pb2.CreateAccountRequest(
                login=login_name,
                password=password,
                type=types_pb2.ACCOUNT_TYPE_DEMO,
                currency="USD",
                leverage=100,
                margin_mode=types_pb2.MARGIN_MODE_HEDGING,
                initial_deposit="10000.00",
                client_group="e2e_hedge",
            ),
            timeout=WAIT,
        )
    account_id = created.account.account_id
    client = Client(client_a.edge, await login(client_a.edge, login_name, password))
    db = await asyncpg.connect(abook_stack.config.postgres_dsn)
    try:
        await db.execute(
            "INSERT INTO router.account_overrides (account_id, book, reason) "
            "VALUES ($1, 'B', 'E2E_FORCED_B')",
            account_id,
        )
        await db.execute(
            "INSERT INTO router.exposure_limits (symbol, max_net_lots) VALUES ('EURUSD', 1)"
        )

        # Earlier tests may have left the house a B-book net in EURUSD: the hedge is the excess.
        before = await eurusd_exposure(abook_stack)
        answer = await client.market("BUY", "3.00")
        before_net = money(before.client_net_volume) if before is not None else Decimal(0)
        client_net = before_net - Decimal(3)
        hedge_volume = -client_net - Decimal(1)

        assert answer["order"]["status"] == "FILLED", answer
        assert answer["order"]["book"] == "B"

        async def hedged() -> list[asyncpg.Record] | None:
            rows = await db.fetch(
                "SELECT * FROM router.hedge_orders WHERE symbol = 'EURUSD' ORDER BY hedge_id"
            )
            return rows if rows and all(r["status"] == "FILLED" for r in rows) else None

        [hedge] = await eventually("EURUSD hedged", hedged)
        assert (hedge["side"], hedge["volume"]) == ("BUY", hedge_volume)
        trades = await db.fetch("SELECT lp, volume FROM router.house_trades")
        assert sum(t["volume"] for t in trades) == hedge_volume
        assert {t["lp"] for t in trades} <= {FIRST_LP, SECOND_LP}
        # The client's own order and fill are the client's only: the hedge is no client trade.
        assert len(await client.deals()) == 1
        eurusd = await eurusd_exposure(abook_stack)
        assert eurusd is not None
        assert (money(eurusd.client_net_volume), money(eurusd.hedge_net_volume)) == (
            client_net,
            hedge_volume,
        )
        assert money(eurusd.net_volume) == Decimal(-1)
    finally:
        await db.execute("DELETE FROM router.exposure_limits WHERE symbol = 'EURUSD'")
        await db.execute("DELETE FROM router.account_overrides WHERE account_id = $1", account_id)
        await db.close()
