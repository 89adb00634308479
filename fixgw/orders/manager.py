"""The A-book order flow: execute fxmesh orders at the LPs, aggregate reports, reconcile.

Rules held here (money):
- an attempt row commits before its NewOrderSingle is sent;
- ExecuteOrder is idempotent per order id: while an attempt is unresolved, or once the order has
  fills, a repeated call sends nothing; only when every earlier attempt ended without a fill does
  a call send a new attempt;
- failover to the next healthy LP only once the failed attempt is KNOWN not to have filled: a
  timed-out attempt is queried (35=H), then cancelled (35=F); still unknown, it is held (UNKNOWN)
  and no other LP is tried; held attempts are resolved later from reports and status queries, and
  their LP takes no new flow meanwhile (``reconciling``);
- every change of an attempt goes through its LP's worker, one at a time, in arrival order, and is
  stored before it is visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import quickfix as fix
import structlog
from prometheus_client import Counter, Gauge, Histogram

from fixgw.config import LpConfig
from fixgw.domain import BusinessReject, CancelReject, ExecutionReport, SessionReject
from fixgw.lphealth import LpHealth
from fixgw.orders import messages, store
from fixgw.orders.domain import (
    Attempt,
    AttemptStatus,
    ExecuteCommand,
    OrderRecord,
    OrderStatus,
    OrderView,
    Side,
    apply_report,
    attempt_cl_ord_id,
    cl_ord_id,
    is_working,
    order_terms,
    order_view,
    qty_factor,
    reject,
)
from fxmesh.db import Pool
from fxmesh.errors import DeadlineExceeded, FxError, InvalidArgument
from fxmesh.metrics import LATENCY_BUCKETS
from fxmesh.reasons import Reason

log = structlog.stdlib.get_logger(__name__)

FILLS = Counter("fxmesh_fixgw_fills_total", "LP fills applied (each ExecID once).", ["lp"])
FILL_LATENCY = Histogram(
    "fxmesh_fixgw_lp_fill_latency_seconds",
    "NewOrderSingle sent -> the attempt's final ExecutionReport, by LP.",
    ["lp"],
    buckets=LATENCY_BUCKETS,
)
ORDER_REJECTS = Counter(
    "fxmesh_fixgw_order_rejects_total",
    "Attempts ended without a fill, and runs with no LP to try (lp ''), by reason.",
    ["lp", "reason"],
)
ORDERS_HELD = Gauge(
    "fxmesh_fixgw_orders_held", "Orders held for reconciliation (an attempt's fate unknown)."
)
UNMATCHED = Counter(
    "fxmesh_fixgw_unmatched_order_messages_total",
    "Order messages from an LP naming no attempt fixgw knows (logged, ignored).",
    ["lp", "msg_type"],
)

SEQ_MAP_SIZE = 65536  # NewOrderSingle MsgSeqNums remembered per process (for 35=3's RefSeqNum)
HELD_WAIT_SECONDS = 1.0  # how long a call on a held order waits for the status query it sends


class OrderGateway(Protocol):
    """What the order flow needs from the gateway (fixgw.service.Gateway)."""

    def send(self, lp: str, message: fix.Message) -> bool: ...
    def config(self, lp: str) -> LpConfig: ...
    def lp_symbol(self, lp: str, symbol: str) -> str: ...
    def logged_on(self, lp: str) -> bool: ...
    def healthy(self, lp: str) -> bool: ...
    def top_of_book(self, lp: str, symbol: str) -> tuple[Decimal, Decimal] | None: ...
    def shown_size(self, lp: str, symbol: str, buying: bool) -> Decimal | None: ...
    def lps_for(self, symbol: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class OrderSettings:
    """Settings of the order flow."""

    cl_ord_id_prefix: str = "FXM"
    """ClOrdID = <prefix><order_id>-<attempt_no>."""
    reconcile_seconds: float = 5.0
    """Held attempts are queried (35=H) this often while their LP is logged on."""
    min_send_seconds: float = 0.05
    """No new attempt is sent with less than this left of the call's deadline."""


@dataclass(slots=True)
class _Entry:
    """An order in memory: while it runs, has unresolved attempts, or is being read."""

    record: OrderRecord
    attempts: dict[str, Attempt] = field(default_factory=dict)
    driver: asyncio.Task[None] | None = None
    cancelled: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def notify(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    def unresolved(self) -> list[Attempt]:
        return [a for a in self.attempts.values() if a.unresolved]

    def view(self) -> OrderView:
        return order_view(self.record, list(self.attempts.values()), self.driver is not None)


@dataclass(frozen=True, slots=True)
class _Intent:
    """Why we asked the LP about an attempt (kept in memory, merged into its next change)."""

    timed_out: bool = False
    cancel_reason: str | None = None
    working: bool = False  # the LP said it is live: a held attempt also gets a cancel


@dataclass(frozen=True, slots=True)
class _Hold:
    cl_ord_id: str
    done: asyncio.Future[Attempt]


@dataclass(frozen=True, slots=True)
class _Reject:
    cl_ord_id: str
    reason: str
    message: str | None
    done: asyncio.Future[Attempt] | None = None


_Event = ExecutionReport | BusinessReject | SessionReject | CancelReject | _Hold | _Reject


class OrderManager:
    """Implements fixgw.service.OrderFlow; ``execute`` / ``status`` / ``cancel`` serve the RPCs."""

    def __init__(
        self,
        gateway: OrderGateway,
        settings: OrderSettings | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        health: LpHealth | None = None,
    ) -> None:
        self._health = health
        self._pool: Pool | None = None
        self._gw = gateway
        self._settings = settings or OrderSettings()
        self._prefix = self._settings.cl_ord_id_prefix
        self._clock = clock
        self._orders: dict[str, _Entry] = {}
        self._entry_of: dict[str, _Entry] = {}  # attempt ClOrdID -> its order, in memory
        self._unresolved: dict[str, set[str]] = {}  # lp -> ClOrdIDs not final
        self._held: dict[str, set[str]] = {}  # lp -> ClOrdIDs UNKNOWN
        self._intents: dict[str, _Intent] = {}
        self._sent_at: dict[str, float] = {}  # ClOrdID -> monotonic send time (this process)
        self._seq: OrderedDict[tuple[str, int], str] = OrderedDict()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._queues: dict[str, asyncio.Queue[_Event]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._reconciler: asyncio.Task[None] | None = None
        self._request_ids = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def _db(self) -> Pool:
        assert self._pool is not None, "OrderManager.start() first"
        return self._pool

    async def start(self, pool: Pool) -> None:
        """Load (and hold) every unresolved attempt, then start the periodic reconciliation.

        ``pool`` is an asyncpg pool on a database with fixgw's migrations applied.
        """
        self._pool = pool
        async with self._db.acquire() as conn:
            loaded = await store.hold_unresolved(conn)
        for record, attempts in loaded:
            entry = self._register(record, attempts)
            for attempt in entry.unresolved():
                self._intents[attempt.cl_ord_id] = _Intent(timed_out=True)
        held = sum(len(s) for s in self._held.values())
        log.info("orders_loaded_for_reconciliation", orders=len(loaded), attempts=held)
        self._reconciler = asyncio.create_task(self._reconcile_loop(), name="fixgw-reconcile")

    async def stop(self) -> None:
        """Stop the workers and runs; unresolved attempts stay stored for the next start."""
        tasks = [t for t in (self._reconciler, *self._workers.values(), *self._tasks) if t]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._reconciler = None
        self._workers.clear()
        self._queues.clear()

    # -- RPC use cases -----------------------------------------------------------------------

    async def execute(self, cmd: ExecuteCommand, deadline: float) -> OrderView:
        """Execute ``cmd`` (idempotent per order id); the view when settled or at ``deadline``.

        ``deadline`` is on the event loop's clock (``loop.time()``).
        """
        loop = asyncio.get_running_loop()
        async with self._order_lock(cmd.order_id):
            entry = await self._open(cmd.order_id)
            if entry is None:
                self._check_time(deadline, loop)
                async with self._db.acquire() as conn:
                    record = await store.create_order(conn, cmd)
                entry = self._orders.get(cmd.order_id) or self._register(record, [])
            if entry.record.fenced:
                return entry.view()
            if not entry.record.matches(cmd):
                raise InvalidArgument(
                    f"order {cmd.order_id} was executed with another account, symbol, side or "
                    "volume",
                    reason=Reason.ORDER_MISMATCH,
                )
            view = entry.view()
            if entry.driver is None and view.status is OrderStatus.REJECTED:
                self._check_time(deadline, loop)
                entry.cancelled = False
                entry.driver = self._spawn(self._drive(entry, cmd, deadline))
                held_wait = None
            elif view.status is OrderStatus.UNKNOWN:
                self._query_all(entry.unresolved())
                held_wait = min(deadline, loop.time() + HELD_WAIT_SECONDS)
            else:
                held_wait = None
        if held_wait is not None:
            await self._wait(
                entry, lambda: entry.view().status is not OrderStatus.UNKNOWN, held_wait
            )
        else:
            await self._wait(entry, lambda: self._settled(entry), deadline)
        view = entry.view()
        self._maybe_evict(entry)
        return view

    async def status(self, order_id: str, deadline: float | None = None) -> OrderView:
        """The order's execution as known now; an order id never seen is fenced (NOT_FOUND)."""
        loop = asyncio.get_running_loop()
        async with self._order_lock(order_id):
            entry = await self._open(order_id)
            if entry is None:
                async with self._db.acquire() as conn:
                    record = await store.fence_order(conn, order_id)
                if record.fenced:
                    log.info("order_fenced", order_id=order_id)
                    return order_view(record, [], False)
                entry = await self._open(order_id)
                if entry is None:  # pragma: no cover - the row exists now
                    raise RuntimeError(f"order {order_id} vanished")
        if entry.view().status is OrderStatus.UNKNOWN:
            self._query_all(entry.unresolved())
            until = loop.time() + HELD_WAIT_SECONDS
            if deadline is not None:
                until = min(until, deadline)
            await self._wait(entry, lambda: entry.view().status is not OrderStatus.UNKNOWN, until)
        view = entry.view()
        self._maybe_evict(entry)
        return view

    async def cancel(self, order_id: str, deadline: float) -> OrderView:
        """Cancel the order's unresolved attempts at their LPs; the view after the answers."""
        loop = asyncio.get_running_loop()
        async with self._order_lock(order_id):
            entry = await self._open(order_id)
            if entry is None:
                async with self._db.acquire() as conn:
                    record = await store.fence_order(conn, order_id)
                if record.fenced:
                    return order_view(record, [], False)
                entry = await self._open(order_id)
                if entry is None:  # pragma: no cover
                    raise RuntimeError(f"order {order_id} vanished")
            entry.cancelled = True  # a running execution sends no further attempt
        for attempt in entry.unresolved():
            intent = self._intents.get(attempt.cl_ord_id, _Intent())
            reason = intent.cancel_reason or Reason.LP_CANCELLED
            self._intents[attempt.cl_ord_id] = replace(intent, cancel_reason=reason)
            self._send_cancel(attempt)
        wait = max((self._timeout(a.lp) for a in entry.unresolved()), default=0.0)
        until = min(deadline, loop.time() + wait)
        await self._wait(entry, lambda: not entry.unresolved(), until)
        if entry.unresolved():
            self._query_all(entry.unresolved())
            until = min(deadline, loop.time() + wait)
            await self._wait(entry, lambda: not entry.unresolved(), until)
        view = entry.view()
        self._maybe_evict(entry)
        return view

    # -- OrderFlow (called by the gateway on the loop) ---------------------------------------

    def on_logon(self, lp: str) -> None:
        held = self._attempts_of(self._held.get(lp, ()))
        if held:
            log.info("lp_reconciling", lp=lp, held=len(held))
            self._query_all(held)

    def on_logout(self, lp: str) -> None:
        unresolved = len(self._unresolved.get(lp, ()))
        if unresolved:
            log.warning("lp_logged_out_with_orders", lp=lp, unresolved=unresolved)

    def on_execution_report(self, report: ExecutionReport) -> None:
        self._enqueue(report.lp, report)

    def on_cancel_reject(self, reject: CancelReject) -> None:
        self._enqueue(reject.lp, reject)

    def on_business_reject(self, reject: BusinessReject) -> None:
        self._enqueue(reject.lp, reject)

    def on_session_reject(self, reject: SessionReject) -> None:
        self._enqueue(reject.lp, reject)

    def on_order_sent(self, lp: str, cl_ord_id: str, seq_num: int) -> None:
        self._seq[(lp, seq_num)] = cl_ord_id
        while len(self._seq) > SEQ_MAP_SIZE:
            self._seq.popitem(last=False)

    def unresolved(self, lp: str) -> int:
        return len(self._unresolved.get(lp, ()))

    def reconciling(self, lp: str) -> bool:
        return bool(self._held.get(lp))

    # -- execution runs ----------------------------------------------------------------------

    def _candidates(self, cmd: ExecuteCommand) -> list[str]:
        """The LPs to try, in priority order (the order's preferred LPs first), except that an LP
        whose depth shows less than the order on the side it takes goes after the others (a
        20-lot order is not sent first to an LP showing 10); an LP without depth (top of book
        only) keeps its place."""
        names = list(cmd.lps) or self._gw.lps_for(cmd.symbol)
        first = [lp for lp in cmd.preferred_lps if lp in names]
        seen: list[str] = []
        for name in first + names:
            if name not in seen:
                seen.append(name)
        by_depth = sorted(seen, key=lambda lp: self._shows_too_little(lp, cmd))
        return self._degraded_last(by_depth)

    def _degraded_last(self, lps: list[str]) -> list[str]:
        """LP health (fixgw.lphealth): a degraded LP keeps its place among the degraded ones,
        after every healthy one (a stable sort)."""
        health = self._health
        if health is None:
            return lps
        return sorted(lps, key=health.degraded)

    def _shows_too_little(self, lp: str, cmd: ExecuteCommand) -> bool:
        try:
            shown = self._gw.shown_size(lp, cmd.symbol, cmd.side is Side.BUY)
            factor = qty_factor(cmd.contract_size, self._gw.config(lp).qty_unit)
        except (LookupError, FxError):
            return False  # an unknown LP: the run logs and skips it
        return shown is not None and shown < cmd.volume * factor

    async def _drive(self, entry: _Entry, cmd: ExecuteCommand, deadline: float) -> None:
        """One execution run: LPs in priority order until one fills, holds, or none is left."""
        loop = asyncio.get_running_loop()
        sent_any = False
        try:
            for lp in self._candidates(cmd):
                if entry.cancelled or loop.time() > deadline - self._settings.min_send_seconds:
                    break
                try:
                    if not self._gw.healthy(lp):
                        continue
                except (LookupError, FxError):
                    log.warning("execute_unknown_lp", lp=lp, order_id=cmd.order_id)
                    continue
                attempt = await self._new_attempt(entry, cmd, lp)
                if attempt is None:
                    continue
                sent_any = True
                outcome = await self._run_attempt(entry, attempt, deadline)
                if outcome.status is not AttemptStatus.REJECTED:
                    return  # filled, partially filled, or held: no other LP
            if not sent_any:
                reason = Reason.NO_LIQUIDITY
                message = "no healthy LP for " + cmd.symbol
                async with self._db.acquire() as conn:
                    await store.end_run(conn, cmd.order_id, reason, message)
                entry.record = replace(entry.record, reject_reason=reason, reject_message=message)
                ORDER_REJECTS.labels("", reason).inc()
                log.info("order_no_liquidity", order_id=cmd.order_id, symbol=cmd.symbol)
        except Exception:
            log.exception("order_run_failed", order_id=cmd.order_id)
            for attempt in entry.unresolved():  # a sent order whose fate we did not follow
                if attempt.status is AttemptStatus.PENDING:
                    with contextlib.suppress(Exception):
                        await self._hold(attempt)
        finally:
            entry.driver = None
            entry.notify()
            self._maybe_evict(entry)

    async def _new_attempt(self, entry: _Entry, cmd: ExecuteCommand, lp: str) -> Attempt | None:
        config = self._gw.config(lp)
        terms = order_terms(
            config.order_style,
            cmd.side,
            cmd.worst_price,
            self._gw.top_of_book(lp, cmd.symbol),
            config.limit_slippage,
        )
        if terms is None:
            log.warning("lp_has_no_price", lp=lp, symbol=cmd.symbol, order_id=cmd.order_id)
            return None
        factor = qty_factor(cmd.contract_size, config.qty_unit)
        number = max((a.attempt_no for a in entry.attempts.values()), default=0) + 1
        attempt = Attempt(
            cl_ord_id=cl_ord_id(self._prefix, cmd.order_id, number),
            order_id=cmd.order_id,
            attempt_no=number,
            lp=lp,
            lp_symbol=self._gw.lp_symbol(lp, cmd.symbol),
            side=cmd.side,
            style=terms.style,
            limit_price=terms.limit_price,
            lp_qty=cmd.volume * factor,
            qty_factor=factor,
            status=AttemptStatus.PENDING,
            sent_at=self._clock(),
        )
        async with self._db.acquire() as conn:
            await store.insert_attempt(conn, attempt)  # committed before the order is sent
        self._put(entry, attempt)
        return attempt

    async def _run_attempt(self, entry: _Entry, attempt: Attempt, deadline: float) -> Attempt:
        """Send the attempt and follow it until final, or until it is held."""
        loop = asyncio.get_running_loop()
        key = attempt.cl_ord_id
        if not self._gw.send(attempt.lp, messages.new_order_single(attempt, self._clock())):
            log.warning("order_not_sent", lp=attempt.lp, cl_ord_id=key)
            return await self._reject_attempt(
                attempt, Reason.LP_UNAVAILABLE, "the LP session did not take the order"
            )
        self._sent_at[key] = time.monotonic()
        log.info(
            "order_sent",
            lp=attempt.lp,
            cl_ord_id=key,
            style=attempt.style.value,
            limit_price=None if attempt.limit_price is None else str(attempt.limit_price),
        )
        timeout = self._timeout(attempt.lp)
        first = min(timeout, max(deadline - loop.time(), 0.0))
        current = await self._wait_attempt(entry, key, first)
        if current.status.final:
            return current
        # No final answer in time: learn its fate before anything else is sent for this order.
        intent = self._intents.get(key, _Intent())
        self._intents[key] = replace(intent, timed_out=True, cancel_reason=Reason.LP_TIMEOUT)
        log.warning("order_timed_out", lp=attempt.lp, cl_ord_id=key)
        if self._send_status_request(current):
            current = await self._wait_attempt(entry, key, timeout)
            if current.status.final:
                return current
        if self._send_cancel(current):
            current = await self._wait_attempt(entry, key, timeout)
            if current.status.final:
                return current
        return await self._hold(current)

    async def _wait_attempt(self, entry: _Entry, key: str, seconds: float) -> Attempt:
        until = asyncio.get_running_loop().time() + seconds
        await self._wait(entry, lambda: entry.attempts[key].status.final, until)
        return entry.attempts[key]

    async def _wait(self, entry: _Entry, done: Callable[[], bool], until: float) -> None:
        loop = asyncio.get_running_loop()
        while not done():
            remaining = until - loop.time()
            if remaining <= 0:
                return
            event = entry.changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _settled(self, entry: _Entry) -> bool:
        return entry.driver is None and not any(
            a.status is AttemptStatus.PENDING for a in entry.attempts.values()
        )

    def _check_time(self, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        if deadline - loop.time() < self._settings.min_send_seconds:
            raise DeadlineExceeded("too little time left to send an order to an LP")

    def _timeout(self, lp: str) -> float:
        try:
            return float(self._gw.config(lp).order_timeout_seconds)
        except (LookupError, FxError):
            return 2.0

    # -- messages to the LP ------------------------------------------------------------------

    def _request_id(self, kind: str) -> str:
        self._request_ids += 1
        return f"{kind}{int(time.time() * 1000):x}{self._request_ids:x}"

    def _send_status_request(self, attempt: Attempt) -> bool:
        request_id = attempt.cl_ord_id + "-" + self._request_id("S")
        try:
            sent = self._gw.send(attempt.lp, messages.order_status_request(attempt, request_id))
        except (LookupError, FxError):
            sent = False
        log.info("order_status_requested", lp=attempt.lp, cl_ord_id=attempt.cl_ord_id, sent=sent)
        return sent

    def _send_cancel(self, attempt: Attempt) -> bool:
        cancel_id = attempt.cl_ord_id + "-" + self._request_id("C")
        message = messages.order_cancel_request(attempt, cancel_id, self._clock())
        try:
            sent = self._gw.send(attempt.lp, message)
        except (LookupError, FxError):
            sent = False
        log.info("order_cancel_requested", lp=attempt.lp, cl_ord_id=attempt.cl_ord_id, sent=sent)
        return sent

    def _query_all(self, attempts: Iterable[Attempt]) -> None:
        for attempt in attempts:
            if attempt.unresolved and self._logged_on(attempt.lp):
                self._send_status_request(attempt)
                if (
                    attempt.status is AttemptStatus.UNKNOWN
                    and self._intents.get(attempt.cl_ord_id, _Intent()).working
                ):
                    self._send_cancel(attempt)

    def _logged_on(self, lp: str) -> bool:
        try:
            return self._gw.logged_on(lp)
        except (LookupError, FxError):
            return False

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.reconcile_seconds)
            try:
                for lp, keys in list(self._held.items()):
                    held = self._attempts_of(keys)
                    if held and self._logged_on(lp):
                        self._query_all(held)
            except Exception:
                log.exception("reconcile_pass_failed")

    # -- the per-LP workers: every attempt change, in order ---------------------------------

    def _enqueue(self, lp: str, event: _Event) -> None:
        queue = self._queues.get(lp)
        if queue is None:
            queue = self._queues[lp] = asyncio.Queue()
            self._workers[lp] = asyncio.create_task(self._work(queue), name=f"fixgw-orders-{lp}")
        queue.put_nowait(event)

    async def _work(self, queue: asyncio.Queue[_Event]) -> None:
        while True:
            event = await queue.get()
            try:
                await self._handle(event)
            except Exception:
                log.exception("order_event_failed", kind=type(event).__name__)
                if isinstance(event, _Hold | _Reject) and event.done and not event.done.done():
                    event.done.set_exception(RuntimeError("order event failed"))

    async def _handle(self, event: _Event) -> None:
        if isinstance(event, ExecutionReport):
            await self._on_report(event)
        elif isinstance(event, _Hold):
            await self._do_hold(event)
        elif isinstance(event, _Reject):
            await self._do_reject(event)
        elif isinstance(event, BusinessReject):
            await self._on_business_reject(event)
        elif isinstance(event, SessionReject):
            await self._on_session_reject(event)
        else:
            await self._on_cancel_reject(event)

    async def _find(self, lp: str, *ids: str | None) -> tuple[_Entry, Attempt] | None:
        """The attempt one of ``ids`` names (a cancel's or status query's id included)."""
        for value in ids:
            if not value:
                continue
            key = attempt_cl_ord_id(self._prefix, value)
            if key is None:
                continue
            entry = self._entry_of.get(key)
            if entry is None:
                order_id = key[len(self._prefix) :].rpartition("-")[0]
                async with self._order_lock(order_id):
                    entry = await self._open(order_id)
            if entry is not None and key in entry.attempts and entry.attempts[key].lp == lp:
                return entry, self._with_intent(entry.attempts[key])
            if entry is not None:
                self._maybe_evict(entry)
        return None

    def _with_intent(self, attempt: Attempt) -> Attempt:
        intent = self._intents.get(attempt.cl_ord_id)
        if intent is None:
            return attempt
        return replace(attempt, timed_out=intent.timed_out, cancel_reason=intent.cancel_reason)

    async def _on_report(self, report: ExecutionReport) -> None:
        found = await self._find(report.lp, report.cl_ord_id, report.orig_cl_ord_id)
        if found is None:
            UNMATCHED.labels(report.lp, "8").inc()
            log.warning(
                "execution_report_unmatched",
                lp=report.lp,
                cl_ord_id=report.cl_ord_id,
                exec_id=report.exec_id,
                exec_type=report.exec_type,
            )
            return
        entry, attempt = found
        if is_working(report) and attempt.unresolved:
            intent = self._intents.get(attempt.cl_ord_id, _Intent())
            self._intents[attempt.cl_ord_id] = replace(intent, working=True)
        applied = apply_report(attempt, report, report.received_at or self._clock())
        if applied is None:
            log.info(
                "execution_report_duplicate",
                lp=report.lp,
                cl_ord_id=attempt.cl_ord_id,
                exec_id=report.exec_id,
                poss_dup=report.poss_dup,
            )
            return
        new = applied.attempt
        stored = True
        if applied.execution is not None:
            async with self._db.acquire() as conn:
                stored = await store.apply_execution(conn, new, applied.execution)
        elif (new.status, new.filled_lp_qty, new.reject_reason) != (
            attempt.status,
            attempt.filled_lp_qty,
            attempt.reject_reason,
        ):
            async with self._db.acquire() as conn:
                await store.update_attempt(conn, new)
        if not stored:  # applied before (another path, or before a restart): nothing new
            log.info("execution_report_seen_before", lp=report.lp, exec_id=report.exec_id)
            return
        if applied.fill is not None:
            FILLS.labels(new.lp).inc()
            if attempt.status.final:
                log.error(
                    "fill_after_final",
                    lp=new.lp,
                    cl_ord_id=new.cl_ord_id,
                    exec_id=applied.fill.exec_id,
                    previous=attempt.status.value,
                )
        if applied.became_final:
            self._finished(new)
        self._put(entry, new)
        self._maybe_evict(entry)

    def _finished(self, attempt: Attempt) -> None:
        sent = self._sent_at.pop(attempt.cl_ord_id, None)
        latency = None if sent is None else time.monotonic() - sent
        if latency is not None:
            FILL_LATENCY.labels(attempt.lp).observe(latency)
        if self._health is not None:
            self._health.record(attempt.lp, attempt.status.value, attempt.reject_reason, latency)
        if attempt.status is AttemptStatus.REJECTED:
            ORDER_REJECTS.labels(attempt.lp, attempt.reject_reason or "").inc()
        log.info(
            "order_attempt_final",
            lp=attempt.lp,
            cl_ord_id=attempt.cl_ord_id,
            status=attempt.status.value,
            filled=str(attempt.filled),
            avg_price=None if attempt.avg_price is None else str(attempt.avg_price),
            reason=attempt.reject_reason,
            text=attempt.reject_message,
        )

    async def _hold(self, attempt: Attempt) -> Attempt:
        done: asyncio.Future[Attempt] = asyncio.get_running_loop().create_future()
        self._enqueue(attempt.lp, _Hold(attempt.cl_ord_id, done))
        return await done

    async def _do_hold(self, event: _Hold) -> None:
        entry = self._entry_of.get(event.cl_ord_id)
        if entry is None:  # pragma: no cover - a running attempt is always in memory
            raise RuntimeError(f"attempt {event.cl_ord_id} not in memory")
        current = entry.attempts[event.cl_ord_id]
        if current.status is AttemptStatus.PENDING:
            held = replace(current, status=AttemptStatus.UNKNOWN)
            try:
                async with self._db.acquire() as conn:
                    await store.update_attempt(conn, held)
            finally:
                # Held in memory even if the write failed: PENDING at start is held as well.
                self._put(entry, held)
            log.warning("order_held", lp=held.lp, cl_ord_id=held.cl_ord_id)
            current = held
        if not event.done.done():
            event.done.set_result(current)

    async def _reject_attempt(self, attempt: Attempt, reason: str, message: str) -> Attempt:
        done: asyncio.Future[Attempt] = asyncio.get_running_loop().create_future()
        self._enqueue(attempt.lp, _Reject(attempt.cl_ord_id, reason, message, done))
        return await done

    async def _do_reject(self, event: _Reject) -> None:
        entry = self._entry_of.get(event.cl_ord_id)
        if entry is None:  # pragma: no cover
            raise RuntimeError(f"attempt {event.cl_ord_id} not in memory")
        await self._store_reject(entry, entry.attempts[event.cl_ord_id], event)

    async def _store_reject(self, entry: _Entry, attempt: Attempt, event: _Reject) -> None:
        rejected = reject(attempt, event.reason, event.message, self._clock())
        if rejected is not None:
            async with self._db.acquire() as conn:
                await store.update_attempt(conn, rejected)
            self._finished(rejected)
            self._put(entry, rejected)
            attempt = rejected
            self._maybe_evict(entry)
        if event.done is not None and not event.done.done():
            event.done.set_result(attempt)

    async def _on_business_reject(self, event: BusinessReject) -> None:
        if event.ref_msg_type not in (None, "", "D"):
            log.warning(
                "business_reject_not_an_order",
                lp=event.lp,
                ref_msg_type=event.ref_msg_type,
                ref_id=event.ref_id,
                text=event.text,
            )
            return
        by_seq = self._seq.get((event.lp, event.ref_seq_num or -1))
        found = await self._find(event.lp, event.ref_id, by_seq)
        if found is None:
            UNMATCHED.labels(event.lp, "j").inc()
            log.warning("business_reject_unmatched", lp=event.lp, ref_id=event.ref_id)
            return
        entry, attempt = found
        reason = Reason.LP_REJECTED
        await self._store_reject(entry, attempt, _Reject(attempt.cl_ord_id, reason, event.text))

    async def _on_session_reject(self, event: SessionReject) -> None:
        key = self._seq.get((event.lp, event.ref_seq_num or -1))
        if key is None or event.ref_msg_type not in (None, "", "D"):
            log.info("session_reject_not_an_order", lp=event.lp, ref_seq_num=event.ref_seq_num)
            return
        found = await self._find(event.lp, key)
        if found is None:
            UNMATCHED.labels(event.lp, "3").inc()
            return
        entry, attempt = found
        reason = Reason.LP_REJECTED
        await self._store_reject(entry, attempt, _Reject(attempt.cl_ord_id, reason, event.text))

    async def _on_cancel_reject(self, event: CancelReject) -> None:
        """A cancel refused ("too late", "unknown order"): ask for the status, which settles it."""
        found = await self._find(event.lp, event.orig_cl_ord_id, event.cl_ord_id)
        if found is None:
            UNMATCHED.labels(event.lp, "9").inc()
            return
        _, attempt = found
        log.info(
            "order_cancel_rejected",
            lp=event.lp,
            cl_ord_id=attempt.cl_ord_id,
            ord_status=event.ord_status,
            reason=event.reason,
            text=event.text,
        )
        if attempt.unresolved:
            self._send_status_request(attempt)

    # -- memory ------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _order_lock(self, order_id: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(order_id, (asyncio.Lock(), 0))
        self._locks[order_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[order_id]
            if users <= 1:
                del self._locks[order_id]
            else:
                self._locks[order_id] = (lock, users - 1)

    async def _open(self, order_id: str) -> _Entry | None:
        """The order in memory, loaded from the database if needed (call under its lock)."""
        entry = self._orders.get(order_id)
        if entry is not None:
            return entry
        async with self._db.acquire() as conn:
            loaded = await store.load_order(conn, order_id)
        if loaded is None:
            return None
        return self._register(*loaded)

    def _register(self, record: OrderRecord, attempts: list[Attempt]) -> _Entry:
        entry = _Entry(record)
        self._orders[record.order_id] = entry
        for attempt in attempts:
            self._put(entry, attempt)
        return entry

    def _put(self, entry: _Entry, attempt: Attempt) -> None:
        key, lp = attempt.cl_ord_id, attempt.lp
        entry.attempts[key] = attempt
        self._entry_of[key] = entry
        unresolved = self._unresolved.setdefault(lp, set())
        held = self._held.setdefault(lp, set())
        if attempt.unresolved:
            unresolved.add(key)
        else:
            unresolved.discard(key)
        if attempt.status is AttemptStatus.UNKNOWN:
            held.add(key)
        else:
            held.discard(key)
        ORDERS_HELD.set(sum(len(s) for s in self._held.values()))
        entry.notify()

    def _attempts_of(self, keys: Iterable[str]) -> list[Attempt]:
        found: list[Attempt] = []
        for key in list(keys):
            entry = self._entry_of.get(key)
            if entry is not None and key in entry.attempts:
                found.append(entry.attempts[key])
        return found

    def _maybe_evict(self, entry: _Entry) -> None:
        """Forget a settled order (it is read from the database when needed again)."""
        order_id = entry.record.order_id
        if self._orders.get(order_id) is not entry or order_id in self._locks:
            return
        if entry.driver is not None or entry.unresolved():
            return
        del self._orders[order_id]
        for key in entry.attempts:
            self._entry_of.pop(key, None)
            self._intents.pop(key, None)
            self._sent_at.pop(key, None)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task
