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
from fxmesh.errors import FailedPrecondition
from fxmesh.metrics import LATENCY_BUCKETS
from router import repository
from router.domain import (
    BOOK_UNAVAILABLE,
    DEFAULT_REASON,
    NOT_EXECUTED,
    ORDER_ABANDONED,
    Book,
    Claim,
    Decision,
    ExecuteCommand,
    ExecuteResult,
    ExecutionStatus,
    ReconcileCommand,
    RecordedDecision,
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
RECONCILES = Counter(
    "fxmesh_router_reconciles_total",
    "ReconcileExecution answers, by status (FILLED, or REJECTED: not executed and fenced).",
    ["status"],
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
        """Load routing rules, exposure limits and B-book symbol settings for the next order."""
        async with self._pool.acquire() as conn:
            rules = await repository.load_rules(conn)
            limits = await repository.load_limits(conn)
            symbol_settings = await repository.load_symbol_settings(conn)
        self.rules = rules
        self.engine.set_limits(limits)
        self.engine.set_symbol_settings(symbol_settings)
        self.config_version += 1

    async def execute(self, cmd: ExecuteCommand) -> ExecuteResult:
        """Route ``cmd`` and execute it; a retry for the same order returns the same outcome.

        A filled order id is never filled again (the same fills come back), and an order id fenced
        by ``reconcile`` is rejected ``ORDER_ABANDONED``.
        """
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
            book=result.book.value if result.book else None,
            reason=result.routing_reason,
            status=result.status.value,
            reject_reason=result.reject_reason or None,
        )
        return result

    async def _execute(self, cmd: ExecuteCommand) -> ExecuteResult:
        async with self._pool.acquire() as conn:
            claim = await repository.get_claim(conn, cmd.order_id)
            recorded = await repository.get_decision(conn, cmd.order_id)
            fill = (
                await store.fill_for_order(conn, cmd.order_id)
                if claim is not None and claim.kind is Claim.EXECUTED
                else None
            )
        if claim is not None:
            _check_account(cmd.order_id, claim.account_id, cmd.account_id)
        if recorded is not None:
            _check_account(cmd.order_id, recorded.account_id, cmd.account_id)
        if claim is not None and claim.kind is Claim.EXECUTED:
            return self._replay(cmd.order_id, recorded, fill, cmd)
        if recorded is not None:
            decision = recorded.decision
        else:
            decision = decide(self.rules, cmd.client_group, cmd.symbol)
            DECISIONS.labels(decision.book.value, decision.reason).inc()
        if claim is not None:
            return await self._reject(cmd, decision, _abandoned(cmd.order_id))

        if decision.book is not Book.B:
            message = f"{decision.book.value}-book execution is not available yet"
            return await self._reject(cmd, decision, Rejection(BOOK_UNAVAILABLE, message))

        priced = await self.engine.price(
            cmd.symbol,
            cmd.side,
            requested_price=cmd.requested_price,
            max_deviation=cmd.max_price_deviation,
            limit_price=cmd.limit_price,
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
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                # The claim arbitrates against a racing Execute on another router instance and
                # against ReconcileExecution's fence: the fill commits only with the winning claim.
                won = await repository.insert_claim(
                    conn, cmd.order_id, cmd.account_id, Claim.EXECUTED, cmd.trace_id
                )
                if won:
                    await repository.record_decision(conn, cmd, decision, ExecutionStatus.FILLED)
                    if not await store.insert_fill(conn, fill):
                        raise RuntimeError(f"order {cmd.order_id} has a B-book fill but no claim")
            if not won:
                # The winner has committed by now (the insert waited for it): read what it did.
                claim = await repository.get_claim(conn, cmd.order_id)
                if claim is not None and claim.kind is Claim.EXECUTED:
                    recorded = await repository.get_decision(conn, cmd.order_id)
                    stored = await store.fill_for_order(conn, cmd.order_id)
                    return self._replay(cmd.order_id, recorded, stored, cmd)
        if not won:
            return await self._reject(cmd, decision, _abandoned(cmd.order_id))
        self.engine.apply(fill)
        return _filled(decision.book, decision.reason, fill)

    def _replay(
        self,
        order_id: str,
        recorded: RecordedDecision | None,
        fill: BookFill | None,
        cmd: ExecuteCommand | None = None,
    ) -> ExecuteResult:
        """The execution of an executed order, exactly as first answered; call under its lock.

        The symbol's lock keeps a concurrent Execute that is still booking the fill from booking
        it a second time.
        """
        if fill is None:
            raise RuntimeError(f"order {order_id} is claimed EXECUTED but has no B-book fill")
        if cmd is not None:
            _check_same_order(cmd, fill)
        if not self.engine.is_booked(fill.fill_id):
            # Committed, but this process never saw the COMMIT acknowledged (or another instance
            # filled it): book it now, once.
            log.warning("bbook_fill_booked_late", fill_id=fill.fill_id, order_id=order_id)
            self.engine.apply(fill)
        decision = recorded.decision if recorded is not None else Decision(Book.B, DEFAULT_REASON)
        return _filled(decision.book, decision.reason, fill)

    async def reconcile(self, cmd: ReconcileCommand) -> ExecuteResult:
        """What became of an order oms lost track of: its execution, or NOT_EXECUTED and a fence.

        Race-free against an in-flight Execute of the same order id: both insert a claim on the
        order id, so exactly one commits; a fenced order id never fills afterwards.
        """
        async with self._pool.acquire() as conn:
            recorded = await repository.get_decision(conn, cmd.order_id)
            if recorded is not None:
                _check_account(cmd.order_id, recorded.account_id, cmd.account_id)
            fenced_now = await repository.insert_claim(
                conn, cmd.order_id, cmd.account_id, Claim.FENCED, cmd.trace_id
            )
            # Either the fence just inserted, or the claim that committed first.
            claim = await repository.get_claim(conn, cmd.order_id)
            fill = None
            if claim is not None and claim.kind is Claim.EXECUTED:
                # Read after the claim: the decision and fill committed with it.
                recorded = await repository.get_decision(conn, cmd.order_id)
                fill = await store.fill_for_order(conn, cmd.order_id)
        if claim is None:
            raise RuntimeError(f"order {cmd.order_id} has no claim right after claiming it")
        _check_account(cmd.order_id, claim.account_id, cmd.account_id)
        if claim.kind is Claim.EXECUTED:
            if fill is None:
                raise RuntimeError(f"order {cmd.order_id} is claimed EXECUTED but has no fill")
            # Outside the connection: Execute waits for a connection while it holds this lock.
            async with self._locks[fill.symbol]:
                result = self._replay(cmd.order_id, recorded, fill)
        else:
            result = _not_executed(cmd.order_id, recorded)
        RECONCILES.labels(result.status.value).inc()
        log.info(
            "reconciled",
            order_id=cmd.order_id,
            status=result.status.value,
            fenced_now=fenced_now,
            last_reject_reason=recorded.reject_reason if recorded is not None else None,
        )
        return result

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


def _abandoned(order_id: str) -> Rejection:
    return Rejection(
        ORDER_ABANDONED,
        f"order {order_id} was reconciled as not executed; it can no longer be executed",
    )


def _not_executed(order_id: str, recorded: RecordedDecision | None) -> ExecuteResult:
    message = f"order {order_id} was not executed by the router and will never be"
    if recorded is not None and recorded.reject_reason:
        message += f" (its last execution was rejected {recorded.reject_reason})"
    return ExecuteResult(
        book=recorded.decision.book if recorded is not None else None,
        routing_reason=recorded.decision.reason if recorded is not None else "",
        status=ExecutionStatus.REJECTED,
        reject_reason=NOT_EXECUTED,
        reject_message=message,
    )


def _check_account(order_id: str, recorded: str, requested: str) -> None:
    if recorded != requested:
        raise FailedPrecondition(
            f"order {order_id} belongs to another account",
            reason="ORDER_ACCOUNT_MISMATCH",
            metadata={"order_id": order_id},
        )


def _check_same_order(cmd: ExecuteCommand, fill: BookFill) -> None:
    """A retry must name the order that was filled; another order under its id is a bug."""
    if (fill.symbol, fill.client_side, fill.volume) != (cmd.symbol, cmd.side, cmd.volume):
        raise FailedPrecondition(
            f"order {cmd.order_id} was executed as {fill.client_side.value} {fill.volume} "
            f"{fill.symbol}, not {cmd.side.value} {cmd.volume} {cmd.symbol}",
            reason="ORDER_MISMATCH",
            metadata={"order_id": cmd.order_id},
        )
