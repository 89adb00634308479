"""Route and execute: decide the book, record the decision, fill B-book orders in-process and send
A-book orders to the LPs through fixgw (``router.abook_desk``)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict
from dataclasses import replace
from typing import Any

import asyncpg
import structlog
from prometheus_client import Counter, Histogram

from bbook import BBookEngine, BookFill, Exposure, Rejection, store
from fxmesh.errors import FailedPrecondition
from fxmesh.metrics import LATENCY_BUCKETS
from router import repository
from router.abook_desk import AbookDesk, close_decision, execution_pending
from router.domain import (
    BOOK_UNAVAILABLE,
    DEFAULT_REASON,
    NOT_EXECUTED,
    ORDER_ABANDONED,
    Book,
    Claim,
    ClientFill,
    Decision,
    ExecuteCommand,
    ExecuteResult,
    ExecutionStatus,
    OrderClaim,
    OrderState,
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
    """The router's use cases over a PostgreSQL pool, the in-process B-book engine and the A-book
    desk (orders to the LPs through fixgw).

    Call ``start`` before serving (loads configuration, rebuilds the house book from its fills and
    follows configuration changes) and ``stop`` at shutdown.
    """

    def __init__(
        self, pool: Any, engine: BBookEngine, abook: AbookDesk, *, reload_seconds: float = 30.0
    ) -> None:
        self._pool = pool
        self.engine = engine
        self.abook = abook
        self._reload_seconds = reload_seconds
        self.rules: list[RoutingRule] = []
        self.config_version = 0
        # One B-book commit at a time per symbol: the book applies fills in the order they commit.
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
        """Load routing rules, exposure limits, B-book and A-book symbol settings for the next
        order."""
        async with self._pool.acquire() as conn:
            rules = await repository.load_rules(conn)
            limits = await repository.load_limits(conn)
            symbol_settings = await repository.load_symbol_settings(conn)
            abook_settings = await repository.load_abook_settings(conn)
        self.rules = rules
        self.engine.set_limits(limits)
        self.engine.set_symbol_settings(symbol_settings)
        self.abook.set_settings(abook_settings)
        self.config_version += 1

    async def execute(self, cmd: ExecuteCommand, remaining: float | None = None) -> ExecuteResult:
        """Route ``cmd`` and execute it; a retry for the same order returns the same outcome.

        A filled order id is never filled again (the same fills come back), and an order id fenced
        by ``reconcile`` is rejected ``ORDER_ABANDONED``. ``remaining``: seconds left of the
        caller's deadline (an A-book order's call to fixgw ends a margin before it); an A-book
        order whose outcome is not known by then fails UNAVAILABLE ``EXECUTION_PENDING``.

        Closing orders follow the venue holding the risk (``close_book``): A goes to the LP named
        ``close_venue`` (routing reason ``CLOSE_FOLLOWS_VENUE``), B to the house; without
        ``close_book`` the routing rules decide.
        """
        started = time.perf_counter()
        try:
            result = await self._execute(cmd, remaining)
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

    async def _execute(self, cmd: ExecuteCommand, remaining: float | None) -> ExecuteResult:
        state = await self._state(cmd.order_id)
        _check_accounts(cmd.order_id, state, cmd.account_id)
        if state.executed:
            return await self._replay(cmd.order_id, state, cmd)
        if state.submitted:
            return await self.abook.resume(cmd, state, remaining)
        if state.recorded is not None:
            decision = state.recorded.decision
        else:
            decision = close_decision(cmd) or decide(self.rules, cmd.client_group, cmd.symbol)
            DECISIONS.labels(decision.book.value, decision.reason).inc()
        if state.claim is not None:
            return await self._reject(cmd, decision, _abandoned(cmd.order_id))

        if decision.book is Book.A:
            return await self._execute_abook(cmd, decision, remaining)
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
        # The lock spans the commit and the booking only: the house book applies this process's
        # fills of a symbol in the order they commit. The claim arbitrates against a racing
        # Execute (here or on another router instance) and against ReconcileExecution's fence.
        async with self._locks[cmd.symbol], self._pool.acquire() as conn:
            won = await repository.claim_and_fill(conn, cmd, decision, fill)
            if won:
                # No await between the commit and the booking, so no cancellation either.
                self.engine.apply(fill)
        if won:
            return _filled(decision.book, decision.reason, fill)
        # The winner has committed by now (the claim waited for it): answer what it did.
        state = await self._state(cmd.order_id)
        _check_accounts(cmd.order_id, state, cmd.account_id)
        if state.executed:
            return await self._replay(cmd.order_id, state, cmd)
        return await self._reject(cmd, decision, _abandoned(cmd.order_id))

    async def _execute_abook(
        self, cmd: ExecuteCommand, decision: Decision, remaining: float | None
    ) -> ExecuteResult:
        started = time.monotonic()
        prepared = await self.abook.prepare(cmd)
        if isinstance(prepared, Rejection):
            return await self._reject(cmd, decision, prepared)
        if remaining is not None:
            remaining -= time.monotonic() - started
        result = await self.abook.submit(prepared, decision, cmd.trace_id, remaining)
        if result is not None:
            return result
        # Another claim committed first: a racing Execute's SUBMITTED, its EXECUTED, or a fence.
        state = await self._state(cmd.order_id)
        _check_accounts(cmd.order_id, state, cmd.account_id)
        if state.executed:
            return await self._replay(cmd.order_id, state, cmd)
        if state.submitted:
            return await self.abook.resume(cmd, state, remaining)
        if state.claim is None:  # the racing Execute was rejected and its claim deleted
            return await self.abook.answer(cmd.order_id, state, cmd)
        return await self._reject(cmd, decision, _abandoned(cmd.order_id))

    async def _state(self, order_id: str) -> OrderState:
        async with self._pool.acquire() as conn:
            return await repository.order_state(conn, order_id)

    async def _replay(
        self, order_id: str, state: OrderState, cmd: ExecuteCommand | None = None
    ) -> ExecuteResult:
        """The execution of an executed order, exactly as first answered."""
        fill = state.fill
        if fill is None and state.abook is not None:
            return await self.abook.replay(order_id, state, cmd)
        if fill is None:
            raise RuntimeError(f"order {order_id} is claimed EXECUTED but has no B-book fill")
        if cmd is not None:
            _check_same_order(cmd, fill)
        # The Execute that committed this fill may not have booked it yet: it books under the
        # symbol's lock, so waiting for the lock keeps this from booking it a second time.
        async with self._locks[fill.symbol]:
            if not self.engine.is_booked(fill.fill_id):
                # Committed, but this process never saw the commit acknowledged (or another
                # instance filled it): book it now, once.
                log.warning("bbook_fill_booked_late", fill_id=fill.fill_id, order_id=order_id)
                self.engine.apply(fill)
        recorded = state.recorded
        decision = recorded.decision if recorded is not None else Decision(Book.B, DEFAULT_REASON)
        return _filled(decision.book, decision.reason, fill)

    async def reconcile(
        self, cmd: ReconcileCommand, remaining: float | None = None
    ) -> ExecuteResult:
        """What became of an order oms lost track of: its execution, or NOT_EXECUTED and a fence.

        Race-free against an in-flight Execute of the same order id: both insert a claim on the
        order id, so exactly one commits; a fenced order id never fills afterwards. An A-book
        order SUBMITTED to fixgw is asked about there (``AbookDesk.reconcile``); while its outcome
        is unknown the call fails UNAVAILABLE ``EXECUTION_PENDING``.
        """
        state = await self._state(cmd.order_id)
        _check_accounts(cmd.order_id, state, cmd.account_id)
        if state.submitted:
            answered = await self.abook.reconcile(cmd.order_id, remaining)
            if answered is not None:
                RECONCILES.labels(answered.status.value).inc()
                log.info(
                    "reconciled",
                    order_id=cmd.order_id,
                    status=answered.status.value,
                    reject_reason=answered.reject_reason or None,
                    book="A",
                )
                return answered
        fenced_now = False
        async with self._pool.acquire() as conn:
            state = await repository.order_state(conn, cmd.order_id)
            # Checked before fencing: an order id of another account is never fenced.
            _check_accounts(cmd.order_id, state, cmd.account_id)
            if state.claim is None:
                fenced_now = await repository.insert_claim(
                    conn, cmd.order_id, cmd.account_id, Claim.FENCED, cmd.trace_id
                )
                if fenced_now:
                    state = replace(state, claim=OrderClaim(Claim.FENCED, cmd.account_id))
                else:
                    # The claim that committed first; an EXECUTED one with its decision and fill.
                    state = await repository.order_state(conn, cmd.order_id)
        if state.claim is None:
            raise RuntimeError(f"order {cmd.order_id} has no claim right after claiming it")
        _check_account(cmd.order_id, state.claim.account_id, cmd.account_id)
        if state.submitted:  # submitted since it was read: its outcome is not known yet
            raise execution_pending(cmd.order_id, "submitted to fixgw just now")
        if state.executed:
            result = await self._replay(cmd.order_id, state)
        else:
            result = _not_executed(cmd.order_id, state.recorded)
        RECONCILES.labels(result.status.value).inc()
        log.info(
            "reconciled",
            order_id=cmd.order_id,
            status=result.status.value,
            fenced_now=fenced_now,
            last_reject_reason=state.recorded.reject_reason if state.recorded else None,
        )
        return result

    async def _reject(
        self, cmd: ExecuteCommand, decision: Decision, rejection: Rejection
    ) -> ExecuteResult:
        async with self._pool.acquire() as conn:
            recorded = await repository.record_decision(
                conn, cmd, decision, ExecutionStatus.REJECTED, rejection.reason
            )
        if not recorded:
            # A concurrent Execute filled the order since it was read: answer that fill, never a
            # rejection of a filled order.
            state = await self._state(cmd.order_id)
            _check_accounts(cmd.order_id, state, cmd.account_id)
            if state.executed:
                return await self._replay(cmd.order_id, state, cmd)
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
        book=book,
        routing_reason=reason,
        status=ExecutionStatus.FILLED,
        fills=(ClientFill.of_bbook(fill),),
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


def _check_accounts(order_id: str, state: OrderState, requested: str) -> None:
    if state.claim is not None:
        _check_account(order_id, state.claim.account_id, requested)
    if state.recorded is not None:
        _check_account(order_id, state.recorded.account_id, requested)


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
