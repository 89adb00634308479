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
   * PENDING: claimed SENT (attempts + 1) **before** fixgw's ExecuteOrder is called.
   * SENT (its outcome unknown: fixgw slow or away, or a leader died in between): fixgw's
     GetOrderStatus resolves it; an order id fixgw never saw is fenced there (FENCED, a new
     hedge follows from the next plan), so it is never sent twice.
   * Fills: the hedge FILLED and its fills (``router.house_trades``, the house's side) commit in
     one statement, then are booked in the house book under the symbol's lock (a house trade,
     not a client trade: no routing decision, no client fill).
   * Rejected: back to PENDING with ``next_attempt_at`` after an exponential backoff; fixgw sends
     a new attempt under the same order id then. Counted (``fxmesh_router_hedge_failures_total``)
     and alerted (``RouterHedgeFailing``; ``RouterHedgePending`` while one stays open).

Fencing: every statement here first takes the leader row ``FOR SHARE`` and checks the replica's
epoch (``router.leader``), so a deposed leader writes nothing, and a new leader, which bumps the
epoch under an exclusive row lock before it loads the house book, sees every hedge write that
committed before it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from bbook import BookFill, Side
from fxmesh.db import Conn, Pool
from router.abook import LpExecution, LpFill, LpStatus
from router.fixgw_client import FixgwClient, FixgwUnavailable
from router.house import House

log = structlog.stdlib.get_logger(__name__)

# The account id fixgw sees on a hedge order (the house trades for itself).
HEDGE_ACCOUNT = "HOUSE"
HEDGE_PREFIX = "HEDGE-"
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


class HedgeStatus(StrEnum):
    PENDING = "PENDING"
    SENT = "SENT"
    FILLED = "FILLED"
    FENCED = "FENCED"


@dataclass(frozen=True, slots=True)
class Hedge:
    """One hedge order (``router.hedge_orders``); ``side`` is the house's."""

    hedge_id: int
    client_order_id: str
    symbol: str
    side: Side
    volume: Decimal
    contract_size: Decimal
    quote_to_usd_rate: Decimal
    status: HedgeStatus
    epoch: int
    attempts: int

    @staticmethod
    def of_row(row: Any) -> Hedge:
        return Hedge(
            hedge_id=row["hedge_id"],
            client_order_id=row["client_order_id"],
            symbol=row["symbol"],
            side=Side(row["side"]),
            volume=row["volume"],
            contract_size=row["contract_size"],
            quote_to_usd_rate=row["quote_to_usd_rate"],
            status=HedgeStatus(row["status"]),
            epoch=row["epoch"],
            attempts=row["attempts"],
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


def book_fill(
    *,
    trade_id: str,
    hedge_id: int,
    symbol: str,
    side: Side,
    volume: Decimal,
    price: Decimal,
    contract_size: Decimal,
    quote_to_usd_rate: Decimal,
    traded_at: datetime,
) -> BookFill:
    """A house trade as the house book applies it: a fill whose "client" took the other side."""
    return BookFill(
        fill_id=trade_id,
        order_id=f"{HEDGE_PREFIX}{hedge_id}",
        account_id=HEDGE_ACCOUNT,
        symbol=symbol,
        client_side=Side.SELL if side is Side.BUY else Side.BUY,
        volume=volume,
        price=price,
        contract_size=contract_size,
        quote_to_usd_rate=quote_to_usd_rate,
        filled_at=traded_at,
    )


_TRADE_COLUMNS = (
    "trade_id, hedge_id, symbol, side, volume, price, contract_size, quote_to_usd_rate, traded_at"
)


async def house_trades(conn: Conn) -> list[BookFill]:
    """Every house trade in the order it was recorded, as the house book applies it."""
    rows = await conn.fetch(f"SELECT {_TRADE_COLUMNS} FROM router.house_trades ORDER BY seq")
    return [
        book_fill(
            trade_id=r["trade_id"],
            hedge_id=r["hedge_id"],
            symbol=r["symbol"],
            side=Side(r["side"]),
            volume=r["volume"],
            price=r["price"],
            contract_size=r["contract_size"],
            quote_to_usd_rate=r["quote_to_usd_rate"],
            traded_at=r["traded_at"],
        )
        for r in rows
    ]


def merged(client: Iterable[BookFill], hedges: Iterable[BookFill]) -> list[BookFill]:
    """Client fills and house trades in time order, each list keeping its own order."""
    return list(heapq.merge(client, hedges, key=lambda f: f.filled_at))


def is_hedge(fill: BookFill) -> bool:
    return fill.account_id == HEDGE_ACCOUNT and fill.order_id.startswith(HEDGE_PREFIX)


# The next attempt after a failure: base x 2^(failures so far), at most the cap ($2, $3).
_BACKOFF = (
    "now() + make_interval(secs => least($3::float8, $2::float8 * power(2, least(failures, 30))))"
)


async def _leading(conn: Conn, epoch: int) -> bool:
    """Whether ``epoch`` is still the leader's; holds the leader row FOR SHARE until commit."""
    current = await conn.fetchval("SELECT epoch FROM router.leader FOR SHARE")
    return bool(current == epoch)


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
            rows = await conn.fetch(
                "SELECT * FROM router.hedge_orders WHERE status IN ('PENDING', 'SENT') "
                "AND next_attempt_at <= now() ORDER BY hedge_id"
            )
        for row in rows:
            if self._epoch() != epoch:
                return
            await self._drive(Hedge.of_row(row), epoch)
        await self._gauges()

    async def _gauges(self) -> None:
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT count(*) AS n, "
                "coalesce(extract(epoch FROM now() - min(created_at)), 0) AS age "
                "FROM router.hedge_orders WHERE status IN ('PENDING', 'SENT')"
            )
        assert row is not None  # an aggregate always answers one row
        HEDGES_OPEN.set(row["n"])
        HEDGE_OLDEST_OPEN.set(float(row["age"]))

    async def _plan(self, epoch: int) -> None:
        limits = self._limits()
        if not limits:
            return
        async with self._pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT symbol, sum(CASE side WHEN 'BUY' THEN volume ELSE -volume END) AS lots "
                "FROM router.hedge_orders WHERE status IN ('PENDING', 'SENT') GROUP BY symbol"
            )
        open_lots = {r["symbol"]: r["lots"] for r in rows}
        book = self._house.engine.book
        for symbol, limit in sorted(limits.items()):
            position = book.position(symbol)
            planned = plan(
                position.net_lots, open_lots.get(symbol, ZERO), limit, self._lot_step(symbol)
            )
            if planned is None:
                continue
            side, volume = planned
            async with self._pool.acquire() as conn, conn.transaction():
                if not await _leading(conn, epoch):
                    return
                row = await conn.fetchrow(
                    "INSERT INTO router.hedge_orders (symbol, side, volume, contract_size, "
                    "quote_to_usd_rate, house_net_lots, max_net_lots, epoch) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING hedge_id, client_order_id",
                    symbol,
                    side.value,
                    volume,
                    position.contract_size,
                    position.quote_to_usd_rate,
                    position.net_lots,
                    limit,
                    epoch,
                )
            assert row is not None  # INSERT ... RETURNING answers its row
            HEDGE_ORDERS.labels(symbol).inc()
            log.warning(
                "hedge_created",
                hedge=row["client_order_id"],
                symbol=symbol,
                side=side.value,
                volume=str(volume),
                house_net_lots=str(position.net_lots),
                max_net_lots=str(limit),
            )

    async def _drive(self, hedge: Hedge, epoch: int) -> None:
        if hedge.status is HedgeStatus.PENDING:
            async with self._pool.acquire() as conn, conn.transaction():
                if not await _leading(conn, epoch):
                    return
                claimed = await conn.fetchrow(
                    "UPDATE router.hedge_orders SET status = 'SENT', attempts = attempts + 1, "
                    "epoch = $2, next_attempt_at = now() + make_interval(secs => $3), "
                    "updated_at = now() WHERE hedge_id = $1 AND status = 'PENDING' RETURNING *",
                    hedge.hedge_id,
                    epoch,
                    self._timeout + 1.0,
                )
            if claimed is None:
                return
            hedge = Hedge.of_row(claimed)
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
                f"last_reject_message = $5, next_attempt_at = {_BACKOFF}",
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
                hedge, epoch, f"failures = failures + 1, next_attempt_at = {_BACKOFF}"
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
        """Apply ``assignments`` (parameters $2 and $3: the backoff base and cap in seconds,
        then ``args`` from $4) to the SENT hedge if this epoch leads; its failures after."""
        async with self._pool.acquire() as conn, conn.transaction():
            if not await _leading(conn, epoch):
                return 0
            failures = await conn.fetchval(
                f"UPDATE router.hedge_orders SET {assignments}, updated_at = now() "
                "WHERE hedge_id = $1 AND status = 'SENT' "
                "AND $2::float8 IS NOT NULL AND $3::float8 IS NOT NULL RETURNING failures",
                hedge.hedge_id,
                self._backoff,
                self._backoff_max,
                *args,
            )
        return int(failures or 0)

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
        filled = sum((f.volume for f, _ in trades), ZERO)

        async def write() -> bool:
            async with self._pool.acquire() as conn, conn.transaction():
                if not await _leading(conn, epoch):
                    return False
                done = await conn.fetchval(
                    "UPDATE router.hedge_orders SET status = 'FILLED', filled_volume = $2, "
                    "updated_at = now() WHERE hedge_id = $1 AND status = 'SENT' "
                    "RETURNING hedge_id",
                    hedge.hedge_id,
                    filled,
                )
                if done is None:
                    return False
                await conn.executemany(
                    f"INSERT INTO router.house_trades ({_TRADE_COLUMNS}, lp, lp_order_id, "
                    "exec_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                    [
                        (
                            b.fill_id,
                            hedge.hedge_id,
                            hedge.symbol,
                            hedge.side.value,
                            b.volume,
                            b.price,
                            b.contract_size,
                            b.quote_to_usd_rate,
                            b.filled_at,
                            f.lp,
                            f.lp_order_id,
                            f.exec_id,
                        )
                        for f, b in trades
                    ],
                )
                return True

        async with self._house.lock(hedge.symbol):
            won = await write()
            if won:
                for _, fill in trades:
                    self._house.engine.apply(fill)
                    self.hedge_net[hedge.symbol] = (
                        self.hedge_net.get(hedge.symbol, ZERO) + fill.house_delta
                    )
        if won:
            HEDGE_FILLED_LOTS.labels(hedge.symbol).inc(float(filled))
            log.info(
                "hedge_filled",
                hedge=hedge.client_order_id,
                symbol=hedge.symbol,
                side=hedge.side.value,
                volume=str(filled),
                house_net_lots=str(self._house.engine.book.net_lots(hedge.symbol)),
            )
