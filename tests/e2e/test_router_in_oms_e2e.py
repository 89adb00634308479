"""End to end with the router in the oms process (``FXMESH_OMS_ROUTER_IN_PROCESS``): no router
process runs; B-book orders reach the router without a gRPC hop, A-book orders still go to the LP
through fixgw, and the router's gRPC API (what admin and the tests call) is served by oms.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import grpc
import httpx
import pytest
import redis.asyncio as aioredis
from e2e_client import (
    MARKUP,
    WAIT,
    assert_balance_is_sum_of_ledger,
    eventually,
    login,
    money,
    open_account,
    open_positions,
    pin_eurusd,
)

from devstack.supervisor import Stack, StackConfig, claim_redis_db
from fxmesh.quotecache import read_quote
from fxmesh.v1 import router_pb2, router_pb2_grpc

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def oms_router_stack() -> AsyncIterator[Stack]:
    run_dir = Path(tempfile.mkdtemp(prefix="fxmesh-e2e-router-in-oms-"))
    redis_db = await claim_redis_db("redis://127.0.0.1:6379", owner=f"e2e-rio:{os.getpid()}")
    stack = Stack(
        StackConfig.isolated(run_dir, redis_db=redis_db, ready_timeout=120.0, router_in_oms=True)
    )
    await stack.start(lambda _line: None)
    failed = True
    try:
        yield stack
        failed = False
    finally:
        await stack.stop(lambda _line: None)
        if failed:
            print(f"e2e: router-in-oms stack logs kept in {run_dir / 'logs'}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


async def wait_for_client_quote(stack: Stack, ask: str) -> None:
    """Until the client quote in Redis (what orders are priced at) is the pinned one."""
    redis = aioredis.Redis.from_url(stack.config.redis_url)
    try:

        async def priced() -> bool:
            quote = await read_quote(redis, "EURUSD")
            return quote is not None and quote.ask == Decimal(ask)

        await eventually(f"client ask {ask}", priced)
    finally:
        await redis.aclose()


async def client_net_eurusd(stack: Stack) -> Decimal:
    """The house book's client net in EURUSD, asked of the router's gRPC API (served by oms)."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.config.ports.router}") as channel:
        book = await router_pb2_grpc.RouterServiceStub(channel).GetHouseExposure(
            router_pb2.GetHouseExposureRequest(), timeout=WAIT
        )
    eurusd = next((e for e in book.exposures if e.symbol == "EURUSD"), None)
    return money(eurusd.client_net_volume) if eurusd is not None else Decimal(0)


async def one_writer(db: asyncpg.Connection, order_id: int) -> bool:
    """Whether an order's row, its deal and the house's fill were written by one transaction."""
    writers = await db.fetchrow(
        "SELECT o.xmin::text AS order_tx, d.xmin::text AS deal_tx, f.xmin::text AS house_tx "
        "FROM oms.orders o JOIN oms.deals d USING (order_id) "
        "JOIN router.bbook_fills f ON f.order_id = o.order_id::text WHERE o.order_id = $1",
        order_id,
    )
    assert writers is not None, f"order {order_id} has no deal or no house fill"
    return bool(writers["order_tx"] == writers["deal_tx"] == writers["house_tx"])


async def published_states(db: asyncpg.Connection, order_id: int) -> list[str]:
    """The states oms published for an order: its ``order_update`` events, in order."""
    rows = await db.fetch(
        "SELECT payload FROM oms.outbox WHERE event_type = 'order_update' "
        "AND payload->'data'->>'orderId' = $1 ORDER BY outbox_id",
        str(order_id),
    )
    return [json.loads(r["payload"])["data"]["status"] for r in rows]


async def market(
    edge: httpx.AsyncClient, auth: dict[str, str], side: str, key: str
) -> dict[str, Any]:
    reply = await edge.post(
        "/api/orders/market",
        json={"symbol": "EURUSD", "side": side, "volume": "0.10", "clientOrderId": key},
        headers=auth,
    )
    assert reply.status_code == 200, reply.text
    return {**reply.json(), "traceId": reply.headers.get("x-trace-id")}


async def test_b_and_a_book_orders_when_router_runs_in_oms_then_filled_booked_and_explained(
    oms_router_stack: Stack,
) -> None:
    stack = oms_router_stack
    assert "router" not in {spec.name for spec in stack.specs}
    account_id, login_name, password = await open_account(stack)
    db = await asyncpg.connect(stack.config.postgres_dsn)
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        try:
            auth = await login(edge, login_name, password)
            await pin_eurusd(lpsim, "1.08444", "1.08456")
            await wait_for_client_quote(stack, "1.08456")
            house_before = await client_net_eurusd(stack)

            b_book = await market(edge, auth, "BUY", "rio-b-1")
            assert b_book["order"]["status"] == "FILLED", b_book
            assert money(b_book["fills"][0]["price"]) == Decimal("1.08456")
            assert (b_book["order"]["book"], [f["venue"] for f in b_book["fills"]]) == (
                "B",
                ["BBOOK"],
            )
            # The house took the other side, in the book the router serves from oms's process.
            assert await client_net_eurusd(stack) == house_before - Decimal("0.10")
            # Accepted, routed, filled from the house and booked on the account in one
            # transaction: the order, its deal and the house's fill have the same writer.
            assert await one_writer(db, int(b_book["order"]["orderId"]))
            # Nobody ever saw it FILLING: its one update is the state it committed in.
            assert await published_states(db, int(b_book["order"]["orderId"])) == ["FILLED"]
            decision = await db.fetchrow(
                "SELECT book, trace_id FROM router.routing_decisions WHERE order_id = $1",
                b_book["order"]["orderId"],
            )
            # Recorded under the client request's trace, as over gRPC.
            assert decision is not None
            assert (decision["book"], decision["trace_id"]) == ("B", b_book["traceId"])

            # The account forced to A-book: the same in-process router sends it to the LP.
            await db.execute(
                "INSERT INTO router.account_overrides (account_id, book, reason) "
                "VALUES ($1, 'A', 'E2E_FORCED_A')",
                account_id,
            )
            a_book = await market(edge, auth, "BUY", "rio-a-1")
            assert a_book["order"]["status"] == "FILLED", a_book
            assert a_book["order"]["book"] == "A"
            [fill] = a_book["fills"]
            assert fill["venue"] == "LPSIM"
            # The LP's ask (pinned at the client's ask less the markup) plus the markup.
            assert money(fill["price"]) == Decimal("1.08451") + MARKUP
            # An A-book fill is the LP's risk, not the house's.
            assert await client_net_eurusd(stack) == house_before - Decimal("0.10")
            assert len(await open_positions(edge, auth)) == 2
            await assert_balance_is_sum_of_ledger(edge, auth)
        finally:
            await db.execute(
                "DELETE FROM router.account_overrides WHERE account_id = $1", account_id
            )
            await db.close()


@dataclass(frozen=True)
class Trader:
    """A fresh funded account logged in at edge, with the database and the LP simulator."""

    account_id: int
    edge: httpx.AsyncClient
    auth: dict[str, str]
    lpsim: httpx.AsyncClient
    db: asyncpg.Connection


@asynccontextmanager
async def trader_at_pinned_price(stack: Stack, *, netting: bool = False) -> AsyncIterator[Trader]:
    """A ``Trader`` (a ``netting`` account or a hedging one) once EURUSD's client price is pinned
    at 1.08444 / 1.08456."""
    account_id, login_name, password = await open_account(stack, netting=netting)
    db = await asyncpg.connect(stack.config.postgres_dsn)
    try:
        async with (
            httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
            httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
        ):
            auth = await login(edge, login_name, password)
            await pin_eurusd(lpsim, "1.08444", "1.08456")
            await wait_for_client_quote(stack, "1.08456")
            yield Trader(int(account_id), edge, auth, lpsim, db)
    finally:
        await db.close()


async def test_netting_and_triggered_orders_when_router_runs_in_oms_then_filled_in_one_transaction(
    oms_router_stack: Stack,
) -> None:
    """A netting account's order against its position (it follows the position's venue) and a
    limit order the watcher triggers take the one-transaction path too."""
    async with trader_at_pinned_price(oms_router_stack, netting=True) as trader:
        edge, auth, db = trader.edge, trader.auth, trader.db
        opened = await market(edge, auth, "BUY", "rio-net-open")
        reduced = await market(edge, auth, "SELL", "rio-net-reduce")

        assert reduced["order"]["status"] == "FILLED", reduced
        assert await open_positions(edge, auth) == []  # the netting position closed
        reason = await db.fetchval(
            "SELECT reason FROM router.routing_decisions WHERE order_id = $1",
            reduced["order"]["orderId"],
        )
        assert reason == "CLOSE_FOLLOWS_VENUE"
        assert await one_writer(db, int(opened["order"]["orderId"]))
        assert await one_writer(db, int(reduced["order"]["orderId"]))

        placed = await edge.post(
            "/api/orders/limit",
            json={
                "symbol": "EURUSD",
                "side": "BUY",
                "volume": "0.10",
                "price": "1.08400",
                "clientOrderId": "rio-limit",
            },
            headers=auth,
        )
        assert placed.status_code == 200, placed.text
        limit_id = placed.json()["order"]["orderId"]
        await pin_eurusd(trader.lpsim, "1.08380", "1.08392")  # the ask falls below the limit

        async def filled() -> bool:
            reply = await edge.get(f"/api/orders/{limit_id}", headers=auth)
            return bool(reply.json()["order"]["status"] == "FILLED")

        await eventually("the limit order triggered and filled", filled)
        assert await one_writer(db, int(limit_id))
        # Placed (WORKING, committed), then triggered and filled in one transaction.
        assert await published_states(db, int(limit_id)) == ["WORKING", "FILLED"]
        await assert_balance_is_sum_of_ledger(edge, auth)


async def test_close_of_a_house_position_when_router_runs_in_oms_then_filled_in_one_transaction(
    oms_router_stack: Stack,
) -> None:
    stack = oms_router_stack
    async with trader_at_pinned_price(stack) as trader:
        edge, auth = trader.edge, trader.auth
        house_before = await client_net_eurusd(stack)
        await market(edge, auth, "BUY", "rio-close-open")
        [position] = await open_positions(edge, auth)

        closed = await edge.post(
            f"/api/positions/{position['positionId']}/close",
            json={"clientOrderId": "rio-close"},
            headers=auth,
        )

        assert closed.status_code == 200, closed.text
        order = closed.json()["order"]
        assert (order["status"], order["book"]) == ("FILLED", "B"), order
        assert await open_positions(edge, auth) == []
        assert await client_net_eurusd(stack) == house_before
        # The close order, its OUT deal and the house's fill: one transaction.
        assert await one_writer(trader.db, int(order["orderId"]))
        await assert_balance_is_sum_of_ledger(edge, auth)


async def test_b_book_order_when_its_booking_fails_then_nothing_of_it_stored_and_the_house_trades_on(
    oms_router_stack: Stack,
) -> None:
    """The B-book order's house fill commits in the transaction that books it on the account:
    when that booking fails, neither the order, its routing nor the house's fill remains, and
    the house book (which waits for each fill's transaction) is not held up by it."""
    stack = oms_router_stack
    async with trader_at_pinned_price(stack) as trader:
        edge, auth, db, account_id = trader.edge, trader.auth, trader.db, trader.account_id
        await db.execute(
            "CREATE FUNCTION e2e_refuse_deal() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'e2e: this deal is refused'; END $$"
        )
        await db.execute(
            "CREATE TRIGGER e2e_refuse_deal BEFORE INSERT ON oms.deals FOR EACH ROW "
            f"WHEN (NEW.account_id = {account_id} AND NEW.volume = 0.37) "
            "EXECUTE FUNCTION e2e_refuse_deal()"
        )
        try:
            house_before = await client_net_eurusd(stack)
            fills_before = await db.fetchval(
                "SELECT count(*) FROM router.bbook_fills WHERE account_id = $1", str(account_id)
            )

            refused = await edge.post(
                "/api/orders/market",
                json={
                    "symbol": "EURUSD",
                    "side": "BUY",
                    "volume": "0.37",
                    "clientOrderId": "rio-refused",
                },
                headers=auth,
            )

            assert refused.status_code == 500, refused.text
            assert refused.json()["code"] == "INTERNAL", refused.text
            stored = await db.fetchval(
                "SELECT count(*) FROM oms.orders WHERE account_id = $1 AND client_order_id = $2",
                account_id,
                "rio-refused",
            )
            fills_after = await db.fetchval(
                "SELECT count(*) FROM router.bbook_fills WHERE account_id = $1", str(account_id)
            )
            assert (stored, fills_after) == (0, fills_before)
            assert await client_net_eurusd(stack) == house_before
            # The symbol's next fill is booked at its commit, not held behind the lost one.
            after = await market(edge, auth, "BUY", "rio-after-refused")
            assert after["order"]["status"] == "FILLED", after
            assert await client_net_eurusd(stack) == house_before - Decimal("0.10")
            await assert_balance_is_sum_of_ledger(edge, auth)
        finally:
            await db.execute("DROP TRIGGER e2e_refuse_deal ON oms.deals")
            await db.execute("DROP FUNCTION e2e_refuse_deal()")


async def test_oms_with_its_router_killed_then_restarted_then_house_book_rebuilt_and_orders_fill(
    oms_router_stack: Stack,
) -> None:
    stack = oms_router_stack
    _, login_name, password = await open_account(stack)
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        auth = await login(edge, login_name, password)
        await pin_eurusd(lpsim, "1.08444", "1.08456")
        await wait_for_client_quote(stack, "1.08456")

        async def fills(key: str) -> bool:
            answer = await market(edge, auth, "SELL", key)
            return bool(answer["order"]["status"] == "FILLED")

        await eventually("a first fill", lambda: fills("rio-kill-1"))
        house_before = await client_net_eurusd(stack)

        stack.kill("oms")  # SIGKILL: the router goes down with it, mid-nothing or mid-batch
        await stack.restart("oms")

        # The house book was rebuilt from PostgreSQL: the same net as before the crash.
        assert await client_net_eurusd(stack) == house_before
        await eventually("a fill after the restart", lambda: fills("rio-kill-2"))
        assert await client_net_eurusd(stack) == house_before + Decimal("0.10")
        [first, second] = await open_positions(edge, auth)
        assert {first["side"], second["side"]} == {"SELL"}
        await assert_balance_is_sum_of_ledger(edge, auth)


async def test_burst_with_oms_killed_mid_group_commit_then_every_acknowledged_order_stored_whole(
    oms_router_stack: Stack,
) -> None:
    """kill -9 of oms while several accounts' orders are committing together (group commit):
    every order a client was told about is stored as told, and no stored order is half written
    (a fill without its deals, a deal without its fee, a balance that is not its ledger's sum)."""
    stack = oms_router_stack
    accounts = [await open_account(stack) for _ in range(4)]
    account_ids = [int(a[0]) for a in accounts]
    db = await asyncpg.connect(stack.config.postgres_dsn)
    async with (
        httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge,
        httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0) as lpsim,
    ):
        try:
            auths = [await login(edge, name, password) for _, name, password in accounts]
            await pin_eurusd(lpsim, "1.08444", "1.08456")
            await wait_for_client_quote(stack, "1.08456")
            told: dict[str, str] = {}  # clientOrderId -> the status the client was answered
            enough = asyncio.Event()

            async def lane(account: int, lane_no: int) -> None:
                for n in range(60):
                    key = f"gc-kill-{account_ids[account]}-{lane_no}-{n}"
                    try:
                        reply = await edge.post(
                            "/api/orders/market",
                            json={
                                "symbol": "EURUSD",
                                "side": "BUY",
                                "volume": "0.01",
                                "clientOrderId": key,
                            },
                            headers=auths[account],
                        )
                    except httpx.TransportError:
                        continue
                    if reply.status_code == 200:
                        told[key] = reply.json()["order"]["status"]
                        if len(told) >= 40:
                            enough.set()
                    elif enough.is_set():
                        return  # oms is gone: this lane has seen the crash
                    else:
                        await asyncio.sleep(0.05)  # refused (429/503): as a client would

            lanes = [
                asyncio.create_task(lane(a, n)) for a in range(len(accounts)) for n in range(4)
            ]
            await asyncio.wait_for(enough.wait(), WAIT)
            stack.kill("oms")  # SIGKILL while 16 lanes keep orders committing
            await asyncio.gather(*lanes)
            await stack.restart("oms")  # startup recovery settles every order left in flight

            assert told
            assert set(told.values()) == {"FILLED"}, told
            stored = {
                r["client_order_id"]: r
                for r in await db.fetch(
                    "SELECT o.client_order_id, o.status, o.volume, o.filled_volume, "
                    "(SELECT count(*) FROM oms.deals d WHERE d.order_id = o.order_id) AS deals, "
                    "(SELECT coalesce(sum(d.volume), 0) FROM oms.deals d "
                    " WHERE d.order_id = o.order_id) AS dealt, "
                    "(SELECT count(*) FROM oms.deals d JOIN oms.ledger l USING (deal_id) "
                    " WHERE d.order_id = o.order_id AND l.type = 'COMMISSION') AS fees, "
                    "(SELECT count(*) FROM oms.positions p WHERE p.open_order_id = o.order_id) "
                    " AS positions "
                    "FROM oms.orders o WHERE o.account_id = ANY($1::bigint[])",
                    account_ids,
                )
            }
            # Every order a client was told FILLED is stored FILLED.
            assert {k: stored[k]["status"] for k in told if k in stored} == told
            for key, row in stored.items():
                # After recovery nothing is left in flight, and each order is whole: filled
                # orders with their deal, fee and position, the others with none of them.
                assert row["status"] in ("FILLED", "REJECTED"), (key, row["status"])
                whole = (1, row["volume"], 1, 1) if row["status"] == "FILLED" else (0, 0, 0, 0)
                assert (row["deals"], row["dealt"], row["fees"], row["positions"]) == whole, key
                assert row["filled_volume"] == whole[1], key
            unbalanced = await db.fetch(
                "SELECT a.account_id FROM oms.accounts a WHERE a.account_id = ANY($1::bigint[]) "
                "AND a.balance <> (SELECT sum(l.amount) FROM oms.ledger l "
                "WHERE l.account_id = a.account_id)",
                account_ids,
            )
            assert unbalanced == []

            # And the restarted oms trades on (edge reconnects first: retried with the same key,
            # as a client told ORDER_OUTCOME_UNKNOWN does).
            async def trades_on() -> bool:
                after = await edge.post(
                    "/api/orders/market",
                    json={
                        "symbol": "EURUSD",
                        "side": "BUY",
                        "volume": "0.01",
                        "clientOrderId": "gc-after",
                    },
                    headers=auths[0],
                )
                return after.status_code == 200 and after.json()["order"]["status"] == "FILLED"

            await eventually("an order after the restart", trades_on)
        finally:
            await db.close()
