"""Money invariants of trading under random sequences, through the real oms over gRPC.

Random deposits, withdrawals, quote moves, market orders (some invalid), closes, partial closes and
idempotent retries run against a HEDGING and a NETTING account of an in-process oms (real
PostgreSQL, Redis and a stand-in router over real gRPC that fills at the client price). After every
step the database must show: balance == sum(ledger.amount), every row balance_after =
balance_before + amount, every order in one state (market orders terminal), each fill applied once,
one order per client_order_id, open volume == the net of the deals, at most one netting position
per symbol, and the ledger's realized P&L and commission equal to the deals'.
"""

from __future__ import annotations

import itertools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devstack.catalogue import ALWAYS_OPEN, DEMO_ACCOUNT, DEMO_SYMBOLS
from fxmesh.errors import from_rpc_error
from fxmesh.migrations import migrate_all
from fxmesh.quotecache import ClientQuote, read_quote, write_quote
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from oms.config import OmsSettings
from oms.seed import seed
from oms.server import OmsApp

D = Decimal
_PG_SERVER = os.environ.get("FXMESH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
TERMINAL = {"FILLED", "REJECTED", "CANCELLED", "EXPIRED"}
LIVE = {"WORKING", "ACCEPTED", "FILLING", "PARTIALLY_FILLED"}
# (start mid, one move, spread) per symbol, spreads well inside the symbols' max spread.
MARKETS = {
    "EURUSD": (D("1.08450"), D("0.00010"), D("0.00020")),
    "XAUUSD": (D("2650.00"), D("0.50"), D("0.40")),
}
VALID_VOLUMES = ["0.01", "0.10", "0.25", "1.00", "3.00"]
# below the minimum, off the step, above the maximum, more than the margin allows
INVALID_VOLUMES = ["0.001", "0.015", "60", "20"]
SIDES = {"BUY": types_pb2.SIDE_BUY, "SELL": types_pb2.SIDE_SELL}
_ids = itertools.count(1)


class FillingRouter(router_pb2_grpc.RouterServiceServicer):
    """Fills every order in full at the client price in Redis (buy at the ask, sell at the bid)."""

    def __init__(self, redis_url: str) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.executed: dict[str, router_pb2.ExecuteResponse] = {}

    async def Execute(
        self, request: router_pb2.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ExecuteResponse:
        order_id = request.order.order_id
        if order_id in self.executed:
            return self.executed[order_id]
        quote = await read_quote(self.redis, request.order.symbol)
        if quote is None:
            return router_pb2.ExecuteResponse(
                status=router_pb2.EXECUTION_STATUS_REJECTED, reject_reason="QUOTE_STALE"
            )
        buy = request.order.side == types_pb2.SIDE_BUY
        fill = types_pb2.Fill(
            fill_id=f"P-{uuid.uuid4().hex}",
            price=str(quote.ask if buy else quote.bid),
            volume=request.order.volume,
            book=types_pb2.BOOK_B,
            venue="BBOOK",
        )
        fill.fill_time.GetCurrentTime()
        response = router_pb2.ExecuteResponse(
            book=types_pb2.BOOK_B,
            routing_reason="DEFAULT_B_BOOK",
            status=router_pb2.EXECUTION_STATUS_FILLED,
            fills=[fill],
        )
        self.executed[order_id] = response
        return response

    async def ReconcileExecution(
        self, request: router_pb2.ReconcileExecutionRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ReconcileExecutionResponse:
        done = self.executed.get(request.order_id)
        if done is not None:
            return router_pb2.ReconcileExecutionResponse(
                book=done.book,
                routing_reason=done.routing_reason,
                status=done.status,
                fills=done.fills,
            )
        return router_pb2.ReconcileExecutionResponse(
            status=router_pb2.EXECUTION_STATUS_REJECTED, reject_reason="NOT_EXECUTED"
        )


@dataclass
class TradingEnv:
    stub: oms_pb2_grpc.OmsServiceStub
    dsn: str
    redis: aioredis.Redis


@pytest.fixture(scope="module")
async def trading(redis_url: str, amqp_url: str, events_exchange: str) -> AsyncIterator[TradingEnv]:
    """A real oms over gRPC on its own database, where every symbol trades around the clock."""
    name = f"fxmesh_test_omsprop_{uuid.uuid4().hex[:8]}"
    dsn = f"{_PG_SERVER}/{name}"
    await migrate_all(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        await seed(conn, DEMO_SYMBOLS, DEMO_ACCOUNT)
        await conn.execute(
            "UPDATE oms.symbols SET trading_sessions = $1::text::jsonb",
            json.dumps([{"weekday": d, "from": f, "to": t} for d, f, t in ALWAYS_OPEN]),
        )
    finally:
        await conn.close()
    router = FillingRouter(redis_url)
    router_server = grpc.aio.server()
    router_pb2_grpc.add_RouterServiceServicer_to_server(router, router_server)
    router_port = router_server.add_insecure_port("127.0.0.1:0")
    await router_server.start()
    app = OmsApp(
        OmsSettings(
            profile="test",
            postgres_dsn=dsn,
            redis_url=redis_url,
            amqp_url=amqp_url,
            events_exchange=events_exchange,
            oms_addr="127.0.0.1:0",
            router_addr=f"127.0.0.1:{router_port}",
            metrics_port=0,
            grpc_deadline_seconds=10.0,
            shutdown_grace_seconds=1.0,
            symbols_cache_seconds=0.0,
        ),
        run_relay=False,
    )
    port = await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield TradingEnv(oms_pb2_grpc.OmsServiceStub(channel), dsn, redis)
    finally:
        await redis.aclose()
        await channel.close()
        await app.stop()
        await router_server.stop(None)
        await router.redis.aclose()
        conn = await asyncpg.connect(f"{_PG_SERVER}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


ACCOUNT = st.integers(min_value=0, max_value=1)  # 0: HEDGING, 1: NETTING
SYMBOL = st.sampled_from(sorted(MARKETS))
OPERATIONS = st.one_of(
    st.tuples(st.just("DEPOSIT"), ACCOUNT, st.sampled_from(["1.00", "250.55", "5000"])),
    st.tuples(st.just("WITHDRAW"), ACCOUNT, st.sampled_from(["0.01", "300", "50000"])),
    st.tuples(st.just("QUOTE"), SYMBOL, st.integers(min_value=-40, max_value=40)),
    st.tuples(
        st.just("ORDER"),
        ACCOUNT,
        SYMBOL,
        st.sampled_from(sorted(SIDES)),
        st.sampled_from(VALID_VOLUMES * 2 + INVALID_VOLUMES),
    ),
    st.tuples(st.just("RETRY"), st.integers(min_value=0, max_value=50)),
    st.tuples(
        st.just("CLOSE"),
        ACCOUNT,
        st.integers(min_value=0, max_value=50),
        st.sampled_from(["", "0.01", "0.05", "0.10", "0.50"]),
    ),
)


async def _write_quotes(redis: aioredis.Redis, mids: dict[str, Decimal]) -> None:
    """Fresh client quotes at the current mids (re-written before each trade so none is stale)."""
    now_ms = int(time.time() * 1000)
    for symbol, mid in mids.items():
        half = MARKETS[symbol][2] / 2
        await write_quote(redis, ClientQuote(symbol, mid - half, mid + half, now_ms))


async def _assert_invariants(conn: asyncpg.Connection, account_id: int, netting: bool) -> None:
    # balance == sum(ledger.amount); each row adds up and chains onto the one before
    balance = await conn.fetchval(
        "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
    )
    rows = await conn.fetch(
        "SELECT type, amount, balance_before, balance_after, deal_id FROM oms.ledger "
        "WHERE account_id = $1 ORDER BY ledger_id",
        account_id,
    )
    assert balance == sum((r["amount"] for r in rows), D(0))
    previous = D(0)
    for r in rows:
        assert r["balance_after"] == r["balance_before"] + r["amount"]
        assert r["balance_before"] == previous
        previous = r["balance_after"]

    # every order in exactly one state, its history ending there; market orders are terminal
    orders = await conn.fetch(
        "SELECT o.order_id, o.type, o.status, o.volume, o.filled_volume, "
        "(SELECT e.to_status FROM oms.order_events e WHERE e.order_id = o.order_id "
        " ORDER BY e.seq DESC LIMIT 1) AS last_event, "
        "(SELECT count(*) FROM oms.order_events e WHERE e.order_id = o.order_id "
        " AND e.to_status IN ('FILLED', 'REJECTED', 'CANCELLED', 'EXPIRED')) AS terminal_events, "
        "(SELECT coalesce(sum(d.volume), 0) FROM oms.deals d WHERE d.order_id = o.order_id) "
        " AS dealt FROM oms.orders o WHERE o.account_id = $1",
        account_id,
    )
    for o in orders:
        assert o["status"] in TERMINAL | LIVE | {"PENDING"}, o
        assert o["type"] != "MARKET" or o["status"] in TERMINAL, o
        assert o["last_event"] in (None, o["status"]), o
        assert o["terminal_events"] <= 1, o
        # each fill applied once: the deals of an order add up to its filled volume
        assert o["dealt"] == o["filled_volume"], o
        assert o["status"] != "FILLED" or o["filled_volume"] == o["volume"], o

    # no fill applied twice; one order per client_order_id
    assert not await conn.fetch(
        "SELECT venue, fill_id FROM oms.deals WHERE account_id = $1 "
        "GROUP BY venue, fill_id HAVING count(*) > 1",
        account_id,
    )
    assert not await conn.fetch(
        "SELECT client_order_id FROM oms.orders WHERE account_id = $1 "
        "GROUP BY client_order_id HAVING count(*) > 1",
        account_id,
    )

    # open volume per symbol == the signed net of the deals
    open_net = {
        r["symbol"]: (r["net"], r["n"])
        for r in await conn.fetch(
            "SELECT symbol, sum(CASE side WHEN 'BUY' THEN volume ELSE -volume END) AS net, "
            "count(*) AS n FROM oms.positions WHERE account_id = $1 AND closed_at IS NULL "
            "GROUP BY symbol",
            account_id,
        )
    }
    deal_net = {
        r["symbol"]: r["net"]
        for r in await conn.fetch(
            "SELECT symbol, sum(CASE side WHEN 'BUY' THEN volume ELSE -volume END) AS net "
            "FROM oms.deals WHERE account_id = $1 GROUP BY symbol",
            account_id,
        )
    }
    for symbol in set(open_net) | set(deal_net):
        assert open_net.get(symbol, (D(0), 0))[0] == deal_net.get(symbol, D(0)), symbol
        if netting:
            assert open_net.get(symbol, (D(0), 0))[1] <= 1, symbol
    if not netting:
        # hedging: each position's volume is its IN deals minus its OUT deals
        broken = await conn.fetch(
            "SELECT p.position_id FROM oms.positions p WHERE p.account_id = $1 AND p.volume <> "
            "(SELECT coalesce(sum(CASE d.entry WHEN 'IN' THEN d.volume ELSE -d.volume END), 0) "
            " FROM oms.deals d WHERE d.position_id = p.position_id)",
            account_id,
        )
        assert not broken, broken

    # the ledger's realized P&L and commission are the deals'
    deals = await conn.fetchrow(
        "SELECT coalesce(sum(realized_pnl), 0) AS pnl, coalesce(sum(commission), 0) AS fee "
        "FROM oms.deals WHERE account_id = $1",
        account_id,
    )
    assert sum((r["amount"] for r in rows if r["type"] == "REALIZED_PNL"), D(0)) == deals["pnl"]
    assert sum((r["amount"] for r in rows if r["type"] == "COMMISSION"), D(0)) == deals["fee"]


async def _new_account(stub: oms_pb2_grpc.OmsServiceStub, mode: int) -> int:
    response = await stub.CreateAccount(
        oms_pb2.CreateAccountRequest(
            login=f"prop-trade-{uuid.uuid4().hex[:10]}",
            password="property-pass",
            type=types_pb2.ACCOUNT_TYPE_DEMO,
            currency="USD",
            leverage=100,
            margin_mode=mode,
            initial_deposit="10000.00",
        )
    )
    return int(response.account.account_id)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(operations=st.lists(OPERATIONS, min_size=6, max_size=15))
async def test_trading_when_random_orders_quotes_funds_and_closes_then_money_invariants_hold(
    trading: TradingEnv, operations: list[tuple[Any, ...]]
) -> None:
    stub = trading.stub
    accounts = [
        await _new_account(stub, types_pb2.MARGIN_MODE_HEDGING),
        await _new_account(stub, types_pb2.MARGIN_MODE_NETTING),
    ]
    mids = {symbol: start for symbol, (start, _, _) in MARKETS.items()}
    await _write_quotes(trading.redis, mids)
    placed: list[tuple[oms_pb2.PlaceOrderRequest, oms_pb2.PlaceOrderResponse]] = []
    sent_ids: dict[int, set[str]] = {a: set() for a in accounts}

    conn = await asyncpg.connect(trading.dsn)
    try:
        for op in operations:
            kind = op[0]
            if kind in ("DEPOSIT", "WITHDRAW"):
                _, which, amount = op
                request = oms_pb2.PostBalanceOperationRequest(
                    account_id=str(accounts[which]),
                    type=(
                        types_pb2.LEDGER_ENTRY_TYPE_DEPOSIT
                        if kind == "DEPOSIT"
                        else types_pb2.LEDGER_ENTRY_TYPE_WITHDRAWAL
                    ),
                    amount=amount,
                    request_id=f"bal-{next(_ids)}",
                )
                refusal: str | None = None
                try:
                    await stub.PostBalanceOperation(request)
                except grpc.aio.AioRpcError as exc:
                    refusal = from_rpc_error(exc).reason
                # a withdrawal beyond the free margin is refused; nothing else is
                assert refusal in (None, "NOT_ENOUGH_FREE_MARGIN"), refusal
                assert refusal is None or kind == "WITHDRAW", refusal
            elif kind == "QUOTE":
                _, symbol, moves = op
                start, step, _ = MARKETS[symbol]
                mids[symbol] = start + step * moves
                await _write_quotes(trading.redis, mids)
            elif kind == "ORDER":
                _, which, symbol, side, volume = op
                await _write_quotes(trading.redis, mids)
                request = oms_pb2.PlaceOrderRequest(
                    account_id=str(accounts[which]),
                    client_order_id=f"ord-{next(_ids)}",
                    symbol=symbol,
                    side=SIDES[side],
                    type=types_pb2.ORDER_TYPE_MARKET,
                    volume=volume,
                )
                sent_ids[accounts[which]].add(request.client_order_id)
                response = await stub.PlaceOrder(request)
                assert not response.replayed
                status = response.order.status
                if volume in ("0.001", "0.015", "60"):
                    assert status == types_pb2.ORDER_STATUS_REJECTED, response
                else:
                    assert status in (
                        types_pb2.ORDER_STATUS_FILLED,
                        types_pb2.ORDER_STATUS_REJECTED,
                    ), response
                event(
                    f"{'netting' if which else 'hedging'} order {response.order.reject_reason or 'FILLED'}"
                )
                placed.append((request, response))
            elif kind == "RETRY":
                if not placed:
                    continue
                request, first = placed[op[1] % len(placed)]
                await _write_quotes(trading.redis, mids)
                again = await stub.PlaceOrder(request)
                assert again.replayed
                assert again.order.order_id == first.order.order_id
                assert again.order.status == first.order.status
                # the original result again (the same fills), never a second execution
                assert [f.fill_id for f in again.fills] == [f.fill_id for f in first.fills]
            elif kind == "CLOSE":
                _, which, pick, volume = op
                account_id = accounts[which]
                open_rows = await conn.fetch(
                    "SELECT position_id, volume FROM oms.positions WHERE account_id = $1 "
                    "AND closed_at IS NULL ORDER BY position_id",
                    account_id,
                )
                if not open_rows:
                    continue
                position = open_rows[pick % len(open_rows)]
                if volume and D(volume) >= position["volume"]:
                    volume = ""
                await _write_quotes(trading.redis, mids)
                close = oms_pb2.ClosePositionRequest(
                    account_id=str(account_id),
                    position_id=str(position["position_id"]),
                    volume=volume,
                    client_order_id=f"close-{next(_ids)}",
                )
                sent_ids[account_id].add(close.client_order_id)
                closed = await stub.ClosePosition(close)
                event(f"{'netting' if which else 'hedging'} {'partial ' if volume else ''}close")
                assert closed.order.status == types_pb2.ORDER_STATUS_FILLED, closed
                left = position["volume"] - (D(volume) if volume else position["volume"])
                assert D(closed.position.volume or "0") == left or not left, closed
                retried = await stub.ClosePosition(close)  # an idempotent retry
                assert retried.replayed
                assert retried.order.order_id == closed.order.order_id
            for account_id, netting in zip(accounts, (False, True), strict=True):
                await _assert_invariants(conn, account_id, netting)
                # a retried client_order_id never made a second order
                in_db = {
                    r["client_order_id"]
                    for r in await conn.fetch(
                        "SELECT client_order_id FROM oms.orders WHERE account_id = $1",
                        account_id,
                    )
                }
                assert in_db <= sent_ids[account_id]
    finally:
        await conn.close()
