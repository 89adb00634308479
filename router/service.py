"""Route and execute: decide the book, record the decision, fill B-book orders in-process."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter, Histogram

from bbook import BBookEngine, BookFill, Exposure, Rejection, store
from fxmesh.metrics import LATENCY_BUCKETS
from router import repository
from router.domain import (
    BOOK_UNAVAILABLE,
    Book,
    Decision,
    ExecuteCommand,
    ExecuteResult,
    ExecutionStatus,
    RoutingRule,
    decide,
)

log = structlog.stdlib.get_logger(__name__)

DECISIONS = Counter(
    "fxmesh_router_decisions_total",
    "Routing decisions taken, by book and reason.",
    ["book", "reason"],
)
EXECUTE_SECONDS = Histogram(
    "fxmesh_router_execute_seconds",
    "Time to route and execute one order.",
    buckets=LATENCY_BUCKETS,
)


class RouterService:
    """The router's use cases over a PostgreSQL pool and the in-process B-book engine.

    Call ``start`` before serving (loads configuration, rebuilds the house book from its fills and
    follows configuration changes) and ``stop`` at shutdown.
    """

    def __init__(self, pool: Any, engine: BBookEngine, *, reload_seconds: float = 30.0) -> None:
        self._pool = pool
        self.engine = engine
        self._reload_seconds = reload_seconds
        self.rules: list[RoutingRule] = []
        self.config_version = 0
        # One B-book fill at a time per symbol: the book applies fills in the order they commit.
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._listener: asyncpg.Connection | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        await self.reload_config()
        async with self._pool.acquire() as conn:
            fills = await store.all_fills(conn)
        count = self.engine.load(fills)
        log.info("bbook_rebuilt", fills=count, symbols=self.engine.book.symbols())
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(repository.CONFIG_CHANNEL, self._on_notify)
        self._spawn(self._reload_periodically())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.remove_listener(repository.CONFIG_CHANNEL, self._on_notify)
            await self._pool.release(self._listener)
            self._listener = None

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        log.info("router_config_changed", table=payload)
        self._spawn(self.reload_config())

    async def _reload_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._reload_seconds)
            try:
                await self.reload_config()
            except Exception:
                log.exception("router_config_reload_failed")

    async def reload_config(self) -> None:
        """Load routing rules and exposure limits; they apply to the next order."""
        async with self._pool.acquire() as conn:
            rules = await repository.load_rules(conn)
            limits = await repository.load_limits(conn)
        self.rules = rules
        self.engine.set_limits(limits)
        self.config_version += 1

    async def execute(self, cmd: ExecuteCommand) -> ExecuteResult:
        """Route ``cmd`` and execute it; a retry for the same order returns the same outcome."""
        started = time.perf_counter()
        try:
            async with self._locks[cmd.symbol]:
                result = await self._execute(cmd)
        finally:
            EXECUTE_SECONDS.observe(time.perf_counter() - started)
        log.info(
            "routed",
            order_id=cmd.order_id,
            symbol=cmd.symbol,
            book=result.book.value,
            reason=result.routing_reason,
            status=result.status.value,
            reject_reason=result.reject_reason or None,
        )
        return result

    async def _execute(self, cmd: ExecuteCommand) -> ExecuteResult:
        async with self._pool.acquire() as conn:
            existing = await store.fill_for_order(conn, cmd.order_id)
            decision = await repository.get_decision(conn, cmd.order_id)
        if existing is not None:
            reason = decision.reason if decision is not None else "DEFAULT_B_BOOK"
            return _filled(Book.B, reason, existing)
        if decision is None:
            decision = decide(self.rules, cmd.client_group, cmd.symbol)
            DECISIONS.labels(decision.book.value, decision.reason).inc()

        if decision.book is not Book.B:
            message = f"{decision.book.value}-book execution is not available yet"
            return await self._reject(cmd, decision, Rejection(BOOK_UNAVAILABLE, message))

        priced = await self.engine.price(
            cmd.symbol,
            cmd.side,
            requested_price=cmd.requested_price,
            max_deviation=cmd.max_price_deviation,
        )
        if isinstance(priced, Rejection):
            return await self._reject(cmd, decision, priced)

        fill = self.engine.new_fill(
            order_id=cmd.order_id,
            account_id=cmd.account_id,
            symbol=cmd.symbol,
            side=cmd.side,
            volume=cmd.volume,
            price=priced,
            contract_size=cmd.contract_size,
            quote_to_usd_rate=cmd.quote_to_usd_rate,
        )
        async with self._pool.acquire() as conn, conn.transaction():
            await repository.record_decision(conn, cmd, decision, ExecutionStatus.FILLED)
            inserted = await store.insert_fill(conn, fill)
            if not inserted:
                # Another router instance filled this order first: return its fill.
                stored = await store.fill_for_order(conn, cmd.order_id)
        if not inserted:
            assert stored is not None
            return _filled(Book.B, decision.reason, stored)
        self.engine.apply(fill)
        return _filled(Book.B, decision.reason, fill)

    async def _reject(
        self, cmd: ExecuteCommand, decision: Decision, rejection: Rejection
    ) -> ExecuteResult:
        async with self._pool.acquire() as conn:
            await repository.record_decision(
                conn, cmd, decision, ExecutionStatus.REJECTED, rejection.reason
            )
        return ExecuteResult(
            book=decision.book,
            routing_reason=decision.reason,
            status=ExecutionStatus.REJECTED,
            reject_reason=rejection.reason,
            reject_message=rejection.message,
        )

    async def house_exposure(self) -> list[Exposure]:
        return await self.engine.exposures()


def _filled(book: Book, reason: str, fill: BookFill) -> ExecuteResult:
    return ExecuteResult(
        book=book, routing_reason=reason, status=ExecutionStatus.FILLED, fills=(fill,)
    )
