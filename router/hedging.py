"""Auto-hedge: when the house net in a symbol is beyond its exposure limit, trade the excess with
an LP through fixgw and book it as a house trade (``docs/routing.md``, "Auto-hedge").

One loop (``Hedger.run``) on the leader replica does everything, one step at a time, so nothing
in this process races on a hedge. A round (woken by the house book's hedge requests, and every
``interval`` seconds) does:

1. **Plan** per symbol with a limit: the house net plus the hedges still open (PENDING or SENT,
   their whole volume) is the net the house will have; the part of it beyond the limit, rounded
   **up** to the symbol's lot step, becomes one new hedge order (``router.hedge_orders``, fixgw
   order id ``HEDGE-<hedge_id>``) trading against the net (house short -> BUY).
2. **Drive** every open hedge that is due (``next_attempt_at``):
   * PENDING: claimed SENT (attempts + 1) **before** fixgw's ExecuteOrder is called; CANCELLED
     instead when no longer needed (the net without it is within the limit, or no limit is left).
   * SENT (its outcome unknown: fixgw slow or away, or a leader died in between): fixgw's
     GetOrderStatus resolves it; an order id fixgw never saw is fenced there (FENCED, a new
     hedge follows from the next plan), so it is never sent twice.
   * Fills: the hedge FILLED and its fills (``router.house_trades``, the house's side) commit in
     one statement, then are booked in the house book under the symbol's lock (a house trade,
     not a client trade: no routing decision, no client fill).
   * Rejected: back to PENDING with ``next_attempt_at`` after an exponential backoff; fixgw sends
     a new attempt under the same order id then. Counted (``fxmesh_router_hedge_failures_total``)
     and alerted (``RouterHedgeFailing``; ``RouterHedgePending`` while one stays open).

Fencing: every statement (``router.hedge_store``, the SQL) first takes the leader row
``FOR SHARE`` and checks the replica's epoch (``router.leader``), so a deposed leader writes
nothing, and a new leader, which bumps the epoch under an exclusive row lock before it loads the
house book, sees every hedge write that committed before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

import structlog
from prometheus_client import Counter, Gauge

from bbook import BookFill, Side
from fxmesh.db import Pool
from router import hedge_store as store
from router.abook import LpExecution, LpFill, LpStatus
from router.fixgw_client import FixgwClient, FixgwUnavailable
from router.hedge_store import (
    HEDGE_ACCOUNT,
    HEDGE_PREFIX,
    Hedge,
    HedgeStatus,
    book_fill,
)
from router.house import House

log = structlog.stdlib.get_logger(__name__)

ZERO = Decimal(0)

HEDGE_ORDERS = Counter(
    "fxmesh_router_hedge_orders_total",
    "Hedge orders created for the house net beyond its exposure limit.",
    ["symbol"],
)
HEDGE_FAILURES = Counter(
    "fxmesh_router_hedge_failures_total",
    "Hedge attempts that did not trade, by outcome (REJECTED: retried after a backoff; "
    "UNKNOWN: fixgw slow or away, resolved by GetOrderStatus).",
    ["symbol", "outcome"],
)
HEDGE_FILLED_LOTS = Counter(
    "fxmesh_router_hedge_filled_lots_total",
    "Lots traded by hedge orders.",
    ["symbol"],
)
HEDGES_OPEN = Gauge(
    "fxmesh_router_hedges_open",
    "Hedge orders not done yet (PENDING or SENT) on this replica (0 on a standby).",
)
HEDGE_OLDEST_OPEN = Gauge(
    "fxmesh_router_hedge_oldest_open_seconds",
    "Age of the oldest hedge order not done yet (0 when none, or on a standby).",
)


def plan(
    net: Decimal, open_hedges: Decimal, limit: Decimal | None, lot_step: Decimal
) -> tuple[Side, Decimal] | None:
    """The house's side and the volume of a new hedge, or None when none is needed.

    ``net``: the house net now; ``open_hedges``: the signed lots of its open hedges (BUY +).
    The excess beyond ``limit`` of the net they leave is rounded up to ``lot_step``.
    """
    if limit is None:
        return None
    projected = net + open_hedges
    excess = abs(projected) - limit
    if excess <= 0:
        return None
    volume = (excess / lot_step).to_integral_value(rounding=ROUND_CEILING) * lot_step
    return (Side.BUY if projected < 0 else Side.SELL), volume


def signed(side: Side, volume: Decimal) -> Decimal:
    """The house's lots gained by trading ``volume`` on ``side``."""
    return volume if side is Side.BUY else -volume


def merged(client: Iterable[BookFill], hedges: Iterable[BookFill]) -> list[BookFill]:
    """Client fills and house trades in time order, each list keeping its own order."""
    return list(heapq.merge(client, hedges, key=lambda f: f.filled_at))


def is_hedge(fill: BookFill) -> bool:
    return fill.account_id == HEDGE_ACCOUNT and fill.order_id.startswith(HEDGE_PREFIX)


class Hedger:
    """Plans, sends, resolves and books hedge orders (see the module docstring)."""

    def __init__(
        self,
        pool: Pool,
        fixgw: FixgwClient,
        house: House,
        *,
        epoch: Callable[[], int | None],
        limits: Callable[[], Mapping[str, Decimal]],
        lot_step: Callable[[str], Decimal],
        interval: float = 1.0,
        backoff_seconds: float = 1.0,
        backoff_max_seconds: float = 60.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self._pool = pool
        self._fixgw = fixgw
        self._house = house
        self._epoch = epoch
        self._limits = limits
        self._lot_step = lot_step
        self._interval = interval
        self._backoff = backoff_seconds
        self._backoff_max = backoff_max_seconds
        self._timeout = timeout_seconds
        self._wake = asyncio.Event()
        # Signed lots the house traded with LPs per symbol (the house book's "hedge" part).
        self.hedge_net: dict[str, Decimal] = {}

    def loaded(self, fills: Iterable[BookFill]) -> None:
        """Recount the hedge net from the fills the house book was just rebuilt from."""
        net: dict[str, Decimal] = {}
        for fill in fills:
            if is_hedge(fill):
                net[fill.symbol] = net.get(fill.symbol, ZERO) + fill.house_delta
        self.hedge_net = net

    def wake(self, *_: object) -> None:
        """Run a round now (the house book's hedge-request listener)."""
        self._wake.set()

    async def run(self) -> None:
        """Rounds until cancelled; a failed round is logged and the next one runs."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            try:
                await self.round()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("hedge_round_failed")

    async def round(self) -> None:
        """Plan new hedges and drive the due ones, if this replica leads."""
        epoch = self._epoch()
        if epoch is None:
            HEDGES_OPEN.set(0)
            HEDGE_OLDEST_OPEN.set(0)
            return
        await self._plan(epoch)
        async with self._pool.acquire() as conn:
            hedges = await store.due(conn)
        for hedge in hedges:
            if self._epoch() != epoch:
                return
            await self._drive(hedge, epoch)
        async with self._pool.acquire() as conn:
            count, age = await store.open_summary(conn)
        HEDGES_OPEN.set(count)
        HEDGE_OLDEST_OPEN.set(age)

    async def _plan(self, epoch: int) -> None:
        limits = self._limits()
        if not limits:
            return
        async with self._pool.acquire() as conn:
            open_lots = await store.open_lots(conn)
        book = self._house.engine.book
        for symbol, limit in sorted(limits.items()):
            position = book.position(symbol)
            planned = plan(
                position.net_lots, open_lots.get(symbol, ZERO), limit, self._lot_step(symbol)
            )
            if planned is None:
                continue
            side, volume = planned
            async with self._pool.acquire() as conn:
                created = await store.create(
                    conn,
                    epoch,
                    symbol=symbol,
                    side=side,
                    volume=volume,
                    contract_size=position.contract_size,
                    quote_to_usd_rate=position.quote_to_usd_rate,
                    house_net_lots=position.net_lots,
                    max_net_lots=limit,
                )
            if created is None:
                return
            HEDGE_ORDERS.labels(symbol).inc()
            log.warning(
                "hedge_created",
                hedge=created,
                symbol=symbol,
                side=side.value,
                volume=str(volume),
                house_net_lots=str(position.net_lots),
                max_net_lots=str(limit),
            )

    async def _needed(self, hedge: Hedge) -> bool:
        """Whether a PENDING hedge is still needed: the net its symbol would have without it is
        beyond the limit (a hedge is never sent for a net back within it, or without a limit)."""
        async with self._pool.acquire() as conn:
            open_lots = await store.open_lots(conn)
        others = open_lots.get(hedge.symbol, ZERO) - signed(hedge.side, hedge.volume)
        net = self._house.engine.book.net_lots(hedge.symbol)
        limit = self._limits().get(hedge.symbol)
        return plan(net, others, limit, self._lot_step(hedge.symbol)) is not None

    async def _drive(self, hedge: Hedge, epoch: int) -> None:
        if hedge.status is HedgeStatus.PENDING:
            if not await self._needed(hedge):
                async with self._pool.acquire() as conn:
                    cancelled = await store.cancel(conn, hedge.hedge_id, epoch)
                if cancelled:
                    log.warning("hedge_cancelled", hedge=hedge.client_order_id, symbol=hedge.symbol)
                return
            async with self._pool.acquire() as conn:
                claimed = await store.claim_send(conn, hedge.hedge_id, epoch, self._timeout + 1.0)
            if claimed is None:
                return
            hedge = claimed
            try:
                execution = await self._fixgw.execute_order(
                    order_id=hedge.client_order_id,
                    account_id=HEDGE_ACCOUNT,
                    symbol=hedge.symbol,
                    side=hedge.side,
                    volume=hedge.volume,
                    contract_size=hedge.contract_size,
                    worst_price=None,
                    lps=(),
                    deadline_seconds=self._timeout,
                )
            except FixgwUnavailable as exc:
                execution = LpExecution(hedge.client_order_id, LpStatus.UNKNOWN, (), "", str(exc))
        else:
            try:
                execution = await self._fixgw.order_status(
                    hedge.client_order_id, deadline_seconds=self._timeout
                )
            except FixgwUnavailable as exc:
                execution = LpExecution(hedge.client_order_id, LpStatus.UNKNOWN, (), "", str(exc))
        await self._settle(hedge, execution, epoch)

    async def _settle(self, hedge: Hedge, execution: LpExecution, epoch: int) -> None:
        status = execution.status
        if status.final_with_fills:
            await self._filled(hedge, execution.fills, epoch)
        elif status is LpStatus.REJECTED:
            failures = await self._update(
                hedge,
                epoch,
                "status = 'PENDING', failures = failures + 1, last_reject_reason = $4, "
                f"last_reject_message = $5, next_attempt_at = {store.BACKOFF}",
                execution.reject_reason,
                execution.reject_message,
            )
            HEDGE_FAILURES.labels(hedge.symbol, "REJECTED").inc()
            log.error(
                "hedge_rejected",
                hedge=hedge.client_order_id,
                symbol=hedge.symbol,
                reason=execution.reject_reason,
                message=execution.reject_message,
                failures=failures,
            )
        elif status is LpStatus.NOT_FOUND:
            await self._update(hedge, epoch, "status = 'FENCED'")
            log.warning("hedge_fenced", hedge=hedge.client_order_id, symbol=hedge.symbol)
        else:  # PENDING / UNKNOWN: ask GetOrderStatus after a backoff
            await self._update(
                hedge, epoch, f"failures = failures + 1, next_attempt_at = {store.BACKOFF}"
            )
            HEDGE_FAILURES.labels(hedge.symbol, "UNKNOWN").inc()
            log.warning(
                "hedge_outcome_unknown",
                hedge=hedge.client_order_id,
                symbol=hedge.symbol,
                status=status.value,
                message=execution.reject_message,
            )

    async def _update(self, hedge: Hedge, epoch: int, assignments: str, *args: object) -> int:
        async with self._pool.acquire() as conn:
            failures = await store.update_sent(
                conn,
                hedge.hedge_id,
                epoch,
                assignments,
                (self._backoff, self._backoff_max),
                *args,
            )
        return failures or 0

    async def _filled(self, hedge: Hedge, fills: Iterable[LpFill], epoch: int) -> None:
        now = datetime.now(UTC)
        trades = [
            (
                fill,
                book_fill(
                    trade_id=fill.fill_id,
                    hedge_id=hedge.hedge_id,
                    symbol=hedge.symbol,
                    side=hedge.side,
                    volume=fill.volume,
                    price=fill.price,
                    contract_size=hedge.contract_size,
                    quote_to_usd_rate=hedge.quote_to_usd_rate,
                    traded_at=fill.transact_time or fill.receive_time or now,
                ),
            )
            for fill in fills
        ]
        # Committed and booked under the symbol's lock: the house book applies fills in the
        # order they commit (``router.house``).
        async with self._house.lock(hedge.symbol):
            async with self._pool.acquire() as conn:
                won = await store.record_filled(conn, hedge, epoch, trades)
            if won:
                for _, fill in trades:
                    self._house.engine.apply(fill)
                    self.hedge_net[hedge.symbol] = (
                        self.hedge_net.get(hedge.symbol, ZERO) + fill.house_delta
                    )
        if won:
            filled = sum((f.volume for f, _ in trades), ZERO)
            HEDGE_FILLED_LOTS.labels(hedge.symbol).inc(float(filled))
            log.info(
                "hedge_filled",
                hedge=hedge.client_order_id,
                symbol=hedge.symbol,
                side=hedge.side.value,
                volume=str(filled),
                house_net_lots=str(self._house.engine.book.net_lots(hedge.symbol)),
            )
