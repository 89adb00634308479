"""Live marks (``AccountMarks``): accounts marked to market for the clients watching them.

One loop serves every watched account: every ``interval_seconds`` it reads the current quotes
once (one MGET for every symbol), values each watched account's open positions and figures with
the functions GetAccountSummary and ListPositions use (``mark_views``, ``live_figures``), and
hands a watcher a new ``AccountMark`` only when something it shows changed. An account's
balance, positions and in-flight orders are read from PostgreSQL when its first watch starts and
again after each commit that touched it (oms's trading listener), never per tick.

A watcher holds only the newest snapshot it has not taken yet: a slow reader skips states, it
never queues them. Nothing here changes an account.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Gauge

from fxmesh.background import BackgroundLoop
from fxmesh.errors import ResourceExhausted
from oms.domain.model import Account, AccountFigures, AccountId, Order, Price, SymbolSpec
from oms.domain.records import PositionRow
from oms.domain.results import PositionView
from oms.store import accounts as account_store
from oms.store import orders as order_store
from oms.store import positions as position_store
from oms.trading.unit_of_work import UnitOfWork, account_not_found, live_figures, mark_views

log = structlog.stdlib.get_logger(__name__)

WATCHED_ACCOUNTS = Gauge("fxmesh_oms_marks_watched_accounts", "Accounts with a live WatchAccount.")
WATCHERS = Gauge("fxmesh_oms_marks_watchers", "Open WatchAccount streams.")


@dataclass(frozen=True, slots=True)
class AccountMark:
    """An account at the quotes of ``as_of``: its figures and every open position's mark."""

    account: Account
    figures: AccountFigures
    positions: tuple[PositionView, ...]
    as_of: datetime

    def shown(self) -> tuple[Any, ...]:
        """What a client sees: two marks with equal ``shown`` need not both be sent."""
        return (
            self.figures,
            tuple(
                (v.row.position_id, v.row.volume, v.current_price, v.profit) for v in self.positions
            ),
        )


class TooManyWatches(ResourceExhausted):
    default_reason = "TOO_MANY_WATCHES"


class _Watcher:
    """One stream's mailbox: the newest mark it has not taken yet."""

    __slots__ = ("newest", "ready")

    def __init__(self) -> None:
        self.newest: AccountMark | None = None
        self.ready = asyncio.Event()

    def put(self, mark: AccountMark) -> None:
        self.newest = mark
        self.ready.set()


@dataclass(slots=True)
class _Watched:
    """An account somebody watches: its stored state and who watches it."""

    account: Account
    positions: list[PositionRow]
    in_flight: list[Order]
    watchers: set[_Watcher] = field(default_factory=set)
    stale: bool = False
    last_shown: tuple[Any, ...] | None = None


class AccountMarks:
    """WatchAccount's engine; also a ``TradingListener`` (a commit marks its account stale)."""

    def __init__(
        self, uow: UnitOfWork, *, interval_seconds: float = 0.25, max_accounts: int = 10_000
    ) -> None:
        self._uow = uow
        self.interval_seconds = interval_seconds
        self.max_accounts = max_accounts
        self._watched: dict[AccountId, _Watched] = {}
        self._loop = BackgroundLoop("oms-marks", self._run)

    # --- TradingListener -------------------------------------------------------------------------

    def order_changed(self, order: Order) -> None:
        self._touch(order.account_id)  # an order in flight holds margin

    def position_changed(self, position: PositionRow) -> None:
        self._touch(position.account_id)

    def account_changed(self, account: Account, open_positions: Sequence[PositionRow]) -> None:
        self._touch(account.account_id)

    def _touch(self, account_id: AccountId) -> None:
        watched = self._watched.get(account_id)
        if watched is not None:
            watched.stale = True

    # --- watching --------------------------------------------------------------------------------

    async def watch(self, account_id: AccountId) -> AsyncGenerator[AccountMark, None]:
        """The account's mark now, then each changed one until the caller stops iterating.

        ``NOT_FOUND`` for an unknown account; ``TOO_MANY_WATCHES`` when ``max_accounts`` other
        accounts are watched already."""
        watched = self._watched.get(account_id)
        if watched is None:
            if len(self._watched) >= self.max_accounts:
                raise TooManyWatches(
                    f"oms serves at most {self.max_accounts} watched accounts",
                    metadata={"max": str(self.max_accounts)},
                )
            watched = await self._load(account_id)
            # Another watch of the account may have started while this one read it.
            watched = self._watched.setdefault(account_id, watched)
        watcher = _Watcher()
        watched.watchers.add(watcher)
        WATCHERS.inc()
        WATCHED_ACCOUNTS.set(len(self._watched))
        self._loop.start()  # unless it runs: it ends by itself once nobody watches
        try:
            symbols, prices = await self._uow.market()
            yield self._mark(watched, symbols, prices)
            while True:
                await watcher.ready.wait()
                watcher.ready.clear()
                mark, watcher.newest = watcher.newest, None
                if mark is not None:
                    yield mark
        finally:
            WATCHERS.dec()
            watched.watchers.discard(watcher)
            if not watched.watchers and self._watched.get(account_id) is watched:
                del self._watched[account_id]
            WATCHED_ACCOUNTS.set(len(self._watched))

    async def _load(self, account_id: AccountId) -> _Watched:
        async with self._uow.pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            account = await account_store.get_account(conn, account_id)
            if account is None:
                raise account_not_found(account_id)
            positions = await position_store.open_positions(conn, account_id)
            in_flight = await order_store.in_flight(conn, account_id)
        return _Watched(account, positions, in_flight)

    async def _reload(self, account_id: AccountId, watched: _Watched) -> None:
        watched.stale = False  # a commit from now on marks it stale again
        try:
            fresh = await self._load(account_id)
        except Exception as exc:  # keep showing the last state; retried at the next round
            watched.stale = True
            log.warning("marks_reload_failed", account_id=account_id, error=repr(exc))
            return
        watched.account, watched.positions, watched.in_flight = (
            fresh.account,
            fresh.positions,
            fresh.in_flight,
        )

    def _mark(
        self, watched: _Watched, symbols: dict[str, SymbolSpec], prices: dict[str, Price]
    ) -> AccountMark:
        account = watched.account
        mark = AccountMark(
            account,
            live_figures(account, watched.positions, watched.in_flight, symbols, prices),
            tuple(mark_views(account, watched.positions, symbols, prices)),
            self._uow.now(),
        )
        watched.last_shown = mark.shown()
        return mark

    # --- the loop --------------------------------------------------------------------------------

    async def _run(self) -> None:
        while self._watched:
            await asyncio.sleep(self.interval_seconds)
            try:
                await self._round()
            except Exception:  # a Redis or database hiccup: the next round tries again
                log.exception("marks_round_failed")

    async def _round(self) -> None:
        symbols, prices = await self._uow.market()
        for account_id, watched in list(self._watched.items()):
            if watched.stale:
                await self._reload(account_id, watched)
            if not watched.watchers:
                continue
            shown = watched.last_shown
            mark = self._mark(watched, symbols, prices)
            if mark.shown() != shown:
                for watcher in watched.watchers:
                    watcher.put(mark)

    async def stop(self) -> None:
        """Stop the loop (open streams end with the gRPC server)."""
        await self._loop.stop()
