"""The house book's commit discipline, shared by B-book fills and C-book B legs.

The in-process house book (``bbook.BBookEngine``) applies a symbol's fills in the order they
commit: every statement that commits a house fill runs under the symbol's lock, and the fill is
booked right after the commit with no await in between (so no cancellation either).

B-book fills are committed in groups (``House.commit_claimed``): the fills of a symbol that queue
while its lock is held are written together by the next holder, in one transaction and one WAL
flush, and booked in the order they were written. Under load a symbol's fills then pass its lock
a group at a time instead of one commit at a time; alone, a fill is written as before.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import structlog
from prometheus_client import Histogram

from bbook import BBookEngine, BookFill
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
# Fills of a symbol written together at most; the rest wait for the next group.
GROUP_MAX = 32


@dataclass(frozen=True, slots=True)
class ClaimedFill:
    """A B-book fill to commit with its order's EXECUTED claim and FILLED decision."""

    cmd: ExecuteCommand
    decision: Decision
    fill: BookFill
    decided_with: int | None = None
    """The configuration version it was routed and priced with, when the router did not read the
    newest one first (``repository.claim_and_fill``)."""


# Writes a group in order; for each fill, whether its claim won, or what failed it alone.
WriteClaimed = Callable[[Sequence[ClaimedFill]], Awaitable[list[bool | Exception]]]


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
    """The B-book engine and the per-symbol locks its commits take."""

    def __init__(self, engine: BBookEngine) -> None:
        self.engine = engine
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._queued: defaultdict[str, list[_Queued]] = defaultdict(list)
        self._committers: dict[str, asyncio.Task[None]] = {}

    def lock(self, symbol: str) -> asyncio.Lock:
        return self._locks[symbol]

    async def commit(self, fill: BookFill, write: Callable[[], Awaitable[bool]]) -> bool:
        """Run ``write`` (the statement committing ``fill``) and book the fill if it won."""
        async with self._locks[fill.symbol]:
            won = await write()
            if won:
                self.engine.apply(fill)
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
                    try:
                        outcomes = await write([q.claimed for q in group])
                    except Exception as exc:  # every caller of the group gets the failure
                        outcomes = [exc] * len(group)
                    # Booked in the order written, with no await in between.
                    for queued, outcome in zip(group, outcomes, strict=True):
                        if outcome is True:
                            try:
                                queued.context.run(self.engine.apply, queued.claimed.fill)
                            except Exception as exc:  # committed; its caller hears of it
                                outcome = exc
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
        # a second time.
        async with self._locks[fill.symbol]:
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
