"""Route and execute: decide the book (``router.rules``), record the decision with its why, fill
B-book orders in-process, send A-book orders to the LPs through fixgw (``router.abook_desk``) and
split C-book orders between both (the A leg through the same desk, the B leg priced here and
committed with the A leg's outcome)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import structlog
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import Counter, Histogram

from bbook import BBookEngine, BookFill, Exposure, Rejection, store
from fxmesh.background import cancel_and_wait
from fxmesh.db import Conn, Pool
from fxmesh.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from fxmesh.metrics import LATENCY_BUCKETS
from fxmesh.reasons import Reason
from router import configuration, repository
from router.abook import AbookOrder, HouseLeg
from router.abook_desk import AbookDesk, close_decision, execution_pending
from router.configuration import ChangeResult
from router.domain import (
    DEFAULT_REASON,
    Book,
    Claim,
    ClientFill,
    Decision,
    ExecuteCommand,
    ExecuteResult,
    ExecutionStatus,
    ExplainedDecision,
    OrderClaim,
    OrderState,
    ReconcileCommand,
    RecordedDecision,
    RoutingRule,
)
from router.flowfeed import FlowFeed
from router.hedge_store import house_trades
from router.hedging import Hedger, merged
from router.house import ClaimedFill, FillNumbers, House, Reservation
from router.lphealth import LpHealthMonitor
from router.rules import UNKNOWN_HEALTH, RoutingConfig, RoutingInputs, route
from router.whatif import Proposal, WhatIfReport, replay

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
        self,
        pool: Pool,
        engine: BBookEngine,
        abook: AbookDesk,
        *,
        reload_seconds: float = 30.0,
        house: House | None = None,
        lp_health: LpHealthMonitor | None = None,
        hedger: Hedger | None = None,
        flow_feed: FlowFeed | None = None,
    ) -> None:
        self._pool = pool
        self.hedger = hedger
        # The leader's epoch while this replica leads (serves and hedges); None on a standby.
        self.epoch: int | None = None
        self.engine = engine
        self.abook = abook
        # The house book: fills booked in seq order (router.house), the router's own B-book
        # fills committed a group at a time per symbol.
        self.house = house or House(engine, FillNumbers(pool))
        self.lp_health = lp_health
        self.flow_feed = flow_feed
        self._reload_seconds = reload_seconds
        self.config = RoutingConfig()
        self._reload_lock = asyncio.Lock()
        self._listener: PoolConnectionProxy | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def rules(self) -> list[RoutingRule]:
        """The enabled routing rules in the order they are tried."""
        return list(self.config.rules)

    @property
    def config_version(self) -> int:
        """The version of the configuration the next order is decided with."""
        return self.config.version

    async def start(self, *, rebuild: bool = True) -> None:
        """Load the configuration and follow it; ``rebuild`` the house book now (a replica that
        stands by rebuilds it when it becomes the leader instead)."""
        await self.reload_config()
        if rebuild:
            await self.rebuild_book()
        self._listener = await self._pool.acquire()
        await self._listener.add_listener(repository.CONFIG_CHANNEL, self._on_notify)
        self._spawn(self._reload_periodically())
        if self.lp_health is not None:
            self._spawn(self.lp_health.run())
        if self.hedger is not None:
            self.engine.on_hedge_request(self.hedger.wake)
            self._spawn(self.hedger.run())
        if rebuild:  # leading from the start (a standby starts it when promoted)
            await self.start_flow()

    async def rebuild_book(self) -> None:
        """Rebuild the house book from its client fills and house trades (hedges)."""
        async with self._pool.acquire() as conn:
            fills = merged(await store.all_fills(conn), await house_trades(conn))
        count = self.engine.load(fills)
        if self.hedger is not None:
            self.hedger.loaded(fills)
        log.info("bbook_rebuilt", fills=count, symbols=self.engine.book.symbols())

    def require_serving(self) -> None:
        """Raise UNAVAILABLE ``ROUTER_STANDBY`` unless this replica leads."""
        if self.epoch is None:
            raise Unavailable(
                "this router replica is the standby; another one leads",
                reason=Reason.ROUTER_STANDBY,
            )

    async def start_flow(self) -> None:
        """Start the flow feed (once): the replica that leads consumes the flow queue and
        rebuilds the figures from the tables, so its figures are complete (the queue has one
        consumer: a standby would take half the events)."""
        if self.flow_feed is not None:
            await self.flow_feed.start()

    async def stop_flow(self) -> None:
        if self.flow_feed is not None:
            await self.flow_feed.stop()

    async def stop(self) -> None:
        if self.flow_feed is not None:
            await self.flow_feed.stop()
        await cancel_and_wait(list(self._tasks))
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

    async def reload_config(self, at_least: int | None = None) -> None:
        """Load the routing configuration (rules, overrides, volume and exposure limits, symbol
        settings) and its version, in one snapshot, for the next order.

        ``at_least``: skip the load when the loaded version is that one or newer already (a burst
        of orders that found a newer version committed reloads once).
        """
        async with self._reload_lock:
            if at_least is not None and self.config.version >= at_least:
                return
            async with self._pool.acquire() as conn:
                loaded = await repository.load_config(conn)
            if loaded.routing.version < self.config.version:
                return  # a newer snapshot is in place already
            self.engine.set_limits(loaded.limits)
            self.engine.set_symbol_settings(loaded.bbook)
            self.abook.set_settings(loaded.abook)
            self.config = loaded.routing
        log.info("router_config_loaded", version=loaded.routing.version)

    async def _config_at_least(self, version: int | None) -> None:
        """Reload first when a newer configuration than the loaded one is committed: a change
        applies to the very next order, not only once its NOTIFY has arrived."""
        if version is not None and version > self.config.version:
            await self.reload_config(at_least=version)

    async def routing_config(self) -> configuration.ConfigSnapshot:
        """The admin-editable routing configuration and its version."""
        async with self._pool.acquire() as conn:
            return await configuration.read(conn)

    async def change_config(self, request: configuration.ChangeRequest) -> ChangeResult:
        """Apply a configuration change (one transaction, one new version) and load it here at
        once; other routers load it before their next order (``docs/routing.md``)."""
        async with self._pool.acquire() as conn:
            result = await configuration.change(conn, request)
        log.info(
            "router_config_changed_by",
            version=result.version,
            actor=request.actor,
            edits=len(request.edits),
        )
        await self.reload_config(at_least=result.version)
        return result

    def route(self, cmd: ExecuteCommand) -> Decision:
        """The rule engine's decision for ``cmd`` with the inputs the system has now."""
        flow = self.flow_feed.flow if self.flow_feed is not None else None
        inputs = RoutingInputs(
            account_id=cmd.account_id,
            client_group=cmd.client_group,
            symbol=cmd.symbol,
            side=cmd.side,
            volume=cmd.volume,
            house_net_lots=self.engine.book.net_lots(cmd.symbol),
            lp_health=self.lp_health.snapshot() if self.lp_health else UNKNOWN_HEALTH,
            trader=flow.trader(cmd.account_id) if flow is not None else None,
            volatility=flow.volatility(cmd.symbol) if flow is not None else None,
        )
        return route(self.config, inputs)

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
        if cmd.first_attempt:
            filled = await self._fill_first_attempt(cmd)
            if filled is not None:
                return filled
        state = await self._state(cmd.order_id)
        _check_accounts(cmd.order_id, state, cmd.account_id)
        if state.executed:
            return await self._replay(cmd.order_id, state, cmd)
        if state.submitted:
            return await self.abook.resume(cmd, state, remaining)
        if state.recorded is not None:
            decision = state.recorded.decision
        else:
            await self._config_at_least(state.config_version)
            decision = close_decision(cmd) or self.route(cmd)
            DECISIONS.labels(decision.book.value, decision.reason).inc()
        if state.claim is not None:
            return await self._reject(cmd, decision, _abandoned(cmd.order_id))
        if decision.reject_reason:
            message = f"no LP is healthy for {cmd.symbol} and its fallback is to reject"
            return await self._reject(cmd, decision, Rejection(decision.reject_reason, message))

        if decision.book is Book.A:
            return await self._execute_abook(cmd, decision, remaining)
        if decision.book is Book.C:
            if decision.a_volume <= 0 or decision.b_volume <= 0:
                message = f"decision {decision.reason} has no C-book split"
                return await self._reject(
                    cmd, decision, Rejection(Reason.BOOK_UNAVAILABLE, message)
                )
            return await self._execute_cbook(cmd, decision, remaining)

        priced = await self._price(cmd, cmd.volume)
        if isinstance(priced, Rejection):
            return await self._reject(cmd, decision, priced)

        fill = self._new_fill(cmd, priced)

        # Committed in the symbol's next group under its lock: the house book applies this
        # process's fills of a symbol in the order they commit. The claim arbitrates against a
        # racing Execute (here or on another router instance) and against ReconcileExecution's
        # fence.
        won = await self.house.commit_claimed(ClaimedFill(cmd, decision, fill), self._write_claimed)
        if won:
            return _filled(decision.book, decision.reason, fill)
        # The winner has committed by now (the claim waited for it): answer what it did.
        state = await self._state(cmd.order_id)
        _check_accounts(cmd.order_id, state, cmd.account_id)
        if state.executed:
            return await self._replay(cmd.order_id, state, cmd)
        return await self._reject(cmd, decision, _abandoned(cmd.order_id))

    async def _fill_first_attempt(self, cmd: ExecuteCommand) -> ExecuteResult | None:
        """A B-book fill of an order sent for the first time, without reading its state first
        (nothing is recorded of it yet): one round trip less per order. None sends the order
        down the path that reads it first: another book, a price the house refuses, or a claim
        not made (a newer configuration committed since this one was loaded, or another claim).

        The claim arbitrates as on that path; it is made only while the configuration the order
        was routed and priced with is the newest committed, so a change still applies to the
        very next order (``_config_at_least``).
        """
        house = await self._house_fill(cmd)
        if house is None:
            return None
        decision, fill, decided_with = house
        claimed = ClaimedFill(cmd, decision, fill, decided_with)
        if not await self.house.commit_claimed(claimed, self._write_claimed):
            return None
        DECISIONS.labels(decision.book.value, decision.reason).inc()
        return _filled(decision.book, decision.reason, fill)

    async def prepare_house_fill(self, cmd: ExecuteCommand) -> PreparedHouseFill | None:
        """A B-book fill of an order sent for the first time, priced and numbered in the house
        book's replay order, for the caller to write in its own transaction (oms: the one that
        accepts the order and books the fill on its account) with ``write_house_fill``, and then
        to settle, committed or not, with ``house_fill_settled`` (always: until then the
        symbol's later fills wait to be booked).

        None when this replica does not lead, the rules send the order to another book or
        reject it, or the house refuses the price: the caller commits the order and calls
        ``execute`` as usual, which answers each of those. Nothing is written here.
        """
        if self.epoch is None:
            return None
        house = await self._house_fill(cmd)
        if house is None:
            return None
        decision, fill, decided_with = house
        return PreparedHouseFill(cmd, decision, decided_with, await self.house.reserve(fill))

    async def _house_fill(self, cmd: ExecuteCommand) -> tuple[Decision, BookFill, int] | None:
        """The house's fill of ``cmd`` with its decision and the configuration version both
        were made with, when the rules give the order to the house and the house takes the
        price; None otherwise (nothing recorded)."""
        decided_with = self.config.version
        decision = close_decision(cmd) or self.route(cmd)
        if decision.book is not Book.B or decision.reject_reason:
            return None
        priced = await self._price(cmd, cmd.volume)
        if isinstance(priced, Rejection):
            return None
        return decision, self._new_fill(cmd, priced), decided_with

    async def write_house_fill(self, conn: Conn, prepared: PreparedHouseFill) -> bool:
        """Write ``prepared``'s claim, decision and fill on ``conn`` (in the caller's
        transaction). False: no claim made (a newer configuration committed since the order was
        routed, or another claim exists), nothing written; the caller executes the order as
        usual then."""
        return await repository.claim_and_fill(
            conn,
            prepared.cmd,
            prepared.decision,
            prepared.reservation.fill,
            prepared.reservation.seq,
            prepared.decided_with,
        )

    def house_fill_settled(self, prepared: PreparedHouseFill, committed: bool) -> None:
        """The caller's transaction with ``prepared`` ended, or its fill was not written (told
        so first: a later word is ignored): book the fill if it committed."""
        if self.house.settle(prepared.reservation, committed) and committed:
            decision = prepared.decision
            DECISIONS.labels(decision.book.value, decision.reason).inc()
            # The caller's canonical line has the order's book and routing reason: debug only.
            log.debug(
                "routed",
                order_id=prepared.cmd.order_id,
                symbol=prepared.cmd.symbol,
                book=decision.book.value,
                reason=decision.reason,
                status=ExecutionStatus.FILLED.value,
                in_caller_transaction=True,
            )

    async def _price(self, cmd: ExecuteCommand, volume: Decimal) -> Decimal | Rejection:
        """The house's price for ``volume`` lots of ``cmd`` at the client quote, within the
        order's requested price, deviation and limit."""
        return await self.engine.price(
            cmd.symbol,
            cmd.side,
            requested_price=cmd.requested_price,
            max_deviation=cmd.max_price_deviation,
            limit_price=cmd.limit_price,
            units=volume * cmd.contract_size,
            group=cmd.client_group,
        )

    def _new_fill(self, cmd: ExecuteCommand, price: Decimal) -> BookFill:
        return self.engine.new_fill(
            order_id=cmd.order_id,
            account_id=cmd.account_id,
            symbol=cmd.symbol,
            side=cmd.side,
            volume=cmd.volume,
            price=price,
            contract_size=cmd.contract_size,
            quote_to_usd_rate=cmd.quote_to_usd_rate,
        )

    async def _write_claimed(
        self, group: Sequence[tuple[ClaimedFill, int]]
    ) -> list[bool | Exception]:
        """Commit a symbol's group of B-book fills with their claims: together, or when that
        fails (one claim's broken invariant, a deadlock with another instance's group) one by
        one, so a failure is only its own fill's."""
        async with self._pool.acquire() as conn:
            if len(group) > 1:
                try:
                    return list(
                        await repository.claim_and_fill_group(
                            conn,
                            [(c.cmd, c.decision, c.fill, seq, c.decided_with) for c, seq in group],
                        )
                    )
                except asyncpg.PostgresError as exc:
                    log.warning("house_group_commit_failed", fills=len(group), error=str(exc))
            outcomes: list[bool | Exception] = []
            for claimed, seq in group:
                try:
                    outcomes.append(
                        await repository.claim_and_fill(
                            conn,
                            claimed.cmd,
                            claimed.decision,
                            claimed.fill,
                            seq,
                            claimed.decided_with,
                        )
                    )
                except Exception as exc:
                    outcomes.append(exc)
            return outcomes

    async def _execute_cbook(
        self, cmd: ExecuteCommand, decision: Decision, remaining: float | None
    ) -> ExecuteResult:
        """Price the B leg, then submit the A leg with it (``docs/routing.md``, C-book).

        The B leg is priced first at the client quote with the order's constraints: when the
        house cannot fill it (stale quote, requote, limit, B-book disabled) the whole order is
        rejected before anything is sent. The A leg then goes through the A-book desk; whatever
        it does not fill the B-book takes at the B leg's price, committed in the statement that
        commits the A leg's fills.
        """
        started = time.monotonic()
        priced = await self._price(cmd, decision.b_volume)
        if isinstance(priced, Rejection):
            return await self._reject(cmd, decision, priced)
        prepared = await self.abook.prepare(replace(cmd, volume=decision.a_volume))
        if isinstance(prepared, Rejection):
            return await self._reject(cmd, decision, prepared)
        prepared = self._preferring(prepared)
        leg = HouseLeg(
            order_volume=cmd.volume,
            volume=decision.b_volume,
            price=priced,
            quote_to_usd_rate=cmd.quote_to_usd_rate,
            priced_at=datetime.now(UTC),
        )
        if remaining is not None:
            remaining -= time.monotonic() - started
        return await self._submit(cmd, decision, replace(prepared, leg=leg), remaining)

    async def _execute_abook(
        self, cmd: ExecuteCommand, decision: Decision, remaining: float | None
    ) -> ExecuteResult:
        started = time.monotonic()
        prepared = await self.abook.prepare(cmd)
        if isinstance(prepared, Rejection):
            return await self._reject(cmd, decision, prepared)
        prepared = self._preferring(prepared)
        if remaining is not None:
            remaining -= time.monotonic() - started
        return await self._submit(cmd, decision, prepared, remaining)

    def _preferring(self, order: AbookOrder) -> AbookOrder:
        """``order`` with the LPs its symbol's configuration tries first (admin's priority LP)."""
        preferred = self.config.symbol(order.symbol).preferred_lps
        return replace(order, preferred_lps=preferred) if preferred else order

    async def _submit(
        self,
        cmd: ExecuteCommand,
        decision: Decision,
        prepared: AbookOrder,
        remaining: float | None,
    ) -> ExecuteResult:
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
        if state.abook is not None:  # A-book, or C-book (its B leg is ``fill``)
            return await self.abook.replay(order_id, state, cmd)
        if fill is None:
            raise RuntimeError(f"order {order_id} is claimed EXECUTED but has no B-book fill")
        if cmd is not None:
            _check_same_order(cmd, fill)
        # The Execute that committed this fill may not have booked it yet (or another instance
        # committed it): book it now, once.
        await self.house.ensure_booked(fill, order_id)
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

    async def house_exposure(self) -> tuple[list[Exposure], dict[str, Decimal]]:
        """The house book per symbol, and the part of each net the hedges traded."""
        hedge_net = dict(self.hedger.hedge_net) if self.hedger is not None else {}
        return await self.engine.exposures(), hedge_net

    async def what_if(
        self, proposal: Proposal, start: datetime, end: datetime, max_changed: int = 100
    ) -> WhatIfReport:
        """Replay the filled decisions of [start, end) through ``proposal`` applied on the live
        configuration inside a transaction that is rolled back (``router.whatif``). Changes
        nothing; INVALID_ARGUMENT ``WHATIF_INVALID`` for a proposal the tables refuse."""
        async with self._pool.acquire() as conn:
            try:
                config, orders, closes = await repository.what_if(conn, proposal, start, end)
            except repository.ProposalRefused as exc:
                raise InvalidArgument(
                    f"the proposed configuration is refused: {exc}", reason=Reason.WHATIF_INVALID
                ) from exc
        return replay(
            config,
            orders,
            closes_skipped=closes,
            base_config_version=config.version,
            max_changed=max_changed,
        )

    async def explain(self, order_id: str) -> ExplainedDecision:
        """The recorded decision of an order with every input it saw (NOT_FOUND when none)."""
        async with self._pool.acquire() as conn:
            explained = await repository.explain(conn, order_id)
        if explained is None:
            raise NotFound(
                f"no routing decision for order {order_id}",
                reason="ORDER_NOT_ROUTED",
                metadata={"order_id": order_id},
            )
        return explained


@dataclass(frozen=True, slots=True)
class PreparedHouseFill:
    """A B-book fill priced for an order, to be written in the caller's transaction
    (``RouterService.prepare_house_fill``)."""

    cmd: ExecuteCommand
    decision: Decision
    decided_with: int
    reservation: Reservation

    @property
    def result(self) -> ExecuteResult:
        """The answer ``execute`` gives for the order once the fill committed."""
        return _filled(self.decision.book, self.decision.reason, self.reservation.fill)


def _filled(book: Book, reason: str, fill: BookFill) -> ExecuteResult:
    return ExecuteResult(
        book=book,
        routing_reason=reason,
        status=ExecutionStatus.FILLED,
        fills=(ClientFill.of_bbook(fill),),
    )


def _abandoned(order_id: str) -> Rejection:
    return Rejection(
        Reason.ORDER_ABANDONED,
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
        reject_reason=Reason.NOT_EXECUTED,
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
            reason=Reason.ORDER_MISMATCH,
            metadata={"order_id": cmd.order_id},
        )
