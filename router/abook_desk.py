"""A-book execution: an order sent to the LPs through fixgw, its fills priced for the client.

The order's life in the router (``router.order_claims``):

1. ``prepare`` prices the order's constraints (``router.abook``): the markup of the symbol's
   policy from the client quote, the client's worst price and the LP worst price sent to fixgw.
2. ``submit`` claims the order SUBMITTED, with its decision PENDING and the submission
   (``router.abook_orders``), in one statement, BEFORE anything is sent: from then on the order's
   outcome is always looked for and the order is never sent as a new order by another path.
3. ``send`` calls ``fixgw.ExecuteOrder`` with the caller's remaining deadline less a margin:
   * FILLED / PARTIALLY_FILLED: claim EXECUTED, decision and the client fills
     (``router.lp_fills``) commit in one statement; the client fills are answered.
   * REJECTED: decision REJECTED and the SUBMITTED claim deleted in one statement (a pending order
     may be executed again later: fixgw then sends a new attempt); the reason is answered.
   * NOT_FOUND (fixgw fenced the order id: a reconciliation got there first): the claim is FENCED.
   * PENDING / UNKNOWN (held for reconciliation at fixgw), or fixgw unreachable: the claim stays
     SUBMITTED and the RPC fails UNAVAILABLE with reason ``EXECUTION_PENDING``; oms then asks
     ``ReconcileExecution`` (now, and in its recovery passes until it is answered).
4. ``resume``: an Execute of a SUBMITTED order (a retry, or a racing Execute) sends the stored
   submission again: fixgw is idempotent per order id and sends nothing new while an attempt is
   unresolved or filled, so it answers the same execution.
5. ``reconcile`` of a SUBMITTED order asks ``fixgw.GetOrderStatus``: fills are written as in 3
   (claim EXECUTED) and answered; REJECTED or NOT_FOUND fence the order (claim FENCED, answer
   NOT_EXECUTED); PENDING / UNKNOWN / unreachable fail UNAVAILABLE ``EXECUTION_PENDING`` again.
   A fill that arrives after the client's deadline is so booked exactly once, by whichever of
   Execute and ReconcileExecution writes it first (the claim's SUBMITTED -> EXECUTED update lets
   only one statement write), and a client retrying the same clientOrderId gets it replayed.

Closing orders follow the venue holding the risk: ``close_book`` A sends the close to
``close_venue`` alone first; when fixgw answers that it cannot (REJECTED ``NO_LIQUIDITY``: that LP
is not healthy) and time remains, the close goes once more to the symbol's configured LP list
(fixgw's, which the router does not know), so a client close or a stop-out is not refused while
another LP can take it.

Within one router process, the A-book steps of one order id run one at a time (Execute's send
and a ReconcileExecution's status query), so a reconciliation never fences an order whose retried
Execute is at the LPs. Across router instances the claim statements keep every outcome written
once.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from prometheus_client import Counter, Histogram

from bbook import BookFill, Rejection
from fxmesh.db import Pool
from fxmesh.errors import FailedPrecondition, Unavailable
from fxmesh.metrics import LATENCY_BUCKETS
from fxmesh.money import fmt
from fxmesh.quotecache import ClientQuote
from fxmesh.reasons import Reason
from router import repository
from router.abook import (
    CLOSE_FOLLOWS_VENUE,
    PASS_THROUGH_MARKUP,
    AbookFill,
    AbookOrder,
    AbookSymbolSettings,
    LpExecution,
    LpStatus,
    Markup,
    PricePolicy,
    client_worst_price,
    lp_worst_price,
    reject_message,
    reject_reason,
)
from router.domain import (
    Book,
    ClientFill,
    Decision,
    ExecuteCommand,
    ExecuteResult,
    ExecutionStatus,
    OrderState,
)
from router.fixgw_client import FixgwClient, FixgwUnavailable
from router.house import House

log = structlog.stdlib.get_logger(__name__)

DEFAULT_SETTINGS = AbookSymbolSettings()

# Reasons a metric label may carry; anything else counts as OTHER (labels stay bounded).
_KNOWN_REASONS = frozenset(
    {
        "",
        Reason.NO_LIQUIDITY,
        Reason.NO_QUOTE,
        Reason.PRICE_DEVIATION_EXCEEDED,
        Reason.LIMIT_NOT_REACHED,
        Reason.NOT_EXECUTED,
        Reason.ORDER_ABANDONED,
        Reason.EXECUTION_PENDING,
        Reason.LP_REJECTED,
        Reason.LP_EXPIRED,
        Reason.LP_TIMEOUT,
        Reason.LP_CANCELLED,
        Reason.LP_UNAVAILABLE,
        Reason.ORDER_FENCED,
    }
)
OUTCOMES = Counter(
    "fxmesh_router_abook_outcomes_total",
    "A-book executions answered (Execute and ReconcileExecution), by status "
    "(FILLED, PARTIALLY_FILLED, REJECTED, NOT_EXECUTED, PENDING) and reason.",
    ["status", "reason"],
)
BEYOND_LIMIT = Counter(
    "fxmesh_router_abook_fills_beyond_limit_total",
    "LP fills beyond the worst price the order allowed (booked; the client's price is capped).",
    ["lp"],
)
FIXGW_SECONDS = Histogram(
    "fxmesh_router_fixgw_seconds",
    "Duration of the router's calls to fixgw, by RPC.",
    ["rpc"],
    buckets=LATENCY_BUCKETS,
)
CLOSE_FALLBACKS = Counter(
    "fxmesh_router_abook_close_fallbacks_total",
    "A-book closes sent to the symbol's LP list because the position's LP could not take them.",
)


def _label(reason: str) -> str:
    return reason if reason in _KNOWN_REASONS else "OTHER"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def execution_pending(order_id: str, why: str) -> Unavailable:
    """The UNAVAILABLE answer for an order whose outcome at the LPs is not known yet."""
    OUTCOMES.labels("PENDING", Reason.EXECUTION_PENDING).inc()
    return Unavailable(
        f"order {order_id} is at the LPs and its outcome is not known yet ({why}); "
        "ask ReconcileExecution",
        reason=Reason.EXECUTION_PENDING,
        metadata={"order_id": order_id},
    )


class AbookDesk:
    """The router's A-book: prepare, submit, send, resume, reconcile and replay orders."""

    def __init__(
        self,
        pool: Pool,
        fixgw: FixgwClient,
        quote: Callable[[str, str], Awaitable[ClientQuote | None]],
        *,
        deadline_margin_seconds: float = 0.5,
        default_timeout_seconds: float = 4.5,
        utcnow: Callable[[], datetime] = _utcnow,
        house: House | None = None,
    ) -> None:
        self._pool = pool
        self._house = house
        self._fixgw = fixgw
        self._quote = quote
        self._margin = deadline_margin_seconds
        self._default_timeout = default_timeout_seconds
        self._utcnow = utcnow
        self.settings: dict[str, AbookSymbolSettings] = {}
        self._order_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def set_settings(self, settings: Mapping[str, AbookSymbolSettings]) -> None:
        """Replace the per-symbol A-book settings; a symbol without any prices with MARKUP."""
        self.settings = dict(settings)

    def settings_for(self, symbol: str) -> AbookSymbolSettings:
        return self.settings.get(symbol, DEFAULT_SETTINGS)

    def _lock(self, order_id: str) -> asyncio.Lock:
        lock = self._order_locks.get(order_id)
        if lock is None:
            lock = asyncio.Lock()
            self._order_locks[order_id] = lock
        return lock

    def _timeout(self, remaining: float | None) -> float:
        """The deadline of a call to fixgw: the caller's remaining time less the margin."""
        if remaining is None:
            return self._default_timeout
        return max(remaining - self._margin, 0.05)

    # --- Execute -------------------------------------------------------------------------------

    async def prepare(self, cmd: ExecuteCommand) -> AbookOrder | Rejection:
        """The order to send: its markup, client worst price and LP worst price, or a reject."""
        policy = self.settings_for(cmd.symbol).price_policy
        markup = PASS_THROUGH_MARKUP
        if policy is PricePolicy.MARKUP:
            # The markup is the one of the client's group's price, the price the client saw.
            quote = await self._quote(cmd.symbol, cmd.client_group)
            if quote is None:
                # Without the client quote the markup is unknown and the client saw no price.
                return Rejection(Reason.NO_QUOTE, f"no price for {cmd.symbol}")
            if quote.markup_bid is None or quote.markup_ask is None:
                log.warning("client_quote_without_markup", symbol=cmd.symbol)
            markup = Markup.of_quote(quote)
        client_worst = client_worst_price(
            cmd.side,
            requested_price=cmd.requested_price,
            max_deviation=cmd.max_price_deviation,
            limit_price=cmd.limit_price,
        )
        lp_worst = lp_worst_price(cmd.side, client_worst, markup)
        if lp_worst is not None and lp_worst <= 0:
            reason = (
                Reason.LIMIT_NOT_REACHED
                if cmd.limit_price is not None
                else Reason.PRICE_DEVIATION_EXCEEDED
            )
            assert client_worst is not None
            return Rejection(
                reason, f"no LP price gives {cmd.symbol} at {fmt(client_worst)} after markup"
            )
        closing_a = cmd.close_book is Book.A and bool(cmd.close_venue)
        return AbookOrder(
            order_id=cmd.order_id,
            account_id=cmd.account_id,
            symbol=cmd.symbol,
            side=cmd.side,
            volume=cmd.volume,
            contract_size=cmd.contract_size,
            policy=policy,
            markup=markup,
            client_worst=client_worst,
            lp_worst=lp_worst,
            has_limit=cmd.limit_price is not None,
            lps=(cmd.close_venue,) if closing_a else (),
        )

    async def submit(
        self,
        order: AbookOrder,
        decision: Decision,
        trace_id: str | None,
        remaining: float | None,
    ) -> ExecuteResult | None:
        """Claim the order SUBMITTED and send it; None when another claim exists (read it)."""
        started = time.monotonic()
        async with self._lock(order.order_id):
            async with self._pool.acquire() as conn:
                won = await repository.claim_submitted(conn, order, decision, trace_id)
            if not won:
                return None
            return await self._send(order, decision, _less(remaining, started))

    async def resume(
        self, cmd: ExecuteCommand, state: OrderState, remaining: float | None
    ) -> ExecuteResult:
        """Execute of an order that is SUBMITTED already: send its submission again."""
        started = time.monotonic()
        async with self._lock(cmd.order_id):
            state = await self._state(cmd.order_id)
            if not state.submitted:
                return await self.answer(cmd.order_id, state, cmd)
            order, decision = _submission(cmd.order_id, state)
            _check_same_order(cmd, order)
            return await self._send(order, decision, _less(remaining, started))

    async def _send(
        self, order: AbookOrder, decision: Decision, remaining: float | None
    ) -> ExecuteResult:
        timeout = self._timeout(remaining)
        deadline = time.monotonic() + timeout
        try:
            execution = await self._execute_order(order, list(order.lps), timeout)
            if (
                order.lps
                and execution.status is LpStatus.REJECTED
                and execution.reject_reason == Reason.NO_LIQUIDITY
                and not execution.fills
                and deadline - time.monotonic() > 0.05
            ):
                # The position's LP cannot take the close: the symbol's LP list can.
                CLOSE_FALLBACKS.inc()
                log.warning("close_venue_unavailable", order_id=order.order_id, lps=order.lps)
                execution = await self._execute_order(order, [], deadline - time.monotonic())
        except FixgwUnavailable as exc:
            raise execution_pending(order.order_id, str(exc)) from exc
        return await self._settle(order, decision, execution, reconciling=False)

    async def _execute_order(
        self, order: AbookOrder, lps: list[str], deadline_seconds: float
    ) -> LpExecution:
        started = time.perf_counter()
        try:
            return await self._fixgw.execute_order(
                order_id=order.order_id,
                account_id=order.account_id,
                symbol=order.symbol,
                side=order.side,
                volume=order.volume,
                contract_size=order.contract_size,
                worst_price=order.lp_worst,
                lps=lps,
                preferred_lps=order.preferred_lps,
                deadline_seconds=deadline_seconds,
            )
        finally:
            FIXGW_SECONDS.labels("ExecuteOrder").observe(time.perf_counter() - started)

    # --- ReconcileExecution --------------------------------------------------------------------

    async def reconcile(self, order_id: str, remaining: float | None) -> ExecuteResult | None:
        """ReconcileExecution of a SUBMITTED order: what fixgw knows of it now, settled.

        None when the order is no longer SUBMITTED once its turn comes (the caller reconciles
        it as any other order).
        """
        started = time.monotonic()
        async with self._lock(order_id):
            state = await self._state(order_id)
            if not state.submitted:
                return None
            order, decision = _submission(order_id, state)
            started_call = time.perf_counter()
            try:
                execution = await self._fixgw.order_status(
                    order_id, deadline_seconds=self._timeout(_less(remaining, started))
                )
            except FixgwUnavailable as exc:
                raise execution_pending(order_id, str(exc)) from exc
            finally:
                FIXGW_SECONDS.labels("GetOrderStatus").observe(time.perf_counter() - started_call)
            return await self._settle(order, decision, execution, reconciling=True)

    # --- outcomes ------------------------------------------------------------------------------

    async def _settle(
        self,
        order: AbookOrder,
        decision: Decision,
        execution: LpExecution,
        *,
        reconciling: bool,
    ) -> ExecuteResult:
        """Commit what fixgw answered for a SUBMITTED order, and answer it."""
        if execution.status.final_with_fills:
            return await self._filled(order, decision, execution)
        if execution.status.unresolved:
            raise execution_pending(order.order_id, f"fixgw: {execution.status.value}")
        if order.leg is not None and execution.status is LpStatus.REJECTED:
            # A C-book order's A leg filled nothing: the B-book takes the rest (all of it).
            log.warning(
                "cbook_a_leg_rejected",
                order_id=order.order_id,
                lp_reason=execution.reject_reason,
                lp_message=execution.reject_message,
            )
            return await self._filled(order, decision, execution)
        reason = reject_reason(execution.reject_reason, has_limit_price=order.has_limit)
        message = reject_message(execution, order.symbol, order.client_worst)
        async with self._pool.acquire() as conn:
            if reconciling or execution.status is LpStatus.NOT_FOUND:
                # Nothing filled and nothing will: fixgw fenced the order id or every attempt
                # ended; the router fences it too.
                settled = await repository.fence_submitted(conn, order.order_id, reason)
            else:
                settled = await repository.record_rejected(conn, order.order_id, reason)
        if not settled:
            return await self._lost(order.order_id, executing=not reconciling)
        if reconciling:
            result = not_executed(order.order_id, decision, reason)
        elif execution.status is LpStatus.NOT_FOUND:  # fenced at fixgw by a reconciliation
            result = abandoned_result(order.order_id, decision)
        else:
            result = ExecuteResult(
                book=decision.book,
                routing_reason=decision.reason,
                status=ExecutionStatus.REJECTED,
                reject_reason=reason,
                reject_message=message,
            )
        OUTCOMES.labels(
            "REJECTED" if result.reject_reason == reason else Reason.NOT_EXECUTED, _label(reason)
        ).inc()
        log.info(
            "abook_rejected",
            order_id=order.order_id,
            reason=reason,
            lp_reason=execution.reject_reason,
            lp_message=execution.reject_message,
            fenced=result.reject_reason != reason,
        )
        return result

    async def _filled(
        self, order: AbookOrder, decision: Decision, execution: LpExecution
    ) -> ExecuteResult:
        priced = order.price(execution, self._utcnow())
        for fill in priced.beyond_limit:
            BEYOND_LIMIT.labels(fill.lp).inc()
            log.error(
                "lp_filled_beyond_limit",
                order_id=order.order_id,
                lp=fill.lp,
                cl_ord_id=fill.cl_ord_id,
                exec_id=fill.exec_id,
                lp_price=fmt(fill.price),
                lp_worst=fmt(order.lp_worst),
                client_worst=fmt(order.client_worst),
            )
        filled = sum((f.volume for f in priced.fills), Decimal(0))
        if filled > order.volume:
            log.error(
                "lp_overfill", order_id=order.order_id, filled=fmt(filled), ordered=order.volume
            )
        status = (
            ExecutionStatus.FILLED
            if execution.status is LpStatus.FILLED
            else ExecutionStatus.PARTIALLY_FILLED
        )
        leg_fill = House.leg_fill(order, filled)
        if order.leg is not None:
            # The B-book took what the A leg did not fill: the client's order is whole.
            total = filled + (leg_fill.volume if leg_fill is not None else Decimal(0))
            status = (
                ExecutionStatus.FILLED
                if total >= order.client_volume
                else ExecutionStatus.PARTIALLY_FILLED
            )

        async def write(leg_seq: int | None = None) -> bool:
            async with self._pool.acquire() as conn:
                return await repository.record_executed(
                    conn, order.order_id, status, priced.fills, leg_fill, leg_seq
                )

        if leg_fill is None:
            won = await write()
        else:
            if self._house is None:
                raise RuntimeError("a C-book order needs the house book")
            won = await self._house.commit(leg_fill, write)
        if not won:
            return await self._lost(order.order_id, execution)
        OUTCOMES.labels(status.value, "").inc()
        if leg_fill is not None:
            log.info(
                "cbook_executed",
                order_id=order.order_id,
                a_filled=fmt(filled),
                b_volume=fmt(leg_fill.volume),
                b_price=fmt(leg_fill.price),
            )
        return _fills_result(decision, status, priced.fills, leg_fill)

    async def _lost(
        self, order_id: str, execution: LpExecution | None = None, *, executing: bool = True
    ) -> ExecuteResult:
        """Another statement settled the order first: answer what it committed."""
        state = await self._state(order_id)
        if not state.executed and execution is not None and execution.fills:
            # Fills for an order the router had fenced: the LP holds risk no client holds.
            log.critical(
                "lp_fills_on_fenced_order",
                order_id=order_id,
                fills=[(f.lp, f.exec_id, fmt(f.price), fmt(f.volume)) for f in execution.fills],
            )
        return await self.answer(order_id, state, None, executing=executing)

    async def answer(
        self,
        order_id: str,
        state: OrderState,
        cmd: ExecuteCommand | None,
        *,
        executing: bool = True,
    ) -> ExecuteResult:
        """The committed outcome of an A-book order that is no longer SUBMITTED: its fills, the
        LPs' reject (claim deleted), or for a FENCED claim ORDER_ABANDONED to an Execute and
        NOT_EXECUTED to a reconciliation."""
        recorded = state.recorded
        decision = recorded.decision if recorded is not None else Decision(Book.A, "")
        if state.executed:
            return await self.replay(order_id, state, cmd)
        if state.claim is None:  # rejected by the LPs (claim deleted)
            reason = recorded.reject_reason if recorded is not None else None
            return ExecuteResult(
                book=decision.book,
                routing_reason=decision.reason,
                status=ExecutionStatus.REJECTED,
                reject_reason=reason or Reason.LP_REJECTED,
                reject_message=f"order {order_id} was not filled by any LP",
            )
        if state.submitted:  # submitted again meanwhile: its outcome is not known yet
            raise execution_pending(order_id, "submitted again")
        if not executing:
            return not_executed(order_id, decision, recorded.reject_reason if recorded else None)
        return abandoned_result(order_id, decision)

    async def replay(
        self, order_id: str, state: OrderState, cmd: ExecuteCommand | None
    ) -> ExecuteResult:
        """An executed A-book order's fills, exactly as first answered."""
        if cmd is not None and state.abook is not None:
            _check_same_order(cmd, state.abook)
        async with self._pool.acquire() as conn:
            fills = await repository.lp_fills(conn, order_id)
        leg_fill = state.fill  # a C-book order's B leg
        if not fills and leg_fill is None:
            raise RuntimeError(f"order {order_id} is claimed EXECUTED but has no fill")
        if leg_fill is not None and self._house is not None:
            await self._house.ensure_booked(leg_fill, order_id)
        recorded = state.recorded
        decision = recorded.decision if recorded is not None else Decision(Book.A, "")
        status = recorded.status if recorded is not None else ExecutionStatus.FILLED
        return _fills_result(decision, status, fills, leg_fill)

    async def _state(self, order_id: str) -> OrderState:
        async with self._pool.acquire() as conn:
            return await repository.order_state(conn, order_id)


def close_decision(cmd: ExecuteCommand) -> Decision | None:
    """The decision of a close that follows the venue holding the risk, or None (decide)."""
    if cmd.close_book is Book.A and cmd.close_venue:
        return Decision(Book.A, CLOSE_FOLLOWS_VENUE, a_volume=cmd.volume, level="CLOSE")
    if cmd.close_book is Book.B:
        return Decision(Book.B, CLOSE_FOLLOWS_VENUE, b_volume=cmd.volume, level="CLOSE")
    return None


def _less(remaining: float | None, since: float) -> float | None:
    return None if remaining is None else remaining - (time.monotonic() - since)


def _submission(order_id: str, state: OrderState) -> tuple[AbookOrder, Decision]:
    if state.abook is None or state.recorded is None:
        raise RuntimeError(f"order {order_id} is SUBMITTED without its submission")
    return state.abook, state.recorded.decision


def _fills_result(
    decision: Decision,
    status: ExecutionStatus,
    fills: list[AbookFill] | tuple[AbookFill, ...],
    leg_fill: BookFill | None = None,
) -> ExecuteResult:
    """The client's fills: the LPs' in the order received, then a C-book order's B leg."""
    client = [f.client_fill() for f in fills]
    if leg_fill is not None:
        client.append(ClientFill.of_bbook(leg_fill))
    return ExecuteResult(
        book=decision.book,
        routing_reason=decision.reason,
        status=status,
        fills=tuple(client),
    )


def not_executed(order_id: str, decision: Decision, reason: str | None) -> ExecuteResult:
    message = f"order {order_id} was not executed by the router and will never be"
    if reason:
        message += f" (its last execution was rejected {reason})"
    return ExecuteResult(
        book=decision.book,
        routing_reason=decision.reason,
        status=ExecutionStatus.REJECTED,
        reject_reason=Reason.NOT_EXECUTED,
        reject_message=message,
    )


def abandoned_result(order_id: str, decision: Decision) -> ExecuteResult:
    return ExecuteResult(
        book=decision.book,
        routing_reason=decision.reason,
        status=ExecutionStatus.REJECTED,
        reject_reason=Reason.ORDER_ABANDONED,
        reject_message=(
            f"order {order_id} was reconciled as not executed; it can no longer be executed"
        ),
    )


def _check_same_order(cmd: ExecuteCommand, order: AbookOrder) -> None:
    """A retry must name the order that was sent; another order under its id is a bug."""
    if (order.symbol, order.side, order.client_volume) != (cmd.symbol, cmd.side, cmd.volume):
        raise FailedPrecondition(
            f"order {cmd.order_id} was sent as {order.side.value} {order.client_volume} "
            f"{order.symbol}, not {cmd.side.value} {cmd.volume} {cmd.symbol}",
            reason=Reason.ORDER_MISMATCH,
            metadata={"order_id": cmd.order_id},
        )
