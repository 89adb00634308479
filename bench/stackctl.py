"""The stack under test: a private fxmesh stack (free ports, own database) plus bench-only data.

Bench data lives here, not in the services: extra funded accounts are inserted straight into the
private database (an ``oms.accounts`` row and a DEPOSIT ledger row, so balance == sum(ledger)),
and their bearer tokens are signed with the stack's own JWT secret, which the harness chose. The
demo account still logs in through edge, so that path is exercised once per run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

from bench.hops import Hop
from bench.machine import CpuMeter
from bench.rawhttp import HttpPool
from devstack import DEMO_ACCOUNT, Stack, StackConfig, claim_redis_db
from fxmesh import passwords
from fxmesh.auth import issue_token
from fxmesh.quotecache import quote_key

Say = Callable[[str], None]
REDIS_SERVER = "redis://127.0.0.1:6379"
# The LP simulator also accepts this counterparty, so the bench can talk FIX to it directly.
BENCH_COMP_ID = "BENCH"
LPSIM_COMP_ID = "LPSIM"
DEMO_LOGIN = os.environ.get("FXMESH_DEMO_LOGIN", DEMO_ACCOUNT.login)
DEMO_PASSWORD = os.environ.get("FXMESH_DEMO_PASSWORD", DEMO_ACCOUNT.password)
TOKEN_TTL = timedelta(hours=6)


@dataclass(frozen=True, slots=True)
class BenchAccount:
    account_id: int
    login: str
    token: str


@dataclass(frozen=True, slots=True)
class SeedPosition:
    """One open position to seed: its lots and the commission its opening fill charged."""

    volume: Decimal
    commission: Decimal  # positive amount in the account currency (a COMMISSION ledger row)


@dataclass(frozen=True, slots=True)
class SeedHolder:
    """One account to seed with open positions: what it deposited and what it holds."""

    deposit: Decimal
    positions: tuple[SeedPosition, ...]


class BenchStack:
    """Start, feed and stop one private stack for a benchmark run."""

    def __init__(self, say: Say, *, router_in_oms: bool = False) -> None:
        self.say = say
        # The router runs in the oms process (StackConfig.router_in_oms), not its own.
        self.router_in_oms = router_in_oms
        self.run_dir = Path(tempfile.mkdtemp(prefix="fxmesh-bench-"))
        self.jwt_secret = secrets.token_urlsafe(32)
        self.redis_db = 0
        self.stack: Stack | None = None
        self._login_seq = 0
        self.failed = False

    @property
    def s(self) -> Stack:
        assert self.stack is not None, "stack not started"
        return self.stack

    @property
    def dsn(self) -> str:
        return self.s.config.postgres_dsn

    @property
    def redis_url(self) -> str:
        return self.s.config.redis_url

    @property
    def lpsim_fix_port(self) -> int:
        return self.s.config.ports.lpsim_fix

    def edge_pool(self, max_connections: int = 256) -> HttpPool:
        return HttpPool(
            self.s.config.host, self.s.config.ports.edge_http, max_connections=max_connections
        )

    def lpsim_pool(self, max_connections: int = 64) -> HttpPool:
        return HttpPool(
            self.s.config.host, self.s.config.ports.lpsim_control, max_connections=max_connections
        )

    async def start(self) -> None:
        self.redis_db = await claim_redis_db(REDIS_SERVER, owner=f"bench:{os.getpid()}")
        config = StackConfig.isolated(
            self.run_dir,
            redis_db=self.redis_db,
            ready_timeout=180.0,
            router_in_oms=self.router_in_oms,
            env={
                "FXMESH_JWT_SECRET": self.jwt_secret,
                "FXMESH_LPSIM_TARGET_COMP_IDS": f"FXMESH,{BENCH_COMP_ID}",
                # Capacity, not edge's per-account quota, is measured (the check itself still runs).
                "FXMESH_EDGE_RATE_LIMIT_ORDERS": "100000000",
                "FXMESH_EDGE_RATE_LIMIT_READS": "100000000",
                # quote_ws opens up to 1 000 sockets with one account's token (the lease is still
                # taken and counted for each); at the default 20 it timed out at 100 clients.
                "FXMESH_EDGE_WS_MAX_SOCKETS_PER_ACCOUNT": "100000",
            },
        )
        self.stack = Stack(config)
        await self.stack.start(lambda line: self.say(f"stack: {line}"))
        await self.wait_for_quotes(["EURUSD"])

    async def stop(self) -> None:
        if self.stack is not None:
            await self.stack.stop(lambda line: self.say(f"stack: {line}"))
        if self.failed:
            self.say(f"stack logs kept in {self.run_dir / 'logs'}")
        else:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def cpu_meter(self) -> CpuMeter:
        """A meter with one group per stack service."""
        meter = CpuMeter()
        for child in self.s.children:
            meter.add(child.spec.name, child.proc.pid)
        return meter

    def _metrics_url(self, service: str) -> str:
        h, p = self.s.config.host, self.s.config.ports
        port = {
            "edge": p.edge_http,
            "oms": p.oms_metrics,
            "router": p.oms_metrics if self.router_in_oms else p.router_metrics,
            "fixgw": p.fixgw_metrics,
            "quotes": p.quotes_metrics,
        }[service]
        return f"http://{h}:{port}/metrics"

    def order_hops(self) -> list[tuple[Hop, str]]:
        """The nested handler timings of one market order, outermost first, with what each covers."""

        def grpc(service: str, method: str) -> Hop:
            return Hop(
                f"{service} gRPC {method.rsplit('/', 1)[-1]}",
                self._metrics_url(service),
                f"fxmesh_{service}_grpc_server_duration_seconds",
                (("method", method),),
            )

        router_grpc = (
            grpc("router", "/fxmesh.v1.RouterService/Execute"),
            "router's gRPC layer around execute",
        )
        return [
            (
                Hop(
                    "edge POST /api/orders/market",
                    self._metrics_url("edge"),
                    "fxmesh_edge_http_request_seconds",
                    (("route", "/api/orders/market"),),
                ),
                "edge's own work (FastAPI, JWT, JSON) and its gRPC call to oms",
            ),
            (
                grpc("oms", "/fxmesh.v1.OmsService/PlaceOrder"),
                "oms's own work (validation, its transactions) and its call to router",
            ),
            *([] if self.router_in_oms else [router_grpc]),
            (
                Hop(
                    "router execute",
                    self._metrics_url("router"),
                    "fxmesh_router_execute_seconds",
                ),
                "the order's state read, routing and B-book pricing",
            ),
            (
                Hop(
                    "router house commit",
                    self._metrics_url("router"),
                    "fxmesh_router_house_commit_seconds",
                ),
                "the symbol's lock (the fill groups committing ahead) and its group's commit",
            ),
        ]

    def queue_hops(self) -> tuple[list[Hop], list[Hop], list[Hop]]:
        """Where an order waits its turn on the path (admission queues: the time an order that
        queued waited; oms's group commit: a transaction's wait for a committer, and one shared
        transaction's duration, which each of its bodies waits whole), and how many share a
        commit (group sizes)."""
        waits = [
            Hop(
                f"{service} admission queue",
                self._metrics_url(service),
                f"fxmesh_{service}_admission_wait_seconds",
            )
            for service in ("edge", "oms")
        ]
        commits = [
            Hop(
                "oms group commit wait",
                self._metrics_url("oms"),
                "fxmesh_oms_group_commit_wait_seconds",
            ),
            Hop(
                "oms group commit transaction",
                self._metrics_url("oms"),
                "fxmesh_oms_group_commit_transaction_seconds",
            ),
        ]
        groups = [
            Hop(
                "oms group commit size",
                self._metrics_url("oms"),
                "fxmesh_oms_group_commit_size",
            ),
            Hop(
                "router house group size",
                self._metrics_url("router"),
                "fxmesh_router_house_commit_group_size",
            ),
        ]
        return waits, commits, groups

    def count_hops(self) -> list[Hop]:
        """Counters read per order: the AMQP messages oms's outbox relay published."""
        return [
            Hop("oms outbox messages", self._metrics_url("oms"), "fxmesh_oms_outbox_messages"),
        ]

    def loop_lag_hops(self) -> list[Hop]:
        """The event-loop lag of each process on the order path (``fxmesh.lifecycle``)."""
        services = ["edge", "oms"] + ([] if self.router_in_oms else ["router"])
        return [
            Hop(service, self._metrics_url(service), f"fxmesh_{service}_event_loop_lag_seconds")
            for service in services
        ]

    def quote_hops(self) -> list[Hop]:
        return [
            Hop(
                "fixgw FIX tick -> quotes stream write",
                self._metrics_url("fixgw"),
                "fxmesh_fixgw_tick_forward_lag_seconds",
            ),
            Hop(
                "quotes tick batch received -> client quote in Redis",
                self._metrics_url("quotes"),
                "fxmesh_quotes_tick_to_redis_seconds",
            ),
        ]

    async def wait_for_quotes(self, symbols: list[str], within: float = 60.0) -> None:
        """Until quotes has a client price for every symbol (orders need one)."""
        client = aioredis.Redis.from_url(self.redis_url)
        try:
            async with asyncio.timeout(within):
                while True:
                    if all([await client.exists(quote_key(s)) for s in symbols]):
                        return
                    await asyncio.sleep(0.2)
        finally:
            await client.aclose()

    # -- accounts ---------------------------------------------------------------------------------

    async def login_demo(self) -> BenchAccount:
        """The demo account, logged in through edge like a client."""
        pool = self.edge_pool(1)
        try:
            body = f'{{"login":"{DEMO_LOGIN}","password":"{DEMO_PASSWORD}"}}'.encode()
            reply = await pool.request("POST", "/api/login", body)
            if reply.status != 200:
                raise RuntimeError(f"demo login failed: {reply.status} {reply.body[:200]!r}")
            doc = reply.json()
            return BenchAccount(int(doc["accountId"]), DEMO_LOGIN, doc["accessToken"])
        finally:
            await pool.close()

    async def seed_accounts(
        self,
        count: int,
        *,
        deposit: Decimal = Decimal("1000000.00"),
        client_group: str = DEMO_ACCOUNT.client_group,
        prefix: str = "bench",
    ) -> list[BenchAccount]:
        """``count`` funded HEDGING accounts with tokens (one argon2 hash shared: nobody logs in)."""
        self._login_seq += 1
        stem = f"{prefix}{self._login_seq}-"
        password_hash = await asyncio.to_thread(passwords.hash_password, secrets.token_urlsafe(16))
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                rows = await conn.fetch(
                    """
                    INSERT INTO oms.accounts (login, password_hash, type, currency, leverage,
                        margin_mode, status, client_group, balance)
                    SELECT $1 || n, $2, $3, $4, $5, $6, 'ACTIVE', $7, $8
                    FROM generate_series(1, $9::int) AS n
                    RETURNING account_id, login
                    """,
                    stem,
                    password_hash,
                    DEMO_ACCOUNT.account_type,
                    DEMO_ACCOUNT.currency,
                    DEMO_ACCOUNT.leverage,
                    DEMO_ACCOUNT.margin_mode,
                    client_group,
                    deposit,
                    count,
                )
                await conn.executemany(
                    "INSERT INTO oms.ledger (account_id, type, amount, balance_before, "
                    "balance_after, currency, reference, note) "
                    "VALUES ($1, 'DEPOSIT', $2, 0, $2, $3, 'bench', 'benchmark deposit')",
                    [(r["account_id"], deposit, DEMO_ACCOUNT.currency) for r in rows],
                )
        finally:
            await conn.close()
        accounts = []
        for r in rows:
            token, _ = issue_token(
                self.jwt_secret,
                subject=str(r["account_id"]),
                token_type="client",
                ttl=TOKEN_TTL,
                login=r["login"],
            )
            accounts.append(BenchAccount(int(r["account_id"]), r["login"], token))
        return accounts

    async def seed_open_positions(
        self,
        holders: Sequence[SeedHolder],
        *,
        symbol: str,
        side: str,
        open_price: Decimal,
        contract_size: Decimal,
        quote_to_usd_rate: Decimal,
        leverage: int,
        deviation_points: int = 0,
        client_group: str = DEMO_ACCOUNT.client_group,
        prefix: str = "holder",
    ) -> list[int]:
        """Accounts holding open B-book positions, as if each had opened them with a market order.

        Placing thousands of orders through edge takes minutes, so the rows a filled B-book market
        order leaves behind are written set-based in one transaction, on both sides: oms (account,
        DEPOSIT and COMMISSION ledger rows so balance == sum(ledger), the FILLED order and its
        transitions, the position, its IN deal) and router (decision, EXECUTED claim and the house
        book's fill, the deal's fill id). oms's trigger books and router's house book read them
        only at start: restart both afterwards. Returns the account ids in ``holders`` order.
        """
        self._login_seq += 1
        stem = f"{prefix}{self._login_seq}-"
        currency = DEMO_ACCOUNT.currency
        password_hash = await asyncio.to_thread(passwords.hash_password, secrets.token_urlsafe(16))
        filled_at = datetime.now(UTC)
        accounts = [(i, h.deposit) for i, h in enumerate(holders)]
        positions = [
            (k, i, p.volume, p.commission)
            for k, (i, p) in enumerate((i, p) for i, h in enumerate(holders) for p in h.positions)
        ]
        conn = await asyncpg.connect(self.dsn)
        try:
            async with conn.transaction():
                await conn.execute(_SEED_TEMP_TABLES)
                await conn.copy_records_to_table(
                    "bench_holders", records=accounts, columns=["idx", "deposit"]
                )
                await conn.copy_records_to_table(
                    "bench_positions", records=positions, columns=["k", "idx", "volume", "fee"]
                )
                await conn.execute(
                    _SEED_ACCOUNTS,
                    stem,
                    password_hash,
                    DEMO_ACCOUNT.account_type,
                    currency,
                    leverage,
                    DEMO_ACCOUNT.margin_mode,
                    client_group,
                )
                await conn.execute(_SEED_ORDERS, symbol, side, deviation_points, open_price)
                await conn.execute(_SEED_EVENTS)
                await conn.execute(_SEED_POSITIONS, symbol, side, open_price, filled_at)
                await conn.execute(_SEED_DEALS, symbol, side, open_price, filled_at)
                await conn.execute(_SEED_LEDGER, currency)
                await conn.execute(
                    _SEED_ROUTER,
                    symbol,
                    side,
                    open_price,
                    contract_size,
                    quote_to_usd_rate,
                    filled_at,
                )
                ids = await conn.fetch("SELECT account_id FROM bench_holders ORDER BY idx")
        finally:
            await conn.close()
        return [int(r["account_id"]) for r in ids]

    # -- LP simulator control -------------------------------------------------------------------

    async def lpsim(self, method: str, path: str, body: bytes) -> dict[str, Any]:
        pool = self.lpsim_pool(1)
        try:
            reply = await pool.request(method, path, body)
        finally:
            await pool.close()
        if reply.status != 200:
            raise RuntimeError(f"LP simulator {method} {path}: {reply.status} {reply.body[:200]!r}")
        doc: dict[str, Any] = reply.json()
        return doc


# --- set-based seeding of open positions (``BenchStack.seed_open_positions``) --------------------
# Temp tables carry each holder's and each position's ids from one statement to the next.
_SEED_TEMP_TABLES = """
CREATE TEMP TABLE bench_holders (
    idx int PRIMARY KEY, deposit numeric NOT NULL, account_id bigint
) ON COMMIT DROP;
CREATE TEMP TABLE bench_positions (
    k int PRIMARY KEY, idx int NOT NULL, volume numeric NOT NULL, fee numeric NOT NULL,
    account_id bigint, order_id bigint, position_id bigint, deal_id bigint,
    fill_id text DEFAULT gen_random_uuid()::text
) ON COMMIT DROP;
"""
_SEED_ACCOUNTS = """
WITH fees AS (SELECT idx, sum(fee) AS fee FROM bench_positions GROUP BY idx),
acc AS (
    INSERT INTO oms.accounts (login, password_hash, type, currency, leverage, margin_mode, status,
        client_group, balance)
    SELECT $1 || h.idx, $2, $3, $4, $5, $6, 'ACTIVE', $7, h.deposit - coalesce(f.fee, 0)
      FROM bench_holders h LEFT JOIN fees f USING (idx)
     ORDER BY h.idx
    RETURNING account_id, login
), ids AS (
    UPDATE bench_holders h SET account_id = acc.account_id FROM acc WHERE acc.login = $1 || h.idx
    RETURNING h.idx, h.account_id, h.deposit
), deposits AS (
    INSERT INTO oms.ledger (account_id, type, amount, balance_before, balance_after, currency,
        reference, note)
    SELECT account_id, 'DEPOSIT', deposit, 0, deposit, $4, 'bench', 'benchmark deposit'
      FROM ids ORDER BY idx
)
UPDATE bench_positions p SET account_id = ids.account_id FROM ids WHERE ids.idx = p.idx
"""
_SEED_ORDERS = """
WITH o AS (
    INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, time_in_force,
        volume, filled_volume, deviation_points, avg_fill_price, status, book, routing_reason,
        origin)
    SELECT account_id, 'bench-open-' || k, $1, $2, 'MARKET', 'IOC', volume, volume, $3, $4,
           'FILLED', 'B', 'DEFAULT_B_BOOK', 'CLIENT'
      FROM bench_positions ORDER BY k
    RETURNING order_id, account_id, client_order_id
)
UPDATE bench_positions p SET order_id = o.order_id
  FROM o WHERE o.account_id = p.account_id AND o.client_order_id = 'bench-open-' || p.k
"""
_SEED_EVENTS = """
INSERT INTO oms.order_events (order_id, seq, from_status, to_status, reason)
SELECT p.order_id, t.seq, t.from_status, t.to_status, t.reason
  FROM bench_positions p,
       (VALUES (1, 'PENDING', 'ACCEPTED', 'ACCEPT'), (2, 'ACCEPTED', 'FILLING', 'SUBMIT'),
               (3, 'FILLING', 'FILLED', 'FILL')) AS t (seq, from_status, to_status, reason)
 ORDER BY p.k, t.seq
"""
_SEED_POSITIONS = """
WITH pos AS (
    INSERT INTO oms.positions (account_id, symbol, side, volume, open_price, commission,
        open_order_id, opened_at)
    SELECT account_id, $1, $2, volume, $3, -fee, order_id, $4 FROM bench_positions ORDER BY k
    RETURNING position_id, open_order_id
)
UPDATE bench_positions p SET position_id = pos.position_id
  FROM pos WHERE pos.open_order_id = p.order_id
"""
_SEED_DEALS = """
WITH d AS (
    INSERT INTO oms.deals (order_id, position_id, account_id, symbol, side, entry, volume, price,
        commission, realized_pnl, venue, book, fill_id, deal_time, reason)
    SELECT order_id, position_id, account_id, $1, $2, 'IN', volume, $3, -fee, 0, 'BBOOK', 'B',
           fill_id, $4, 'CLIENT'
      FROM bench_positions ORDER BY k
    RETURNING deal_id, fill_id
)
UPDATE bench_positions p SET deal_id = d.deal_id FROM d WHERE d.fill_id = p.fill_id
"""
# Each account's COMMISSION rows chain on from its deposit, in the order its positions opened.
_SEED_LEDGER = """
INSERT INTO oms.ledger (account_id, type, amount, balance_before, balance_after, currency,
    deal_id, reference)
SELECT p.account_id, 'COMMISSION', -p.fee, h.deposit - p.charged + p.fee, h.deposit - p.charged,
       $1, p.deal_id, 'order ' || p.order_id || ' deal ' || p.deal_id
  FROM (SELECT *, sum(fee) OVER (PARTITION BY idx ORDER BY k) AS charged
          FROM bench_positions) p
  JOIN bench_holders h USING (idx)
 WHERE p.fee <> 0
 ORDER BY p.k
"""
_SEED_ROUTER = """
WITH decisions AS (
    INSERT INTO router.routing_decisions (order_id, account_id, symbol, side, volume, book, reason,
        status, decided_at)
    SELECT order_id::text, account_id::text, $1, $2, volume, 'B', 'DEFAULT_B_BOOK', 'FILLED', $6
      FROM bench_positions ORDER BY k
    RETURNING order_id
), claims AS (
    INSERT INTO router.order_claims (order_id, account_id, claim, claimed_at)
    SELECT order_id::text, account_id::text, 'EXECUTED', $6 FROM bench_positions ORDER BY k
)
INSERT INTO router.bbook_fills (fill_id, order_id, account_id, symbol, client_side, volume, price,
    contract_size, quote_to_usd_rate, filled_at)
SELECT p.fill_id, p.order_id::text, p.account_id::text, $1, $2, p.volume, $3, $4, $5, $6
  FROM bench_positions p JOIN decisions d ON d.order_id = p.order_id::text
 ORDER BY p.k
"""


async def fresh_database(
    server: str = "postgresql://postgres@127.0.0.1:5432",
) -> tuple[str, Callable[[], Any]]:
    """A new empty database for floors; returns its DSN and an async drop function."""
    name = f"fxmesh_bench_floor_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    async def drop() -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(f"{server}/postgres")
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()

    return f"{server}/{name}", drop
