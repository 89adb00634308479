"""An in-process oms on 127.0.0.1:0 against real PostgreSQL, Redis and RabbitMQ, and a stand-in router.

oms gets its own freshly migrated database for this test session, where every demo symbol trades
around the clock (the demo FX sessions close at weekends) except ``AUDUSD``, which keeps the demo
FX sessions for the session tests. oms's clock is ``oms.clock``: real time unless a test sets it.

The stand-in router is a real grpc.aio RouterService, the test double of the process boundary: it
fills at the client price in Redis (buy at the ask, sell at the bid), honours ``limit_price``
(LIMIT_NOT_REACHED beyond it), answers a repeated Execute of an order with the same execution, and
implements ReconcileExecution (the recorded execution, else a fence and NOT_EXECUTED). Tests switch
``mode`` to reject, partial-fill, fail before executing, lose the answer after executing, or be down.
Like the real router it sends a close where ``close_book`` / ``close_venue`` say (an A-book fill at
that LP), and ``abook_venue`` makes it fill other orders A-book at that LP.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher
from oms_helpers import open_all_sessions, sessions_json

from devstack.catalogue import DEMO_ACCOUNT, DEMO_SYMBOLS, FX_SESSIONS
from fxmesh.migrations import migrate_all
from fxmesh.quotecache import ClientQuote, read_quote, write_quote
from fxmesh.v1 import oms_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from oms.config import OmsSettings
from oms.seed import seed
from oms.server import OmsApp

_logins = itertools.count(1)
_PG_SERVER = os.environ.get("FXMESH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
_HASH = PasswordHasher().hash("secret-pw")


class Clock:
    """oms's clock in tests: real UTC time, or ``at`` once a test sets it."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or datetime.now(UTC)


class StandInRouter(router_pb2_grpc.RouterServiceServicer):
    """Fills at the current client quote, or does what ``mode`` says.

    ``gate`` (an Event) holds every Execute until it is set.
    mode: fill | reject | partial (half the volume, whatever the time in force: a venue breaking
    FOK) | fail (UNAVAILABLE before executing) | lost (executes, then the answer is lost) | down
    (Execute and ReconcileExecution both UNAVAILABLE) | crash (executes, then the router is gone:
    the answer is lost and ReconcileExecution is UNAVAILABLE too) | repeat (the fill reported twice
    in one answer, each half the volume: a venue repeating itself) | reuse (the previous order's
    fill id again: a venue reusing an id).
    """

    def __init__(self, redis_url: str) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.mode = "fill"
        self.requests: list[router_pb2.ExecuteRequest] = []
        self.reconciles: list[str] = []
        self.executed: dict[str, router_pb2.ExecuteResponse] = {}
        self.fenced: set[str] = set()
        self.abook_venue: str | None = None
        self.last_fill_id: str | None = None
        # Set: Execute waits for it before executing (orders held in flight at the router).
        self.gate: asyncio.Event | None = None

    def reset(self) -> None:
        self.mode = "fill"
        self.abook_venue = None
        self.gate = None

    async def Execute(
        self, request: router_pb2.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ExecuteResponse:
        self.requests.append(request)
        if self.gate is not None:
            await self.gate.wait()
        order_id = request.order.order_id
        if self.mode in ("fail", "down"):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "router is down")
        if order_id in self.executed:
            return self.executed[order_id]
        if order_id in self.fenced:
            return self._rejected("ORDER_ABANDONED", "the order was reconciled as not executed")
        if self.mode == "reject":
            return self._rejected("PRICE_DEVIATION_EXCEEDED", "price moved")
        quote = await read_quote(self.redis, request.order.symbol)
        if quote is None:
            return self._rejected("QUOTE_STALE", "no quote")
        buy = request.order.side == types_pb2.SIDE_BUY
        price = quote.ask if buy else quote.bid
        if request.limit_price:
            limit = Decimal(request.limit_price)
            if (price > limit) if buy else (price < limit):
                return self._rejected("LIMIT_NOT_REACHED", f"{price} is beyond the limit {limit}")
        volume = Decimal(request.order.volume)
        status = router_pb2.EXECUTION_STATUS_FILLED
        if self.mode == "partial":
            volume, status = volume / 2, router_pb2.EXECUTION_STATUS_PARTIALLY_FILLED
        book, venue, reason = types_pb2.BOOK_B, "BBOOK", "DEFAULT_B_BOOK"
        if request.close_book == types_pb2.BOOK_A:
            book, venue, reason = types_pb2.BOOK_A, request.close_venue, "CLOSE_FOLLOWS_VENUE"
        elif request.close_book == types_pb2.BOOK_B:
            reason = "CLOSE_FOLLOWS_VENUE"
        elif self.abook_venue:
            book, venue, reason = types_pb2.BOOK_A, self.abook_venue, "ABOOK_RULE"
        abook = book == types_pb2.BOOK_A
        fill = types_pb2.Fill(
            fill_id=f"{'A' if abook else 'B'}-{uuid.uuid4().hex}",
            price=str(price),
            volume=str(volume),
            book=book,
            venue=venue,
            venue_order_id=f"{venue}-ORD-{order_id}" if abook else "",
            venue_price=str(price) if abook else "",
        )
        fill.fill_time.GetCurrentTime()
        fills = [fill]
        if self.mode == "repeat":
            fill.volume = str(volume / 2)
            fills = [fill, fill]
        elif self.mode == "reuse" and self.last_fill_id is not None:
            fill.fill_id = self.last_fill_id
        self.last_fill_id = fill.fill_id
        response = router_pb2.ExecuteResponse(
            book=book, routing_reason=reason, status=status, fills=fills
        )
        self.executed[order_id] = response
        if self.mode in ("lost", "crash"):
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "the answer was lost")
        return response

    async def ReconcileExecution(
        self, request: router_pb2.ReconcileExecutionRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ReconcileExecutionResponse:
        self.reconciles.append(request.order_id)
        if self.mode in ("down", "crash"):
            await context.abort(grpc.StatusCode.UNAVAILABLE, "router is down")
        done = self.executed.get(request.order_id)
        if done is not None:
            return router_pb2.ReconcileExecutionResponse(
                book=done.book,
                routing_reason=done.routing_reason,
                status=done.status,
                fills=done.fills,
            )
        self.fenced.add(request.order_id)
        return router_pb2.ReconcileExecutionResponse(
            status=router_pb2.EXECUTION_STATUS_REJECTED,
            reject_reason="NOT_EXECUTED",
            reject_message=f"order {request.order_id} was not executed",
        )

    @staticmethod
    def _rejected(reason: str, message: str) -> router_pb2.ExecuteResponse:
        return router_pb2.ExecuteResponse(
            book=types_pb2.BOOK_B,
            routing_reason="DEFAULT_B_BOOK",
            status=router_pb2.EXECUTION_STATUS_REJECTED,
            reject_reason=reason,
            reject_message=message,
        )


@dataclass
class OmsHarness:
    stub: oms_pb2_grpc.OmsServiceStub
    router: StandInRouter
    dsn: str
    app: OmsApp
    clock: Clock
    settings: OmsSettings
    accounts: list[int] = field(default_factory=list)

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)

    async def new_account(
        self,
        *,
        deposit: str = "10000.00",
        leverage: int = 100,
        status: str = "ACTIVE",
        currency: str = "USD",
        margin_mode: str = "HEDGING",
        password: str | None = None,
        margin_call_level: str = "100",
        stop_out_level: str = "50",
        negative_balance_protection: bool = True,
        max_open_positions: int = 0,
        max_daily_volume: str | None = None,
    ) -> int:
        """A fresh account funded through the ledger (USD hedging unless told otherwise)."""
        login = f"it-{uuid.uuid4().hex[:8]}-{next(_logins)}"
        conn = await self.db()
        try:
            async with conn.transaction():
                account_id: int = await conn.fetchval(
                    "INSERT INTO oms.accounts (login, password_hash, type, currency, leverage, "
                    "status, client_group, margin_mode, margin_call_level, stop_out_level, "
                    "negative_balance_protection, max_open_positions, max_daily_volume) "
                    "VALUES ($1, $2, 'DEMO', $3, $4, $5, 'retail', $6, $7, $8, $9, $10, $11) "
                    "RETURNING account_id",
                    login,
                    PasswordHasher().hash(password) if password else _HASH,
                    currency,
                    leverage,
                    status,
                    margin_mode,
                    Decimal(margin_call_level),
                    Decimal(stop_out_level),
                    negative_balance_protection,
                    max_open_positions,
                    Decimal(max_daily_volume) if max_daily_volume else None,
                )
                amount = Decimal(deposit)
                if amount > 0:
                    await conn.execute(
                        "UPDATE oms.accounts SET balance = $2 WHERE account_id = $1",
                        account_id,
                        amount,
                    )
                    await conn.execute(
                        "INSERT INTO oms.ledger (account_id, type, amount, balance_before, "
                        "balance_after, currency) VALUES ($1, 'DEPOSIT', $2, 0, $2, $3)",
                        account_id,
                        amount,
                        currency,
                    )
        finally:
            await conn.close()
        return account_id


QuoteWriter = Callable[[str, str, str], Awaitable[None]]


@pytest.fixture
def put_quote(redis_client: aioredis.Redis) -> QuoteWriter:
    """Write a client quote (symbol, bid, ask) as the quotes service does."""

    async def write(symbol: str, bid: str, ask: str) -> None:
        now_ms = int(time.time() * 1000)
        await write_quote(redis_client, ClientQuote(symbol, Decimal(bid), Decimal(ask), now_ms))

    return write


@asynccontextmanager
async def migrated_database(prefix: str) -> AsyncIterator[str]:
    """A new database with every service's migrations applied, dropped on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    dsn = f"{_PG_SERVER}/{name}"
    await migrate_all(dsn)
    try:
        yield dsn
    finally:
        conn = await asyncpg.connect(f"{_PG_SERVER}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture
async def empty_oms_dsn() -> AsyncIterator[str]:
    """A database of this test's own, migrated and empty (no service runs on it)."""
    async with migrated_database("fxmesh_test_empty") as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def oms_dsn() -> AsyncIterator[str]:
    """oms's own database: migrated, seeded, symbols always open but AUDUSD, one disabled."""
    async with migrated_database("fxmesh_test_oms") as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            await seed(conn, DEMO_SYMBOLS, DEMO_ACCOUNT)
            await open_all_sessions(conn)
            await conn.execute(
                "INSERT INTO oms.symbols (symbol, description, asset_class, base_currency, "
                "quote_currency, digits, contract_size, volume_min, volume_max, volume_step, "
                "commission_currency, enabled) VALUES ('EURCHF', 'disabled', 'FX', 'EUR', 'CHF', 5, "
                "100000, 0.01, 50, 0.01, 'USD', false) ON CONFLICT DO NOTHING"
            )
            await conn.execute(
                "INSERT INTO oms.symbols (symbol, description, asset_class, base_currency, "
                "quote_currency, digits, contract_size, volume_min, volume_max, volume_step, "
                "stops_level_points, commission_per_lot, commission_currency, trading_sessions, "
                "enabled) VALUES ('AUDUSD', 'FX sessions', 'FX', 'AUD', 'USD', 5, 100000, 0.01, 50, "
                "0.01, 10, 3.50, 'USD', $1::text::jsonb, true) ON CONFLICT DO NOTHING",
                sessions_json(FX_SESSIONS),
            )
        finally:
            await conn.close()
        yield dsn


def oms_settings(
    dsn: str, redis_url: str, amqp_url: str, exchange: str, router_port: int, **extra: object
) -> OmsSettings:
    return OmsSettings(
        profile="test",
        postgres_dsn=dsn,
        redis_url=redis_url,
        amqp_url=amqp_url,
        events_exchange=exchange,
        oms_addr="127.0.0.1:0",
        router_addr=f"127.0.0.1:{router_port}",
        metrics_port=0,
        grpc_deadline_seconds=10.0,
        shutdown_grace_seconds=1.0,
        symbols_cache_seconds=0.0,
        **extra,
    )


@pytest.fixture(scope="session")
async def oms(
    oms_dsn: str, redis_url: str, amqp_url: str, events_exchange: str
) -> AsyncIterator[OmsHarness]:
    router = StandInRouter(redis_url)
    router_server = grpc.aio.server()
    router_pb2_grpc.add_RouterServiceServicer_to_server(router, router_server)
    router_port = router_server.add_insecure_port("127.0.0.1:0")
    await router_server.start()
    settings = oms_settings(oms_dsn, redis_url, amqp_url, events_exchange, router_port)
    clock = Clock()
    app = OmsApp(settings, now=clock)
    port = await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield OmsHarness(
            oms_pb2_grpc.OmsServiceStub(channel), router, oms_dsn, app, clock, settings
        )
    finally:
        await channel.close()
        await app.stop()
        await router_server.stop(None)
        await router.redis.aclose()


@pytest.fixture(autouse=True)
def _router_fills_by_default(request: pytest.FixtureRequest) -> None:
    if "oms" in request.fixturenames:
        harness = request.getfixturevalue("oms")
        harness.router.reset()
        harness.clock.at = None
