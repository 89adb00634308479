"""What every oms use case shares: the pool, quotes, the router, the clock, cached symbols, and the
account-locked unit of work in which every change of money, orders and positions commits.

``UnitOfWork.locked(account_id)`` opens a transaction holding the account's row lock (so one
account's changes never interleave) and yields a ``Tx``. Everything a use case writes goes through
the Tx in that one transaction: orders with their transitions, positions, deals, ledger rows, and
the outbox events describing them. After the commit, in-process listeners (the trigger watcher) hear
about the orders, positions and accounts that changed.

``UnitOfWork.grouped(account_id, body)`` is the same for the order path's two transactions, with
group commit (``GroupCommit``).
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections import deque
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Final, Generic, Literal, Protocol, TypeVar

import structlog
from opentelemetry import context as otel_context
from prometheus_client import Counter, Histogram
from redis.asyncio import Redis

from fxmesh import events
from fxmesh.db import Conn, Pool
from fxmesh.errors import NotFound
from fxmesh.eventtypes import EventData, EventType
from fxmesh.metrics import LATENCY_BUCKETS
from fxmesh.money import to_money
from fxmesh.quotecache import ClientQuote, quote_key
from oms.domain import accounting
from oms.domain.events import account_json, order_json, position_json
from oms.domain.model import (
    Account,
    AccountFigures,
    AccountId,
    NoConversionRate,
    Order,
    OrderId,
    OrderStatus,
    Price,
    SymbolSpec,
    closing_price,
    margin,
    profit,
)
from oms.domain.records import PositionRow
from oms.domain.results import CloseVenue, Execution, PositionView
from oms.domain.settings import RiskTable, level_account, levels_key
from oms.store import accounts as account_store
from oms.store import orders as order_store
from oms.store import outbox
from oms.store import positions as position_store
from oms.store import settings as settings_store

log = structlog.stdlib.get_logger(__name__)

Clock = Callable[[], datetime]
T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Router(Protocol):
    """The router as oms uses it (``oms.api.router_client.RouterClient``, or a test double).

    Both calls raise ``ExecutionUnavailable`` when the answer is unknown.
    """

    def execute(
        self,
        order: Order,
        client_group: str,
        max_price_deviation: Any,
        contract_size: Any,
        quote_to_usd_rate: Any,
        limit_price: Any = None,
        closing: CloseVenue | None = None,
    ) -> Awaitable[Execution]: ...

    def reconcile(self, order: Order) -> Awaitable[Execution]: ...

    @property
    def prepares(self) -> bool:
        """Whether ``prepare`` may give a fill now (a router in this process that leads)."""
        ...

    def prepare(
        self,
        order: Order,
        client_group: str,
        max_price_deviation: Any,
        contract_size: Any,
        quote_to_usd_rate: Any,
        closing: CloseVenue | None = None,
    ) -> Awaitable[HouseFill | None]: ...


class HouseFill(Protocol):
    """A B-book fill priced by a router in this process, to be written in the transaction that
    accepts its order (``Router.prepare``; None where the router cannot, e.g. over gRPC)."""

    @property
    def execution(self) -> Execution:
        """The router's answer, as ``Router.execute`` would give it once the fill committed."""
        ...

    async def write(self, conn: Conn) -> bool:
        """Write the fill in ``conn``'s transaction; False: not written (execute as usual)."""
        ...

    def settle(self, committed: bool) -> None:
        """The transaction ended (``Tx.on_end``), or the fill was not written (settled False
        first): book it if it committed; only the first word counts."""
        ...


class ExecutionUnavailable(Exception):
    """The router could not be reached, did not answer in time, or gave an unusable answer.

    The order may or may not have been executed: only ``reconcile`` can tell.
    """


class TradingListener(Protocol):
    """Hears, after each commit, what changed; must return quickly and never raise."""

    def order_changed(self, order: Order) -> None: ...

    def position_changed(self, position: PositionRow) -> None: ...

    def account_changed(self, account: Account, open_positions: Sequence[PositionRow]) -> None: ...


async def read_prices(
    redis: Redis, symbols: Iterable[str], parsed: dict[Any, Price | None] | None = None
) -> dict[str, Price]:
    """Current client quotes (``fxmesh.quotecache`` documents) of ``symbols`` in one round trip.

    ``parsed``: prices by raw document, kept by the caller between reads. A document changes when
    its price does and at least once a second (its time), while a market order reads every symbol
    twice: most reads find their document parsed already."""
    names = list(symbols)
    if not names:
        return {}
    raws = await redis.mget([quote_key(s) for s in names])
    if parsed is None:
        parsed = {}
    elif len(parsed) > PARSED_QUOTES_KEPT:
        parsed.clear()
    prices: dict[str, Price] = {}
    for name, raw in zip(names, raws, strict=True):
        if raw is None:
            continue
        try:
            price = parsed[raw]
        except KeyError:
            quote = ClientQuote.from_json(raw)
            price = parsed[raw] = (
                Price(quote.bid, quote.ask) if quote.bid > 0 and quote.ask >= quote.bid else None
            )
        if price is not None:
            prices[name] = price
    return prices


PARSED_QUOTES_KEPT = 4096


def mark_views(
    account: Account,
    positions: Iterable[PositionRow],
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
) -> list[PositionView]:
    """Positions with their current closing price, P&L and own margin (None without a quote)."""
    views = []
    for p in positions:
        price, spec = prices.get(p.symbol), symbols.get(p.symbol)
        if price is None or spec is None or not p.is_open:
            views.append(PositionView(p, None, None))
            continue
        close = closing_price(p.side, price)
        try:
            pnl = profit(p.side, p.volume, p.open_price, close, spec, account.currency, prices)
            used = to_money(
                margin(p.volume, p.open_price, account.leverage, spec, account.currency, prices),
                account.currency,
            )
        except NoConversionRate:
            views.append(PositionView(p, close, None))
            continue
        views.append(PositionView(p, close, pnl, used))
    return views


def live_figures(
    account: Account,
    positions: Iterable[PositionRow],
    in_flight: Iterable[Order],
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
) -> AccountFigures:
    """Account figures for display and events: unpriceable positions count zero (hedged margin)."""
    opening = [o for o in in_flight if o.position_id is None]
    return accounting.live_figures(
        account.balance,
        account.currency,
        account.leverage,
        [p.as_open() for p in positions],
        accounting.order_legs(opening, prices, strict=False),
        symbols,
        prices,
        strict=False,
        held=account.held,
    )


def account_not_found(account_id: AccountId) -> NotFound:
    return NotFound(
        f"account {account_id} not found",
        reason="ACCOUNT_NOT_FOUND",
        metadata={"account_id": str(account_id)},
    )


@dataclass
class Tx:
    """One account-locked transaction; records what changed for the listeners."""

    conn: Conn
    account: Account
    orders: dict[int, Order] = field(default_factory=dict)
    positions: dict[int, PositionRow] = field(default_factory=dict)
    account_touched: bool = False
    # The account's open positions and orders in flight as read with its lock, before this
    # transaction changed anything (``GroupCommit.run(..., first_read=...)``). A body given it
    # changes positions and orders only through this Tx (``position_changed``, ``insert_order``,
    # ``save_order``): the book as of now is it with those changes laid over (``book_now``).
    locked_book: tuple[list[PositionRow], list[Order]] | None = None
    # The order being settled and which of the answer's fills are booked, as read with the lock
    # (``first_read=SettlingFirst(...)``); ``take_settling``.
    settling: tuple[Order | None, set[tuple[str, str]]] | None = None
    open_positions: list[PositionRow] = field(default_factory=list)  # read by account_update
    # Written in one statement just before the commit (``UnitOfWork.locked``), not one per event.
    events: list[outbox.OutboxEvent] = field(default_factory=list)
    # The trace headers of the OpenTelemetry context the last event was raised in: a fill raises
    # five events in one context, and injecting it is most of what raising an event costs.
    _trace: tuple[otel_context.Context, dict[str, str]] | None = field(default=None, repr=False)
    # Told whether the transaction committed, once it ended (``on_end``).
    _on_end: list[Callable[[bool], None]] = field(default_factory=list, repr=False)
    # Each order's ``order_update`` in ``events``: one per order and transaction (``_order_event``).
    _order_updates: dict[int, outbox.OutboxEvent] = field(default_factory=dict, repr=False)

    def on_end(self, callback: Callable[[bool], None]) -> None:
        """Call ``callback(committed)`` once the transaction ended: committed, rolled back, or
        its outcome unknown (a connection lost during COMMIT: told False)."""
        self._on_end.append(callback)

    def ended(self, committed: bool) -> None:
        callbacks, self._on_end = self._on_end, []
        for callback in callbacks:
            try:
                callback(committed)
            except Exception:
                log.exception("transaction_end_callback_failed", committed=committed)

    def take_settling(self) -> tuple[Order | None, set[tuple[str, str]]] | None:
        """The settled order and which of the answer's fills are booked (as
        ``orders.get_with_applied`` answers), as read with the lock, once."""
        settling, self.settling = self.settling, None
        return settling

    def book_now(self) -> tuple[list[PositionRow], list[Order]] | None:
        """The account's open positions and orders in flight as this transaction leaves them,
        from ``locked_book`` and this transaction's changes; None without ``locked_book``."""
        if self.locked_book is None:
            return None
        positions: dict[int, PositionRow] = {p.position_id: p for p in self.locked_book[0]}
        positions.update(self.positions)
        orders: dict[int, Order] = {}
        for order in self.locked_book[1]:
            assert order.order_id is not None
            orders[order.order_id] = order
        orders.update(self.orders)
        return (
            [positions[i] for i in sorted(positions) if positions[i].is_open],
            [orders[i] for i in sorted(orders) if orders[i].status.value in order_store.IN_FLIGHT],
        )

    @property
    def execution_follows(self) -> bool:
        """Every change of this transaction is an order entering FILLING (a market order
        accepted, a pending one triggered, a close sent): the commit of its execution follows
        within moments, and its events can wait to be published with that commit's."""
        return (
            bool(self.orders)
            and not self.positions
            and not self.account_touched
            and all(o.status is OrderStatus.FILLING for o in self.orders.values())
        )

    async def insert_order(self, order: Order) -> bool:
        """Insert a new order (False: its client order id exists) and emit ``order_update``."""
        if not await order_store.insert(self.conn, order):
            return False
        self._order_event(order)
        return True

    async def save_order(self, order: Order) -> None:
        """Persist the order's changes and transitions and emit ``order_update``."""
        await order_store.save(self.conn, order)
        self._order_event(order)

    def _order_event(self, order: Order) -> None:
        """``order_update`` with the order as this transaction leaves it: an update raised for
        it earlier in the transaction is dropped, since nobody could ever see that state (a
        market order the house fills in the transaction that accepts it was never FILLING for
        anyone else). The new one goes last, after the events raised since the dropped one."""
        assert order.order_id is not None
        earlier = self._order_updates.pop(order.order_id, None)
        if earlier is not None:
            self.events = [e for e in self.events if e is not earlier]
        self.emit(EventType.ORDER_UPDATE, order_json(order))
        self._order_updates[order.order_id] = self.events[-1]
        self.orders[order.order_id] = order

    def position_changed(self, position: PositionRow, view: PositionView | None = None) -> None:
        self.emit(EventType.POSITION_UPDATE, position_json(position, view))
        self.positions[position.position_id] = position

    def balance_booked(self, balance_after: Decimal) -> None:
        """A ledger row of this transaction moved the locked account's balance to
        ``balance_after`` (``oms.store.ledger.post_ledger``'s answer): ``account`` follows it."""
        self.account = replace(self.account, balance=balance_after)

    async def account_update(
        self,
        reason: str,
        symbols: Mapping[str, SymbolSpec],
        prices: Mapping[str, Price],
        *,
        reread: bool = True,
    ) -> AccountFigures:
        """Emit ``account_update`` with the balance and live figures as of this transaction.

        ``reread=False``: ``account`` is already the row as this transaction left it (it changed
        only by ledger rows reported through ``balance_booked``), so it is not read again."""
        if reread:
            account = await account_store.get_account(self.conn, self.account.account_id)
            assert account is not None
            self.account = account
        account = self.account
        positions, in_flight = self.book_now() or await position_store.open_book(
            self.conn, account.account_id
        )
        self.open_positions = positions
        fig = live_figures(account, positions, in_flight, symbols, prices)
        self.emit(EventType.ACCOUNT_UPDATE, account_json(account, fig, reason))
        self.account_touched = True
        return fig

    def emit(self, event_type: EventType, data: EventData) -> None:
        """Raise an event; it is written to the outbox with this transaction."""
        current = otel_context.get_current()
        if self._trace is None or self._trace[0] is not current:
            self._trace = (current, events.trace_headers())
        self.events.append(
            outbox.new_event(event_type, self.account.account_id, data, self._trace[1])
        )


class UnitOfWork:
    """Shared dependencies of the trading use cases."""

    def __init__(
        self,
        pool: Pool,
        redis: Redis,
        router: Router,
        *,
        now: Clock = utc_now,
        symbols_cache_seconds: float = 2.0,
        group_commit_max: int = 32,
        group_committers: int = 2,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.router = router
        self.now = now
        self.listeners: list[TradingListener] = []
        self._symbols_ttl = symbols_cache_seconds
        self._symbols: dict[str, SymbolSpec] = {}
        self._symbols_at = float("-inf")
        self._parsed_quotes: dict[Any, Price | None] = {}
        # Risk settings of new orders, kept in memory (no query per order) and replaced whole by
        # ``oms.trading.settings_sync`` on each ``oms_settings`` NOTIFY.
        self.risk = RiskTable()
        # Told (synchronously, on the event loop) when a reload changed a margin-call or stop-out
        # level: the trigger watcher re-arms its accounts at the new levels.
        self.levels_listeners: list[Callable[[], None]] = []
        # Told after each commit that wrote outbox events: ``Tx.execution_follows`` and the
        # accounts it wrote for (``OutboxRelay.written``).
        self.outbox_listeners: list[Callable[[bool, Sequence[int]], None]] = []
        self._group = GroupCommit(
            pool, self._notify, max_batch=group_commit_max, committers=group_committers
        )

    def levels(self, account: Account) -> Account:
        """``account`` with the margin-call and stop-out levels it is watched and stopped out at:
        the stricter of its own and its group's risk settings (``oms.domain.settings``)."""
        return level_account(account, self.risk.effective(account.client_group))

    def forget_symbols(self) -> None:
        """Drop the cached symbols: the next read loads them (a symbol changed)."""
        self._symbols_at = float("-inf")

    async def reload_risk(self) -> RiskTable:
        async with self.pool.acquire() as conn:
            table = await settings_store.load_risk(conn)
        changed = levels_key(table) != levels_key(self.risk)
        self.risk = table
        if changed:
            for listener in self.levels_listeners:
                try:
                    listener()
                except Exception:
                    log.exception("levels_listener_failed")
        return self.risk

    async def symbols(self) -> dict[str, SymbolSpec]:
        if time.monotonic() - self._symbols_at > self._symbols_ttl:
            async with self.pool.acquire() as conn:
                self._symbols = await account_store.load_symbols(conn)
            self._symbols_at = time.monotonic()
        return self._symbols

    async def market(
        self, quote: tuple[str, Price] | None = None
    ) -> tuple[dict[str, SymbolSpec], dict[str, Price]]:
        """Symbols and current quotes; ``quote`` (a watcher's tick) overrides its symbol's."""
        symbols = await self.symbols()
        prices = await read_prices(self.redis, symbols.keys(), self._parsed_quotes)
        if quote is not None:
            prices[quote[0]] = quote[1]
        return symbols, prices

    @asynccontextmanager
    async def locked(self, account_id: AccountId) -> AsyncIterator[Tx]:
        """A transaction holding the account's row lock; listeners hear the changes on commit."""
        tx: Tx | None = None
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                account = await account_store.get_account(conn, account_id, lock=True)
                if account is None:
                    raise account_not_found(account_id)
                tx = Tx(conn, account)
                yield tx
                await outbox.write(conn, tx.events)
        except BaseException:
            if tx is not None:
                tx.ended(False)
            raise
        tx.ended(True)
        self._notify(tx)

    async def grouped(
        self,
        account_id: AccountId,
        body: Callable[[Tx], Coroutine[Any, Any, T]],
        *,
        first_read: FirstRead | None = None,
    ) -> T:
        """Run ``body`` as ``locked`` would, its transaction possibly shared with other accounts'
        (``GroupCommit``); the order path's transactions. ``body`` must be re-runnable: change
        nothing outside the ``Tx`` before it returns. ``first_read``: what the body reads first,
        so that it may come with the lock."""
        return await self._group.run(account_id, body, first_read=first_read)

    def outbox_written(
        self, *, execution_follows: bool = False, accounts: Sequence[int] = ()
    ) -> None:
        """A transaction that wrote outbox events (of ``accounts``, when the caller knows them)
        committed."""
        for listener in self.outbox_listeners:
            listener(execution_follows, accounts)

    def _notify(self, tx: Tx) -> None:
        if tx.events:
            self.outbox_written(
                execution_follows=tx.execution_follows, accounts=(tx.account.account_id,)
            )
        for listener in self.listeners:
            try:
                for order in tx.orders.values():
                    listener.order_changed(order)
                for position in tx.positions.values():
                    listener.position_changed(position)
                if tx.account_touched:
                    listener.account_changed(tx.account, tx.open_positions)
            except Exception:
                log.exception("trading_listener_failed")


# --- group commit ---------------------------------------------------------------------------------

GROUP_SIZE = Histogram(
    "fxmesh_oms_group_commit_size",
    "Order-path transactions committed together in one database transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
GROUP_WAIT_SECONDS = Histogram(
    "fxmesh_oms_group_commit_wait_seconds",
    "From an order-path transaction queued to its database transaction begun: the wait for a "
    "committer (the transactions committing ahead of it).",
    buckets=LATENCY_BUCKETS,
)
GROUP_TRANSACTION_SECONDS = Histogram(
    "fxmesh_oms_group_commit_transaction_seconds",
    "One database transaction of the group commit, from its connection taken to its COMMIT "
    "answered (every body in it, in turn).",
    buckets=LATENCY_BUCKETS,
)
GROUP_RERUNS = Counter(
    "fxmesh_oms_group_commit_reruns_total",
    "Batches rolled back because one body failed; their bodies then ran one by one.",
)


BOOK_FIRST: Final = "book"
"""``first_read``: the body reads the account's book first (``Tx.book_now``)."""


@dataclass(frozen=True, slots=True)
class SettlingFirst:
    """``first_read``: the body settles an answer of one fill: it reads the order and whether
    that fill is booked first (``Tx.take_settling``), and the book as it leaves it last
    (``Tx.book_now``)."""

    order_id: OrderId
    venue: str
    fill_id: str


FirstRead = Literal["book"] | SettlingFirst


@dataclass(slots=True)
class _Work(Generic[T]):
    account_id: AccountId
    body: Callable[[Tx], Coroutine[Any, Any, T]]
    future: asyncio.Future[T]
    context: contextvars.Context
    first_read: FirstRead | None = None
    queued_at: float = field(default_factory=time.perf_counter)


class GroupCommit:
    """Runs account-locked bodies, grouping those that wait into shared transactions.

    A market order commits twice in oms (accepted and submitted; then filled), and each commit is a
    transaction of its own: BEGIN, the account's row lock, the work, the outbox insert, COMMIT and
    its WAL flush. Under load many orders of different accounts are in that position at once.
    ``run(account_id, body)`` queues the body; a committer takes every body queued (up to
    ``max_batch``) and runs them in one transaction on one connection: one BEGIN, one statement
    locking all their accounts (in account id order, as every batch does, so two batches cannot
    deadlock), each body in turn with its own ``Tx``, one outbox insert for all their events, one
    COMMIT. While fewer than ``committers`` transactions are under way a body starts at once, in
    a transaction of its own: nothing ever waits for company, a body only joins others when it
    would have waited for a connection anyway. ``committers`` trades database CPU per order (fewer
    committers group more) against the round trips one committer runs in sequence
    (docs/performance.md, "Group commit").

    Atomicity is the batch's: every body of a batch commits, or none does. A body that raises makes
    the batch roll back, and each of its bodies then runs again alone (bodies are re-runnable: they
    read what they need inside the transaction and change nothing outside it before the commit), so
    one order's failure is that order's only. A caller is answered after the commit; one that gave
    up (cancelled) before its body ran is dropped from the batch, one that gave up after finds its
    work committed (the order path already treats an order whose answer was lost: recovery settles
    it, a retry with its client order id finds it).

    Each body runs in its caller's context (``contextvars``): its events carry the caller's trace and
    its log lines the caller's bound fields.
    """

    def __init__(
        self,
        pool: Pool,
        committed: Callable[[Tx], None],
        *,
        max_batch: int = 32,
        committers: int = 2,
    ) -> None:
        self._pool = pool
        self._committed = committed
        self._max_batch = max_batch
        self._committers = committers
        self._running: set[asyncio.Task[None]] = set()
        self._queue: deque[_Work[Any]] = deque()

    async def run(
        self,
        account_id: AccountId,
        body: Callable[[Tx], Coroutine[Any, Any, T]],
        *,
        first_read: FirstRead | None = None,
    ) -> T:
        """Run ``body`` in a transaction holding ``account_id``'s row lock; return its result
        once that transaction committed (or raise what the body raised, nothing committed).
        ``first_read``: a body alone in its transaction gets what it reads first read with the
        lock, one round trip for both (``Tx.locked_book``, ``Tx.settling``); in a group it
        reads it itself."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        work = _Work(account_id, body, future, contextvars.copy_context(), first_read)
        if self._max_batch == 1:  # grouping off: each body alone, as many at once as come
            await self._commit([work])
            return await future
        self._queue.append(work)
        if len(self._running) < self._committers:
            committer = loop.create_task(self._drain())
            self._running.add(committer)
            committer.add_done_callback(self._running.discard)  # cancelled before it started
        return await future

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch: list[_Work[Any]] = []
                while self._queue and len(batch) < self._max_batch:
                    work = self._queue.popleft()
                    if not work.future.done():  # its caller gave up before it ran
                        batch.append(work)
                taken = time.perf_counter()
                for work in batch:
                    GROUP_WAIT_SECONDS.observe(taken - work.queued_at)
                if batch:
                    await self._commit(batch)
        finally:
            # Counted as running no longer from the moment it saw the queue empty (no await in
            # between): a body queued after that starts a committer of its own. The done callback
            # alone would leave a loop turn in which the body found every committer "running"
            # and waited for the next caller.
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)

    async def _commit(self, batch: list[_Work[Any]]) -> None:
        begun: list[Tx] = []  # every body's Tx, told how the transaction ended
        try:
            done = await self._transaction(batch, begun)
        except Exception as exc:
            for tx in begun:
                tx.ended(False)
            if len(batch) == 1:
                _settle(batch[0].future, exc=exc)
                return
            GROUP_RERUNS.inc()
            log.warning("group_commit_rerun", size=len(batch), error=repr(exc))
            for work in batch:
                if not work.future.done():  # not answered already (its account is gone)
                    await self._commit([work])
            return
        except BaseException:  # cancelled (shutdown): rolled back, nobody of it is answered
            for tx in begun:
                tx.ended(False)
            for work in batch:
                work.future.cancel()
            raise
        GROUP_SIZE.observe(len(done))
        for _, tx, _ in done:
            tx.ended(True)
        for work, tx, result in done:
            try:
                self._committed(tx)
            except Exception:  # committed all the same: every caller is answered
                log.exception("group_commit_listener_failed")
            _settle(work.future, result=result)

    async def _transaction(
        self, batch: list[_Work[Any]], begun: list[Tx]
    ) -> list[tuple[_Work[Any], Tx, Any]]:
        loop = asyncio.get_running_loop()
        done: list[tuple[_Work[Any], Tx, Any]] = []
        with GROUP_TRANSACTION_SECONDS.time():
            async with self._pool.acquire() as conn, conn.transaction():
                first: Tx | None = None  # a body alone, its first read made with the lock
                accounts: dict[AccountId, Account] = {}
                if len(batch) == 1 and batch[0].first_read is not None:
                    first = await _lock_with_first_read(
                        conn, batch[0].account_id, batch[0].first_read
                    )
                    if first is not None:
                        accounts[first.account.account_id] = first.account
                else:
                    ids = {w.account_id for w in batch}
                    locked_accounts = await account_store.accounts_by_id(conn, ids, lock=True)
                    accounts.update((a.account_id, a) for a in locked_accounts)
                seen: set[AccountId] = set()
                events: list[outbox.OutboxEvent] = []
                for work in batch:
                    account = accounts.get(work.account_id)
                    if account is None:
                        _settle(work.future, exc=account_not_found(work.account_id))
                        continue
                    if work.account_id in seen:
                        # An earlier body of this batch may have changed the row: read it again.
                        account = await account_store.get_account(conn, work.account_id)
                        assert account is not None
                    seen.add(work.account_id)
                    tx = first or Tx(conn, account)
                    begun.append(tx)
                    result: Any = await loop.create_task(work.body(tx), context=work.context)
                    events.extend(tx.events)
                    done.append((work, tx, result))
                await outbox.write(conn, events)
        return done


async def _lock_with_first_read(
    conn: Conn, account_id: AccountId, first_read: FirstRead
) -> Tx | None:
    """The ``Tx`` of a body alone in its transaction: the account locked and what the body reads
    first read with it, in one round trip. None: no such account."""
    if isinstance(first_read, SettlingFirst):
        settling = await position_store.lock_account_order(
            conn, account_id, first_read.order_id, first_read.venue, first_read.fill_id
        )
        if settling is None:
            return None
        return Tx(
            conn,
            settling.account,
            settling=(
                settling.order,
                {(first_read.venue, first_read.fill_id)} if settling.fill_applied else set(),
            ),
            locked_book=(settling.positions, settling.in_flight),
        )
    locked = await position_store.lock_account_book(conn, account_id)
    if locked is None:
        return None
    account, positions, in_flight = locked
    return Tx(conn, account, locked_book=(positions, in_flight))


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, exc: BaseException | None = None
) -> None:
    if future.done():  # the caller gave up meanwhile
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)
