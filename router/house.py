"""The house book's commit discipline, shared by B-book fills and C-book B legs.

The in-process house book (``bbook.BBookEngine``) applies a symbol's fills in replay order: the
order of their ``seq`` in ``router.bbook_fills``, which is the order a restart rebuilds the book
in, so the live book and a rebuilt one agree. The house hands out each fill's ``seq`` itself
(``House.reserve``, numbers drawn a block at a time from the table's identity sequence) before
the fill is written, and books the fill once its transaction committed and every fill of its
symbol with a lower ``seq`` committed or rolled back (``House.settle``): two transactions
writing fills of one symbol may commit in either order, yet the book takes them in ``seq``
order. This is what lets a fill commit inside another service's transaction (oms's settling
transaction of a B-book order, ``RouterService.prepare_house_fill``) without a per-symbol lock
held across it.

B-book fills the router writes itself are committed in groups (``House.commit_claimed``): the
fills of a symbol that queue while its lock is held are written together by the next holder, in
one transaction and one WAL flush. Under load a symbol's fills then pass its lock a group at a
time instead of one commit at a time; alone, a fill is written as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import structlog
from prometheus_client import Gauge, Histogram

from bbook import BBookEngine, BookFill
from fxmesh.db import Pool
from fxmesh.metrics import LATENCY_BUCKETS
from router.abook import AbookOrder
from router.domain import Decision, ExecuteCommand

log = structlog.stdlib.get_logger(__name__)

COMMIT_SECONDS = Histogram(
    "fxmesh_router_house_commit_seconds",
    "From a B-book fill queued for its symbol's lock to its commit answered: the wait for the "
    "lock (the fills committing ahead) and the commit of its group.",
    buckets=LATENCY_BUCKETS,
)
GROUP_SIZE = Histogram(
    "fxmesh_router_house_commit_group_size",
    "B-book fills of one symbol committed together.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
UNBOOKED_OLDEST = Gauge(
    "fxmesh_router_house_oldest_unbooked_seconds",
    "Age of the oldest house fill reserved and not booked yet (0 when none): a fill waits for its "
    "own transaction and every lower seq of its symbol, milliseconds; one that never settles holds "
    "its symbol's later fills out of the live house book.",
)
# Fills of a symbol written together at most; the rest wait for the next group.
GROUP_MAX = 32
# Replay numbers drawn from the database at once (one round trip per this many house fills).
NUMBERS_BLOCK = 256


class FillNumbers:
    """Replay numbers for house fills (``router.bbook_fills.seq``), drawn a block at a time from
    the column's own identity sequence: a number is never handed out twice, by this process or
    any other, and every block is above the blocks drawn before it, so a new leader numbers its
    fills after its predecessor's. Numbers drawn and not used are gaps, nothing more."""

    def __init__(self, pool: Pool, block: int = NUMBERS_BLOCK) -> None:
        self._pool = pool
        self._block = block
        self._numbers: deque[int] = deque()
        self._drawing = asyncio.Lock()

    def take_now(self) -> int | None:
        """The next number, when one is at hand (None: ``draw`` first)."""
        return self._numbers.popleft() if self._numbers else None

    async def draw(self) -> None:
        """Draw the next block (once, when several callers find the numbers spent)."""
        async with self._drawing:
            if self._numbers:
                return
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT nextval(pg_get_serial_sequence('router.bbook_fills', 'seq')) AS n "
                    "FROM generate_series(1, $1)",
                    self._block,
                )
            self._numbers.extend(sorted(r["n"] for r in rows))


@dataclass(eq=False, slots=True)
class Reservation:
    """A house fill's place in its symbol's replay order, from ``House.reserve`` until
    ``House.settle`` says whether the fill committed."""

    seq: int
    fill: BookFill
    # The reserving caller's context (its trace id): the fill is booked, and logged, in it.
    context: contextvars.Context
    committed: bool | None = None  # None while its transaction is under way
    reserved_at: float = field(default_factory=time.monotonic)


@dataclass(frozen=True, slots=True)
class ClaimedFill:
    """A B-book fill to commit with its order's EXECUTED claim and FILLED decision."""

    cmd: ExecuteCommand
    decision: Decision
    fill: BookFill
    decided_with: int | None = None
    """The configuration version it was routed and priced with, when the router did not read the
    newest one first (``repository.claim_and_fill``)."""


# Writes a group in order, each fill at the seq given with it; for each fill, whether its claim
# won, or what failed it alone.
WriteClaimed = Callable[[Sequence[tuple[ClaimedFill, int]]], Awaitable[list[bool | Exception]]]


@dataclass(eq=False, slots=True)
class _Queued:
    claimed: ClaimedFill
    outcome: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    # The caller's context (its trace id): the fill is booked, and logged, in it.
    context: contextvars.Context = field(default_factory=contextvars.copy_context)


def _ignore_outcome(outcome: asyncio.Future[bool]) -> None:
    if not outcome.cancelled():
        outcome.exception()


class House:
    """The B-book engine, the replay order of its fills and the per-symbol locks the router's
    own commits take."""

    def __init__(self, engine: BBookEngine, numbers: FillNumbers) -> None:
        self.engine = engine
        self._numbers = numbers
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._queued: defaultdict[str, list[_Queued]] = defaultdict(list)
        self._committers: dict[str, asyncio.Task[None]] = {}
        # Per symbol, the reservations not booked yet, in seq order; by fill id the same ones.
        self._reserved: defaultdict[str, deque[Reservation]] = defaultdict(deque)
        self._reserved_fills: dict[str, Reservation] = {}
        UNBOOKED_OLDEST.set_function(self.oldest_unbooked_seconds)

    def lock(self, symbol: str) -> asyncio.Lock:
        return self._locks[symbol]

    async def reserve(
        self, fill: BookFill, context: contextvars.Context | None = None
    ) -> Reservation:
        """``fill``'s place in its symbol's replay order: write it with the reservation's
        ``seq``, then ``settle`` the reservation, committed or not, always (until then the
        symbol's later fills wait to be booked). ``context``: the one to book it in (default:
        the caller's)."""
        seq = self._numbers.take_now()
        while seq is None:
            await self._numbers.draw()
            seq = self._numbers.take_now()
        # Taken and queued with no await in between: each symbol's queue stays in seq order.
        reservation = Reservation(seq, fill, context or contextvars.copy_context())
        self._reserved[fill.symbol].append(reservation)
        self._reserved_fills[fill.fill_id] = reservation
        return reservation

    def settle(self, reservation: Reservation, committed: bool) -> bool:
        """Whether ``reservation``'s fill committed; book it, and every fill of its symbol now
        due, in seq order. Settling twice changes nothing (False: settled before)."""
        if reservation.committed is not None:
            return False
        reservation.committed = committed
        queue = self._reserved[reservation.fill.symbol]
        while queue and queue[0].committed is not None:
            due = queue.popleft()
            del self._reserved_fills[due.fill.fill_id]
            if due.committed:
                try:
                    due.context.run(self._book, due.fill)
                except Exception:  # committed all the same; a rebuild books it
                    log.exception("bbook_fill_not_booked", fill_id=due.fill.fill_id)
        return True

    def _book(self, fill: BookFill) -> None:
        if not self.engine.is_booked(fill.fill_id):  # a rebuild since it was reserved booked it
            self.engine.apply(fill)

    def oldest_unbooked_seconds(self) -> float:
        """How long the oldest reservation not booked yet has waited (0 when none)."""
        heads = [queue[0].reserved_at for queue in self._reserved.values() if queue]
        return time.monotonic() - min(heads) if heads else 0.0

    def pending(self, symbol: str) -> int:
        """Fills of ``symbol`` reserved and not booked yet (their own transaction under way, or
        a lower seq's)."""
        return len(self._reserved[symbol])

    async def commit(self, fill: BookFill, write: Callable[[int], Awaitable[bool]]) -> bool:
        """Run ``write`` (the statement committing ``fill`` at the seq it is given) and book the
        fill if it won."""
        async with self._locks[fill.symbol]:
            reservation = await self.reserve(fill)
            won = False
            try:
                won = await write(reservation.seq)
            finally:
                self.settle(reservation, won)
        return won

    def queued(self, symbol: str) -> int:
        """B-book fills of ``symbol`` waiting for their group."""
        return len(self._queued[symbol])

    async def commit_claimed(self, claimed: ClaimedFill, write: WriteClaimed) -> bool:
        """Commit ``claimed`` in its symbol's next group (``write`` writes a group) and book it if
        its claim won.

        One task per symbol writes the groups, so a caller cancelled while its group commits
        leaves the group whole (its fill is committed and booked; a retry replays it). A caller
        cancelled before its group was taken takes its fill out: nothing of it is written.
        """
        started = time.perf_counter()
        symbol = claimed.fill.symbol
        queued = _Queued(claimed)
        self._queued[symbol].append(queued)
        if symbol not in self._committers:
            self._committers[symbol] = asyncio.create_task(self._commit_groups(symbol, write))
        try:
            return await asyncio.shield(queued.outcome)
        except asyncio.CancelledError:
            waiting = self._queued[symbol]
            if queued in waiting:
                waiting.remove(queued)
            else:  # its group is committing: nobody will read a failure of it
                queued.outcome.add_done_callback(_ignore_outcome)
            raise
        finally:
            COMMIT_SECONDS.observe(time.perf_counter() - started)

    async def _commit_groups(self, symbol: str, write: WriteClaimed) -> None:
        waiting = self._queued[symbol]
        group: list[_Queued] = []
        try:
            while waiting:
                async with self._locks[symbol]:
                    group = waiting[:GROUP_MAX]
                    del waiting[: len(group)]
                    if not group:
                        continue
                    GROUP_SIZE.observe(len(group))
                    reservations: list[Reservation] = []
                    outcomes: list[bool | Exception] = []
                    try:
                        for queued in group:
                            reservations.append(
                                await self.reserve(queued.claimed.fill, queued.context)
                            )
                        outcomes = await write(
                            [(q.claimed, r.seq) for q, r in zip(group, reservations, strict=True)]
                        )
                    except Exception as exc:  # every caller of the group gets the failure
                        outcomes = [exc] * len(group)
                    finally:
                        # Booked in seq order (after any lower seq of the symbol in another
                        # transaction), with no await in between.
                        for i, reservation in enumerate(reservations):
                            won = i < len(outcomes) and outcomes[i] is True
                            self.settle(reservation, won)
                    for queued, outcome in zip(group, outcomes, strict=True):
                        if queued.outcome.done():
                            continue
                        if isinstance(outcome, Exception):
                            queued.outcome.set_exception(outcome)
                        else:
                            queued.outcome.set_result(outcome)
                    group = []
        finally:
            # Cancelled (the loop is closing): what was queued or in a group gets no answer.
            del self._committers[symbol]
            for queued in [*group, *waiting]:
                if not queued.outcome.done():
                    queued.outcome.cancel()
            waiting.clear()

    async def ensure_booked(self, fill: BookFill, order_id: str) -> None:
        """Book a committed fill this process has not booked (committed elsewhere, or its
        committer died between the commit and the booking)."""
        # The committer books under the symbol's lock: waiting for it keeps this from booking it
        # a second time. A fill reserved here is booked when its reservation is settled.
        async with self._locks[fill.symbol]:
            if fill.fill_id in self._reserved_fills:
                return
            if not self.engine.is_booked(fill.fill_id):
                log.warning("bbook_fill_booked_late", fill_id=fill.fill_id, order_id=order_id)
                self.engine.apply(fill)

    @staticmethod
    def leg_fill(order: AbookOrder, a_filled: Decimal) -> BookFill | None:
        """The B leg fill of a C-book order whose A leg filled ``a_filled`` (None: no B leg, or
        nothing left for it)."""
        leg = order.leg
        if leg is None:
            return None
        volume = leg.fill_volume(order.volume, a_filled)
        if volume <= 0:
            return None
        return BookFill(
            fill_id=str(uuid.uuid4()),
            order_id=order.order_id,
            account_id=order.account_id,
            symbol=order.symbol,
            client_side=order.side,
            volume=volume,
            price=leg.price,
            contract_size=order.contract_size,
            quote_to_usd_rate=leg.quote_to_usd_rate,
            filled_at=leg.priced_at,
        )
