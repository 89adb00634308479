"""An in-process oms on 127.0.0.1:0 against real PostgreSQL, Redis and RabbitMQ, and a stand-in router.

The stand-in router is a real grpc.aio RouterService that fills at the client price in Redis (buy
at the ask, sell at the bid); tests switch it to reject, partial-fill or fail.
"""

from __future__ import annotations

import itertools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal

import asyncpg
import grpc
import pytest
import redis.asyncio as aioredis
from argon2 import PasswordHasher

from fxmesh.quotecache import ClientQuote, read_quote, write_quote
from fxmesh.v1 import oms_pb2_grpc, router_pb2, router_pb2_grpc, types_pb2
from oms.config import OmsSettings
from oms.seed import seed
from oms.server import OmsApp

_logins = itertools.count(1)


class StandInRouter(router_pb2_grpc.RouterServiceServicer):
    """Fills at the current client quote, or does what ``mode`` says."""

    def __init__(self, redis_url: str) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
        self.mode = "fill"  # fill | reject | partial | fail
        self.requests: list[router_pb2.ExecuteRequest] = []

    async def Execute(
        self, request: router_pb2.ExecuteRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ExecuteResponse:
        self.requests.append(request)
        if self.mode == "fail":
            await context.abort(grpc.StatusCode.UNAVAILABLE, "router is down")
        if self.mode == "reject":
            return router_pb2.ExecuteResponse(
                book=types_pb2.BOOK_B,
                routing_reason="DEFAULT_B_BOOK",
                status=router_pb2.EXECUTION_STATUS_REJECTED,
                reject_reason="PRICE_DEVIATION_EXCEEDED",
                reject_message="price moved",
            )
        quote = await read_quote(self.redis, request.order.symbol)
        assert quote is not None
        price = quote.ask if request.order.side == types_pb2.SIDE_BUY else quote.bid
        volume = Decimal(request.order.volume)
        status = router_pb2.EXECUTION_STATUS_FILLED
        if self.mode == "partial":
            volume, status = volume / 2, router_pb2.EXECUTION_STATUS_PARTIALLY_FILLED
        fill = types_pb2.Fill(
            fill_id=f"B-{uuid.uuid4().hex}",
            price=str(price),
            volume=str(volume),
            book=types_pb2.BOOK_B,
            venue="BBOOK",
        )
        fill.fill_time.GetCurrentTime()
        return router_pb2.ExecuteResponse(
            book=types_pb2.BOOK_B, routing_reason="DEFAULT_B_BOOK", status=status, fills=[fill]
        )


@dataclass
class OmsHarness:
    stub: oms_pb2_grpc.OmsServiceStub
    router: StandInRouter
    dsn: str
    app: OmsApp
    accounts: list[int] = field(default_factory=list)

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)

    async def new_account(
        self,
        *,
        deposit: str = "10000.00",
        leverage: int = 100,
        status: str = "ACTIVE",
        password: str = "secret-pw",
    ) -> int:
        """A fresh USD hedging account funded through the ledger."""
        login = f"it-{uuid.uuid4().hex[:8]}-{next(_logins)}"
        conn = await self.db()
        try:
            async with conn.transaction():
                account_id: int = await conn.fetchval(
                    "INSERT INTO oms.accounts (login, password_hash, type, currency, leverage, "
                    "status, client_group) VALUES ($1, $2, 'DEMO', 'USD', $3, $4, 'retail') "
                    "RETURNING account_id",
                    login,
                    PasswordHasher().hash(password),
                    leverage,
                    status,
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
                        "balance_after, currency) VALUES ($1, 'DEPOSIT', $2, 0, $2, 'USD')",
                        account_id,
                        amount,
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


@pytest.fixture(scope="session")
async def oms_dsn(pg_dsn: str) -> str:
    """The test database seeded with the demo catalogue plus one disabled symbol."""
    conn = await asyncpg.connect(pg_dsn)
    try:
        await seed(conn)
        await conn.execute(
            "INSERT INTO oms.symbols (symbol, description, asset_class, base_currency, "
            "quote_currency, digits, contract_size, volume_min, volume_max, volume_step, "
            "commission_currency, enabled) VALUES ('EURCHF', 'disabled', 'FX', 'EUR', 'CHF', 5, "
            "100000, 0.01, 50, 0.01, 'USD', false) ON CONFLICT DO NOTHING"
        )
    finally:
        await conn.close()
    return pg_dsn


@pytest.fixture(scope="session")
async def oms(
    oms_dsn: str, redis_url: str, amqp_url: str, events_exchange: str
) -> AsyncIterator[OmsHarness]:
    router = StandInRouter(redis_url)
    router_server = grpc.aio.server()
    router_pb2_grpc.add_RouterServiceServicer_to_server(router, router_server)
    router_port = router_server.add_insecure_port("127.0.0.1:0")
    await router_server.start()
    settings = OmsSettings(
        profile="test",
        postgres_dsn=oms_dsn,
        redis_url=redis_url,
        amqp_url=amqp_url,
        events_exchange=events_exchange,
        oms_addr="127.0.0.1:0",
        router_addr=f"127.0.0.1:{router_port}",
        metrics_port=0,
        grpc_deadline_seconds=10.0,
        shutdown_grace_seconds=1.0,
        symbols_cache_seconds=0.0,
    )
    app = OmsApp(settings)
    port = await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield OmsHarness(oms_pb2_grpc.OmsServiceStub(channel), router, oms_dsn, app)
    finally:
        await channel.close()
        await app.stop()
        await router_server.stop(None)
        await router.redis.aclose()


@pytest.fixture(autouse=True)
def _router_fills_by_default(request: pytest.FixtureRequest) -> None:
    if "oms" in request.fixturenames:
        request.getfixturevalue("oms").router.mode = "fill"
