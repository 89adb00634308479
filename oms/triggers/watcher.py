"""The tick loop of oms: quotes in; pending-order, SL / TP, trailing, expiry and margin actions out.

* Quotes arrive on Redis pub/sub (``quotes.{db}.*``, the ``fxmesh.quotecache`` documents) and are
  conflated per symbol: when ticks come faster than they are processed, only the latest quote of
  each symbol is evaluated.
* Each quote is evaluated against the ``TriggerBook`` (O(log n + k)); what fired is handed to a
  dispatcher and the tick loop moves on. The dispatcher keeps one queue per account (an account's
  actions run in order, different accounts in parallel, at most ``workers`` at once). Nothing is
  ever dropped: every entry fires once, so the backlog is bounded by the books themselves;
  margin checks (one per account) and trailing moves (the latest per position) coalesce; and past
  ``max_pending`` queued actions the tick loop waits for the workers (back-pressure).
* A crossed margin threshold is only a hint: the account is checked precisely (every position at
  the current quotes) before ``stop_out`` / ``margin_call`` is called, and its thresholds are
  recomputed afterwards. A periodic sweep, off the tick path, recomputes the thresholds that
  cross rates drift (``oms.domain.stopout.rate_dependent``) and looks for margin calls that
  recovered.
* The margin-call and stop-out levels an account is watched at come from ``levels`` (oms: the
  stricter of the account's own and its group's risk settings); ``levels_changed`` re-arms every
  account whose levels a settings change moved, at once.
* The clock loop (injected clock) expires GTD / DAY orders.

The core tells the watcher about every change it commits (``upsert_order``, ``remove_order``,
``upsert_position``, ``remove_position``, ``account_changed``); these are plain synchronous calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram
from redis.asyncio import Redis
from redis.exceptions import RedisError

from fxmesh.quotecache import ClientQuote, channel_pattern, quote_key, redis_db
from oms.domain import stopout
from oms.domain.model import AccountId, CloseReason, OrderId, PositionId, Price
from oms.domain.stopout import AccountRisk
from oms.triggers.book import (
    Fired,
    FiredKind,
    ProtectedPosition,
    TriggerBook,
    TriggerKind,
    WorkingOrder,
)
from oms.triggers.dispatch import Dispatcher, Job, TriggerActions, TriggerLoader, WatcherSettings

log = structlog.stdlib.get_logger(__name__)

TICKS = Counter("fxmesh_oms_ticks_processed_total", "Client quotes evaluated by the trigger books.")
TICKS_CONFLATED = Counter(
    "fxmesh_oms_ticks_conflated_total", "Client quotes replaced by a newer one before evaluation."
)
TICK_SECONDS = Histogram(
    "fxmesh_oms_tick_processing_seconds",
    "Time to evaluate one quote against the trigger books and queue what fired.",
    buckets=(1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 1e-2, 0.1, 1.0),
)
FIRED = Counter("fxmesh_oms_triggers_fired_total", "Triggers fired and actions raised.", ["kind"])
# Children looked up once: a storm fires thousands in one tick.
_FIRED_BY_KIND = {kind: FIRED.labels(kind.value) for kind in FiredKind}
ACTION_FAILURES = Counter(
    "fxmesh_oms_trigger_action_failures_total", "Trigger actions that raised.", ["kind"]
)
BOOK_ENTRIES = Gauge("fxmesh_oms_trigger_book_entries", "Armed trigger entries.", ["kind"])
PENDING_ACTIONS = Gauge("fxmesh_oms_trigger_actions_pending", "Trigger actions queued or running.")


class TriggerWatcher:
    """Watches client quotes and the clock, and raises the trading core's trigger actions."""

    def __init__(
        self,
        redis: Redis | None,
        actions: TriggerActions,
        loader: TriggerLoader,
        *,
        now: Callable[[], datetime],
        settings: WatcherSettings | None = None,
        levels: Callable[[AccountRisk], AccountRisk] | None = None,
    ) -> None:
        self.settings = s = settings or WatcherSettings()
        # The levels an account is watched at (the risk settings over its own); None: its own.
        self._levels = levels
        self.book = TriggerBook()
        self.prices: dict[str, Price] = {}
        self._redis = redis
        self._actions = actions
        self._loader = loader
        self._now = now
        self._accounts: dict[AccountId, AccountRisk] = {}
        self._in_margin_call: set[AccountId] = set()
        self._drifting: set[AccountId] = set()  # thresholds the periodic sweep must recompute
        # Fired entries whose action is queued or running, by object; a change from the core
        # supersedes them (a failed action then does not re-arm stale values).
        self._inflight: dict[tuple[str, int], Fired] = {}
        self._latest: dict[str, ClientQuote] = {}
        self._quote_ready = asyncio.Event()
        self._resweep = asyncio.Event()
        self._dispatcher = Dispatcher(self._run, s.workers, s.max_pending)
        self._tasks: list[asyncio.Task[None]] = []
        self._pubsub: Any = None

    @property
    def _quotes(self) -> Redis:
        """Where quotes are read (a watcher built without Redis only evaluates given ticks)."""
        assert self._redis is not None, "this watcher has no Redis"
        return self._redis

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe, arm the books from the loader, read current quotes, start the loops."""
        self._pubsub = self._quotes.pubsub(ignore_subscribe_messages=True)
        await self._pubsub.psubscribe(
            channel_pattern(redis_db(self._quotes))
        )  # before loading: no tick is missed
        try:
            state = await self._loader.load_triggers()
        except BaseException:
            await self._pubsub.aclose()
            self._pubsub = None
            raise
        for order in state.orders:
            self.book.upsert_order(order)
        for position in state.positions:
            self.book.upsert_position(position)
        await self._read_current_quotes(state.symbols)
        for risk in state.accounts:
            self.account_changed(risk.account_id, risk)
        self._dispatcher.start()
        # What a gap crossed while oms was down fires now, not at the next tick.
        for symbol, price in list(self.prices.items()):
            self.on_quote(symbol, price.bid, price.ask)
        self._tasks = [
            asyncio.create_task(self._read_quotes(), name="triggers-quotes"),
            asyncio.create_task(self._process_quotes(), name="triggers-ticks"),
            asyncio.create_task(self._clock(), name="triggers-clock"),
        ]
        if self.settings.sweep_seconds > 0:
            self._tasks.append(asyncio.create_task(self._sweep_loop(), name="triggers-sweep"))
        log.info("trigger_watcher_started", entries=len(self.book), accounts=len(self._accounts))

    async def stop(self, grace: float = 5.0) -> None:
        """Stop reading quotes, let queued actions finish (up to ``grace`` s), close."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._dispatcher.close(grace)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.punsubscribe()
            await self._pubsub.aclose()
            self._pubsub = None

    async def drain(self) -> None:
        """Wait until every action fired so far has run (tests, benchmarks, shutdown)."""
        await self._dispatcher.drain()

    def start_dispatcher(self) -> None:
        """Run actions without subscribing to Redis (``on_quote`` driven directly)."""
        self._dispatcher.start()

    # --- changes from the core -------------------------------------------------------------------

    def upsert_order(self, order: WorkingOrder) -> None:
        """A working order was placed, modified, or (stop-limit) activated."""
        self._inflight.pop(("order", order.order_id), None)
        self.book.upsert_order(order)

    def remove_order(self, order_id: OrderId) -> None:
        """An order stopped working (cancelled, triggered and done, expired)."""
        self._inflight.pop(("order", order_id), None)
        self.book.remove_order(order_id)

    def upsert_position(self, position: ProtectedPosition) -> None:
        """A position was opened or its SL / TP / trailing stop changed."""
        self._inflight.pop(("position", position.position_id), None)
        self.book.upsert_position(position)

    def remove_position(self, position_id: PositionId) -> None:
        """A position was closed."""
        self._inflight.pop(("position", position_id), None)
        self.book.remove_position(position_id)

    def account_changed(self, account_id: AccountId, risk: AccountRisk | None) -> None:
        """An account's balance or positions changed (fill, close, deposit, settings): re-arm it.

        ``None`` (or no positions) disarms its margin thresholds.
        """
        if risk is None or not risk.positions:
            self._accounts.pop(account_id, None)
            self._in_margin_call.discard(account_id)
            self._drifting.discard(account_id)
            self.book.clear_thresholds(account_id)
            return
        self._accounts[account_id] = self._leveled(risk)
        self._arm_account(account_id, recheck=True)

    def _leveled(self, risk: AccountRisk) -> AccountRisk:
        return risk if self._levels is None else self._levels(risk)

    def levels_changed(self) -> None:
        """The margin-call / stop-out risk settings changed: re-arm every account whose levels
        moved, at once (off the tick path, in chunks); one now past its new stop-out level is
        checked and stopped out like any other."""
        moved = []
        for account_id, risk in list(self._accounts.items()):
            fresh = self._leveled(risk)
            if fresh != risk:
                self._accounts[account_id] = fresh
                moved.append(account_id)
        log.info("trigger_levels_changed", accounts=len(moved))
        if moved:
            self._tasks = [t for t in self._tasks if not t.done()]
            self._tasks.append(asyncio.create_task(self._rearm(moved), name="triggers-levels"))

    async def _rearm(self, accounts: list[AccountId]) -> None:
        chunk = self.settings.sweep_chunk
        for start in range(0, len(accounts), chunk):
            for account_id in accounts[start : start + chunk]:
                self._arm_account(account_id, recheck=True)
            await asyncio.sleep(0)

    def reload_account(self, account_id: AccountId) -> None:
        """Re-arm an account from ``loader.load_account``, queued behind its pending actions.

        For callers that know *that* an account changed but not its new risk inputs (a
        synchronous commit listener); repeated calls before the load runs coalesce into one.
        """
        key = ("reload", account_id)
        self._dispatcher.submit(account_id, ("reload", account_id), key)

    def rearm_account(self, account_id: AccountId, risk: AccountRisk | None) -> None:
        """Re-arm an account from its committed ``risk``, queued behind its pending actions; it
        replaces a queued reload or re-arm of the account (this one is the newest)."""
        self._dispatcher.submit(
            account_id, ("arm", (account_id, risk)), ("reload", account_id), replace=True
        )

    def _arm_account(self, account_id: AccountId, *, recheck: bool) -> None:
        risk = self._accounts.get(account_id)
        if risk is None:
            return
        prices = self.prices
        if stopout.rate_dependent(risk) or any(p.symbol not in prices for p in risk.positions):
            self._drifting.add(account_id)
        else:
            self._drifting.discard(account_id)
        cushion = self.settings.cushion
        out = stopout.thresholds(risk, self.prices, risk.stop_out_level, cushion=cushion)
        self.book.set_thresholds(account_id, TriggerKind.STOP_OUT, out.thresholds)
        breached = out.breached
        call = stopout.thresholds(risk, self.prices, risk.margin_call_level, cushion=cushion)
        if not call.breached:
            self._in_margin_call.discard(account_id)
        if account_id in self._in_margin_call:
            # Raised once per episode: no call thresholds until the level is restored.
            self.book.clear_thresholds(account_id, TriggerKind.MARGIN_CALL)
        else:
            self.book.set_thresholds(account_id, TriggerKind.MARGIN_CALL, call.thresholds)
            breached = breached or call.breached
        if breached and recheck:
            self._submit_risk_check(account_id)

    # --- ticks -----------------------------------------------------------------------------------

    def on_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> int:
        """Evaluate one quote and queue what fired; returns how many entries fired."""
        started = time.perf_counter()
        if symbol not in self.prices:  # thresholds computed without this symbol: redo soon
            self._resweep.set()
        self.prices[symbol] = Price(bid, ask)
        fired = self.book.on_quote(symbol, bid, ask)
        for f in fired:
            self._dispatch(f)
        TICKS.inc()
        TICK_SECONDS.observe(time.perf_counter() - started)
        return len(fired)

    def on_clock(self, now: datetime) -> int:
        """Expire every order due at ``now``; returns how many."""
        fired = self.book.pop_expired(now)
        for f in fired:
            self._dispatch(f)
        return len(fired)

    def _dispatch(self, fired: Fired) -> None:
        _FIRED_BY_KIND[fired.kind].inc()
        if fired.kind is FiredKind.RISK_CHECK:
            self._submit_risk_check(fired.account_id)
            return
        slot = _slot(fired)
        self._inflight[slot] = fired
        if fired.kind is FiredKind.TRAIL:  # only the latest move of a position matters
            self._dispatcher.submit(fired.account_id, ("fired", fired), slot, replace=True)
        else:
            self._dispatcher.submit(fired.account_id, ("fired", fired))

    def _submit_risk_check(self, account_id: AccountId) -> None:
        # One queued check per account: whenever it runs, it reads the latest quotes.
        self._dispatcher.submit(account_id, ("risk", account_id), ("risk", account_id))

    # --- actions ---------------------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        what, payload = job
        PENDING_ACTIONS.set(self._dispatcher.pending)
        if what == "risk":
            await self._check_account(payload)
        elif what == "arm":
            self.account_changed(*payload)
        elif what == "reload":
            try:
                fresh = await self._loader.load_account(payload)
            except Exception as exc:
                log.warning("account_reload_failed", account_id=payload, error=repr(exc))
            else:
                self.account_changed(payload, fresh)
        else:
            await self._run_fired(payload)

    async def _run_fired(self, fired: Fired) -> None:
        a, f = self._actions, fired
        try:
            async with asyncio.timeout(self.settings.action_timeout_seconds):
                if f.kind is FiredKind.TRIGGER_ORDER:
                    assert f.quote is not None
                    await a.trigger_order(OrderId(f.ref), f.account_id, f.quote)
                elif f.kind is FiredKind.ACTIVATE_STOP_LIMIT:
                    assert f.quote is not None
                    assert f.order is not None
                    await a.activate_stop_limit(OrderId(f.ref), f.account_id, f.quote)
                    if self._inflight.get(_slot(f)) is f:  # not changed meanwhile: now a limit
                        self.upsert_order(_activated(f.order))
                elif f.kind is FiredKind.EXPIRE:
                    assert f.at is not None
                    await a.expire_order(OrderId(f.ref), f.account_id, f.at)
                elif f.kind is FiredKind.STOP_LOSS or f.kind is FiredKind.TAKE_PROFIT:
                    assert f.quote is not None
                    reason = (
                        CloseReason.STOP_LOSS
                        if f.kind is FiredKind.STOP_LOSS
                        else CloseReason.TAKE_PROFIT
                    )
                    await a.close_for_protection(PositionId(f.ref), f.account_id, reason, f.quote)
                elif f.kind is FiredKind.TRAIL:
                    assert f.quote is not None
                    assert f.stop_loss is not None
                    await a.move_trailing_stop(
                        PositionId(f.ref), f.account_id, f.stop_loss, f.quote
                    )
        except Exception as exc:
            ACTION_FAILURES.labels(f.kind.value).inc()
            log.warning(
                "trigger_action_failed",
                kind=f.kind.value,
                ref=f.ref,
                account_id=f.account_id,
                error=repr(exc),
            )
            if self._inflight.get(_slot(f)) is f:
                asyncio.get_running_loop().call_later(
                    self.settings.retry_seconds, self._rearm_failed, f
                )
            return
        if self._inflight.get(_slot(f)) is f:
            del self._inflight[_slot(f)]

    def _rearm_failed(self, fired: Fired) -> None:
        """Arm again what fired when its action failed, unless the core changed it meanwhile."""
        slot = _slot(fired)
        if self._inflight.get(slot) is not fired:
            return
        del self._inflight[slot]
        if fired.kind is FiredKind.TRAIL:  # the book already holds the move: retry persisting it
            self._dispatch(fired)
        elif fired.order is not None:
            self.book.upsert_order(fired.order)
            if fired.kind is FiredKind.EXPIRE:
                self.on_clock(self._now())
        elif fired.position is not None:
            self.book.upsert_position(fired.position)

    async def _check_account(self, account_id: AccountId) -> None:
        """The precise check behind a crossed threshold; re-arms the account afterwards."""
        risk = self._accounts.get(account_id)
        if risk is None:
            return
        level = stopout.margin_level(risk, self.prices)
        acted = False
        try:
            async with asyncio.timeout(self.settings.action_timeout_seconds):
                if level is not None and level <= risk.stop_out_level:
                    FIRED.labels("stop_out").inc()
                    acted = True
                    await self._actions.stop_out(account_id, level)
                elif level is not None and level <= risk.margin_call_level:
                    if account_id not in self._in_margin_call:
                        FIRED.labels("margin_call").inc()
                        await self._actions.margin_call(account_id, level)
                        self._in_margin_call.add(account_id)  # once per episode
                else:
                    self._in_margin_call.discard(account_id)
        except Exception as exc:
            ACTION_FAILURES.labels("stop_out" if acted else "margin_call").inc()
            log.warning("margin_action_failed", account_id=account_id, error=repr(exc))
        if acted:  # positions were closed: read what is left
            try:
                fresh = await self._loader.load_account(account_id)
            except Exception as exc:
                log.warning("account_reload_failed", account_id=account_id, error=repr(exc))
            else:
                if fresh is None or not fresh.positions:
                    self.account_changed(account_id, None)
                    return
                self._accounts[account_id] = self._leveled(fresh)
        # No immediate re-check: if the level is still breached, the thresholds sit at the
        # current prices and the next tick that does not improve them checks again.
        self._arm_account(account_id, recheck=False)

    # --- loops -----------------------------------------------------------------------------------

    async def _read_current_quotes(self, symbols: Iterable[str]) -> None:
        names = list(symbols)
        if not names:
            return
        for raw in await self._quotes.mget([quote_key(s) for s in names]):
            if raw is not None:
                quote = ClientQuote.from_json(raw)
                if quote.bid > 0 and quote.ask >= quote.bid:
                    self.prices[quote.symbol] = Price(quote.bid, quote.ask)

    async def _read_quotes(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(timeout=1.0)
            except (ConnectionError, OSError, RedisError) as exc:
                # redis-py re-subscribes on reconnect; what moved meanwhile is read back below.
                log.warning("quote_subscription_lost", error=repr(exc))
                await asyncio.sleep(1.0)
                with contextlib.suppress(ConnectionError, OSError, RedisError):
                    await self._catch_up()
                continue
            if message is None or message.get("type") != "pmessage":
                continue
            try:
                quote = ClientQuote.from_json(message["data"])
            except (ValueError, KeyError, ArithmeticError):
                log.warning("bad_quote_message", channel=str(message.get("channel")))
                continue
            if quote.bid <= 0 or quote.ask < quote.bid:
                continue
            if quote.symbol in self._latest:
                TICKS_CONFLATED.inc()
            self._latest[quote.symbol] = quote
            self._quote_ready.set()

    async def _catch_up(self) -> None:
        """Evaluate the stored quote of every known symbol (after missing published ticks)."""
        known = list(self.prices)
        await self._read_current_quotes(known)
        for symbol in known:
            price = self.prices[symbol]
            self.on_quote(symbol, price.bid, price.ask)

    async def _process_quotes(self) -> None:
        while True:
            await self._quote_ready.wait()
            self._quote_ready.clear()
            batch, self._latest = self._latest, {}
            for quote in batch.values():
                try:
                    self.on_quote(quote.symbol, quote.bid, quote.ask)
                except Exception:  # one bad evaluation must not stop every trigger
                    log.exception("tick_evaluation_failed", symbol=quote.symbol)
            if self._dispatcher.pending >= self.settings.max_pending:
                await self._dispatcher.room()  # back-pressure, never a drop
            await asyncio.sleep(0)  # let the reader take in what arrived meanwhile

    async def _clock(self) -> None:
        while True:
            self.on_clock(self._now())
            for kind, size in self.book.sizes().items():
                BOOK_ENTRIES.labels(kind.value).set(size)
            PENDING_ACTIONS.set(self._dispatcher.pending)
            await asyncio.sleep(self.settings.clock_seconds)

    async def _sweep_loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._resweep.wait(), self.settings.sweep_seconds)
            self._resweep.clear()
            await self.sweep()

    async def sweep(self, *, everyone: bool = False) -> None:
        """Recompute thresholds at current quotes, yielding to the tick loop between chunks.

        Only accounts whose thresholds drift (cross rates, a symbol unquoted when armed) and
        accounts in margin call (to see them recover) need it; ``everyone`` does all of them.
        """
        chunk = self.settings.sweep_chunk
        accounts = list(self._accounts if everyone else self._drifting | self._in_margin_call)
        for start in range(0, len(accounts), chunk):
            for account_id in accounts[start : start + chunk]:
                self._arm_account(account_id, recheck=True)
            await asyncio.sleep(0)


def _slot(fired: Fired) -> tuple[str, int]:
    if fired.kind in (FiredKind.TRIGGER_ORDER, FiredKind.ACTIVATE_STOP_LIMIT, FiredKind.EXPIRE):
        return ("order", fired.ref)
    return ("position", fired.ref)


def _activated(order: WorkingOrder) -> WorkingOrder:
    return replace(order, stop_limit_active=True)
