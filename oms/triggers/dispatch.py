"""What the tick loop talks to: the trading core's trigger actions and the loader of the armed
state (one protocol each), the watcher's settings, and the per-account dispatcher that runs actions
in order per account and in parallel across accounts."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

import structlog

from oms.domain import stopout
from oms.domain.model import AccountId, CloseReason, OrderId, PositionId, Price
from oms.domain.stopout import AccountRisk
from oms.triggers.book import ProtectedPosition, WorkingOrder

log = structlog.stdlib.get_logger(__name__)


class TriggerActions(Protocol):
    """What the trading core does when a trigger fires; each call commits its own change.

    ``oms.triggers.bridge.WatcherBridge`` implements it over ``OmsService`` (test doubles and the
    benchmarks implement it too). Every action re-checks its condition under the account's lock
    with the quote it is given, so a stale trigger does nothing, and is safe to call for an object
    that has moved on meanwhile (an order no longer WORKING, a position already closed). The
    watcher serialises the calls of one account; ``quote`` is the quote that fired the trigger.
    """

    async def trigger_order(self, order_id: OrderId, account_id: AccountId, quote: Price) -> None:
        """A LIMIT / STOP (or activated STOP_LIMIT) order reached its price: execute it (a
        STOP_LIMIT whose stop was reached is activated instead)."""

    async def activate_stop_limit(
        self, order_id: OrderId, account_id: AccountId, quote: Price
    ) -> None:
        """A STOP_LIMIT reached its stop: persist ``stop_limit_active`` (it now works as a limit).

        The watcher arms it as a limit at ``stop_limit_price`` once this returns.
        """

    async def expire_order(self, order_id: OrderId, account_id: AccountId, at: datetime) -> None:
        """A GTD / DAY order reached its expiry time: WORKING -> EXPIRED."""

    async def close_for_protection(
        self, position_id: PositionId, account_id: AccountId, reason: CloseReason, quote: Price
    ) -> None:
        """Close the whole position: its stop loss (``CloseReason.STOP_LOSS``) or take profit
        (``TAKE_PROFIT``) was reached at ``quote``."""

    async def move_trailing_stop(
        self, position_id: PositionId, account_id: AccountId, stop_loss: Decimal, quote: Price
    ) -> None:
        """Persist a trailing stop's new SL; only if it improves the stored one by the step."""

    async def stop_out(self, account_id: AccountId, margin_level: Decimal) -> None:
        """The margin level is at or below the stop-out level: close the most losing position
        first, re-check with current prices, repeat until the margin level is back at the stop-out
        level; then reset a negative balance (if the account's policy says so)."""

    async def margin_call(self, account_id: AccountId, margin_level: Decimal) -> None:
        """The margin level is at or below the margin-call level: raise ``margin_call`` once per
        crossing (``margin_call_cleared`` when back)."""


@dataclass(frozen=True, slots=True)
class TriggerState:
    """Everything the watcher arms at start, as the trigger books hold it (read from PostgreSQL by
    the ``TriggerLoader``)."""

    symbols: tuple[str, ...]  # every tradable symbol (their current quotes are read at start)
    orders: tuple[WorkingOrder, ...]
    positions: tuple[ProtectedPosition, ...]
    accounts: tuple[AccountRisk, ...]  # accounts holding open positions


class TriggerLoader(Protocol):
    """Reads the state to arm from the account of record."""

    async def load_triggers(self) -> TriggerState:
        """Working orders, protected positions, risk inputs of every account holding positions."""

    async def load_account(self, account_id: AccountId) -> AccountRisk | None:
        """An account's current risk inputs (None: unknown, or no open positions)."""


@dataclass(frozen=True, slots=True)
class WatcherSettings:
    """Tuning of the watcher; the defaults suit one oms process."""

    workers: int = 32
    """Accounts whose actions run at the same time."""
    max_pending: int = 200_000
    """Queued actions past which the tick loop waits for the workers (nothing is dropped)."""
    clock_seconds: float = 0.25
    """How often GTD / DAY expiry is checked and the book-size gauges are refreshed."""
    sweep_seconds: float = 5.0
    """How often drifting thresholds are recomputed (see ``sweep``); 0 disables."""
    sweep_chunk: int = 200
    """Accounts recomputed between two yields to the event loop during a sweep."""
    retry_seconds: float = 1.0
    """Delay before a trigger whose action failed is armed again."""
    action_timeout_seconds: float = 30.0
    """An action that takes longer counts as failed."""
    cushion: Decimal = stopout.DEFAULT_CUSHION
    """Share of the distance to a margin level kept back as a safety margin."""


Job = tuple[
    str, Any
]  # ("fired", Fired) | ("risk", AccountId) | ("reload", AccountId) | ("arm", (AccountId, AccountRisk | None))


class Dispatcher:
    """Per-account FIFO queues served by a bounded pool of workers."""

    def __init__(self, run: Callable[[Job], Awaitable[None]], workers: int, limit: int) -> None:
        self._run = run
        self._workers = workers
        self._limit = limit
        self._queues: dict[AccountId, OrderedDict[Hashable, Job]] = {}
        self._ready: asyncio.Queue[AccountId] = asyncio.Queue()
        self._scheduled: set[AccountId] = set()  # queued in _ready or being served
        self._tasks: list[asyncio.Task[None]] = []
        self._seq = itertools.count()
        self.pending = 0  # queued + running
        self._idle = asyncio.Event()
        self._idle.set()
        self._room = asyncio.Event()
        self._room.set()

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [asyncio.create_task(self._serve()) for _ in range(self._workers)]

    def submit(
        self,
        account_id: AccountId,
        job: Job,
        coalesce: Hashable | None = None,
        *,
        replace: bool = False,
    ) -> None:
        """Queue ``job``; with ``coalesce``, a queued job with that key is kept (or replaced)."""
        queue = self._queues.get(account_id)
        if queue is None:
            queue = self._queues[account_id] = OrderedDict()
        key = coalesce if coalesce is not None else next(self._seq)
        if key in queue:
            if replace:
                queue[key] = job  # keeps its place in the account's order
            return
        queue[key] = job
        self.pending += 1
        self._idle.clear()
        if self.pending >= self._limit:
            self._room.clear()
        if account_id not in self._scheduled:
            self._scheduled.add(account_id)
            self._ready.put_nowait(account_id)

    async def room(self) -> None:
        """Wait until fewer than ``limit`` actions are pending."""
        await self._room.wait()

    async def drain(self) -> None:
        """Wait until every queued action has run."""
        await self._idle.wait()

    async def _serve(self) -> None:
        while True:
            account_id = await self._ready.get()
            queue = self._queues[account_id]
            _, job = queue.popitem(last=False)
            try:
                await self._run(job)
            except Exception:  # _run reports its own failures; this is a last resort
                log.exception("trigger_job_crashed")
            finally:
                self.pending -= 1
                if queue:
                    self._ready.put_nowait(account_id)  # to the back: accounts take turns
                else:
                    del self._queues[account_id]
                    self._scheduled.discard(account_id)
                if self.pending < self._limit:
                    self._room.set()
                if self.pending == 0:
                    self._idle.set()
            # Yield after every job: actions that finish without waiting (and the precise checks
            # between them) must not keep the tick loop from running during a storm.
            await asyncio.sleep(0)

    async def close(self, grace: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
