"""Store ticks and candles off the hot path: buffer in memory, write a batch every second.

Per tick the pipeline only appends to a buffer and updates the price's pending 1m candle (a
symbol's default price, and each client group's own price on it: ``client_group`` in both tables). A
background task then, every ``interval`` seconds, COPYs the buffered client and raw LP ticks into
``quotes.ticks`` and adds the batch's candles (every timeframe, rolled up from the 1m ones) to
``quotes.candles`` in ONE transaction, so stored candles always agree with stored ticks. The same
task keeps day partitions ahead (``ahead_days``) and drops whole partitions past
``retention_days`` (0 keeps everything).

Readers of candles (``reading`` + ``pending_minutes``) see the stored rows plus what is still
pending: a flush never runs while a read is between its query and its merge, so a tick is counted
exactly once, and the current candle is live.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog

from fxmesh.background import BackgroundLoop
from fxmesh.db import Pool
from quotes import metrics, repository
from quotes.candles import TIMEFRAMES, Candle, MinuteBook, Timeframe, rollup, spread_points
from quotes.domain import PricedQuote, RawTick
from quotes.repository import (
    DEFAULT_GROUP,
    KIND_CLIENT,
    KIND_RAW,
    CandleKey,
    TickRow,
    ms_datetime,
)

log = structlog.stdlib.get_logger(__name__)

DigitsOf = Callable[[str], int | None]
"""The digits of a configured symbol, None for an unknown one."""


class TickStore:
    """Bounded tick buffers and pending candles, flushed by a background task.

    ``add`` / ``add_raw`` never wait on the database. When PostgreSQL is slow or down each buffer
    keeps its newest ``max_buffer`` ticks and counts the ones it had to discard (their candles are
    kept: candles count every client tick written to Redis).
    """

    def __init__(
        self,
        pool: Pool,
        digits: DigitsOf,
        *,
        clock: Callable[[], int],
        interval: float = 1.0,
        max_buffer: int = 100_000,
        store_raw: bool = True,
        retention_days: int = 30,
        ahead_days: int = 2,
        maintenance_seconds: float = 3600.0,
    ) -> None:
        self._pool = pool
        self._digits = digits
        self._clock = clock
        self._interval = interval
        self._store_raw = store_raw
        self._retention_days = retention_days
        self._ahead_days = ahead_days
        self._maintenance_seconds = maintenance_seconds
        # Quotes and ticks as received; turned into rows at flush time, off the per-tick path.
        self._client: deque[PricedQuote] = deque(maxlen=max_buffer)
        self._raw: deque[tuple[RawTick, int]] = deque(maxlen=max_buffer)
        self._minutes = MinuteBook()
        self._days: set[date] = set()
        self._flush_lock = asyncio.Lock()
        self._readers = 0
        self._no_readers = asyncio.Event()
        self._no_readers.set()
        self._flusher = BackgroundLoop("quotes-tick-store", self._run)

    # --- the per-tick path ---------------------------------------------------------------------

    def add(self, quote: PricedQuote) -> None:
        """A client quote written to Redis (the default price or a group's own): store it and
        count it in its price's candles."""
        if len(self._client) == self._client.maxlen:
            metrics.TICKS_STORE_DROPPED.inc()
        self._client.append(quote)
        digits = self._digits(quote.symbol)
        if digits is not None:
            self._minutes.add(
                quote.symbol,
                quote.ts_ms,
                quote.bid,
                spread_points(quote.bid, quote.ask, digits),
                quote.group,
            )

    def add_raw(self, tick: RawTick, received_ms: int) -> None:
        """An LP tick that passed validation (stored as kind RAW)."""
        if not self._store_raw:
            return
        if len(self._raw) == self._raw.maxlen:
            metrics.TICKS_STORE_DROPPED.inc()
        self._raw.append((tick, received_ms))

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Create today's and the next days' partitions, then flush in the background."""
        await self.maintain()
        self._flusher.start()

    async def stop(self) -> None:
        """Stop the flusher and write what is still buffered."""
        await self._flusher.stop()
        await self.flush()

    async def maintain(self) -> list[str]:
        """Create the partitions from yesterday to ``ahead_days`` ahead and drop those past the
        retention; returns the partitions dropped."""
        today = ms_datetime(self._clock()).date()
        days = [today + timedelta(days=n) for n in range(-1, self._ahead_days + 1)]
        await repository.ensure_tick_partitions(self._pool, days)
        self._days.update(days)
        dropped: list[str] = []
        if self._retention_days > 0:
            dropped = await repository.drop_tick_partitions(
                self._pool, today - timedelta(days=self._retention_days)
            )
            if dropped:
                self._days.clear()
                log.info("tick_partitions_dropped", partitions=dropped)
        return dropped

    async def _run(self) -> None:
        due = self._maintenance_seconds
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()
            due -= self._interval
            if due <= 0:
                due = self._maintenance_seconds
                try:
                    await self.maintain()
                except Exception as exc:
                    log.warning("tick_partition_maintenance_failed", error=str(exc))

    # --- writing -------------------------------------------------------------------------------

    async def flush(self) -> int:
        """Write the buffered ticks and pending candles; returns the number of ticks stored."""
        async with self._flush_lock:
            while self._readers:
                await self._no_readers.wait()
            if not (self._client or self._raw or self._minutes):
                return 0
            quotes = list(self._client)
            self._client.clear()
            raws = list(self._raw)
            self._raw.clear()
            minutes = self._minutes.take()
            # A symbol's group quotes share its default quote's time, and raw ticks of one batch share
            # their receipt time: convert each time once.
            stamps: dict[int, datetime] = {}
            rows: list[TickRow] = []
            for q in quotes:
                moment = stamps.get(q.ts_ms)
                if moment is None:
                    moment = stamps[q.ts_ms] = ms_datetime(q.ts_ms)
                rows.append((moment, q.symbol, KIND_CLIENT, q.sources, q.bid, q.ask, q.group))
            for t, received in raws:
                ts_ms = t.ts_ms if t.ts_ms is not None else received
                moment = stamps.get(ts_ms)
                if moment is None:
                    moment = stamps[ts_ms] = ms_datetime(ts_ms)
                rows.append(
                    (
                        moment,
                        t.symbol,
                        KIND_RAW,
                        t.source,
                        Decimal(t.bid.strip()),
                        Decimal(t.ask.strip()),
                        DEFAULT_GROUP,
                    )
                )
            candles: dict[CandleKey, list[Candle]] = {}
            for (group, symbol), bars in minutes.items():
                candles[(group, symbol, Timeframe.M1)] = bars
                for timeframe in TIMEFRAMES[1:]:
                    candles[(group, symbol, timeframe)] = rollup(bars, timeframe)
            try:
                missing = {row[0].date() for row in rows} - self._days
                if missing:
                    await repository.ensure_tick_partitions(self._pool, missing)
                    self._days |= missing
                await repository.write_ticks(self._pool, rows, candles)
            except BaseException as exc:
                # A partition this process thought it had may have been dropped: check again.
                self._days.clear()
                self._minutes.put_back(minutes)
                kept = _put_back(self._client, quotes) + _put_back(self._raw, raws)
                metrics.TICKS_STORE_DROPPED.inc(len(rows) - kept)
                if not isinstance(exc, Exception):
                    raise  # cancelled (stop): what was taken is back for the final flush
                log.warning("tick_store_failed", rows=len(rows), error=str(exc))
                return 0
            metrics.TICKS_STORED.inc(len(rows))
            return len(rows)

    # --- live reads ----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[None]:
        """Hold flushes off while a reader reads the stored candles and merges the pending ones."""
        async with self._flush_lock:
            self._readers += 1
            self._no_readers.clear()
        try:
            yield
        finally:
            self._readers -= 1
            if not self._readers:
                self._no_readers.set()

    def pending_minutes(self, symbol: str, group: str = DEFAULT_GROUP) -> list[Candle]:
        """The 1m candles of ``group``'s price of ``symbol`` not stored yet, oldest first."""
        return self._minutes.minutes(symbol, group)


def _put_back(buffer: deque[Any], items: list[Any]) -> int:
    """Put ``items`` back in front of ``buffer`` (oldest first) as far as there is room."""
    room = max(0, (buffer.maxlen or 0) - len(buffer))
    kept = items[len(items) - room :] if room else []
    buffer.extendleft(reversed(kept))
    return len(kept)
