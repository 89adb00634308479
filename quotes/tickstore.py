"""Store client ticks in ``quotes.ticks`` off the hot path: buffer in memory, COPY every second."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

import structlog

from quotes import metrics, repository
from quotes.domain import PricedQuote
from quotes.service import ms_to_datetime

log = structlog.stdlib.get_logger(__name__)


class TickStore:
    """A bounded buffer flushed by a background task; ``add`` never waits on the database.

    When PostgreSQL is slow or down the buffer keeps the newest ``max_buffer`` ticks and counts
    the ones it had to discard.
    """

    def __init__(self, pool: Any, *, interval: float = 1.0, max_buffer: int = 100_000) -> None:
        self._pool = pool
        self._interval = interval
        # Quotes as written; turned into rows at flush time, off the per-tick path.
        self._buffer: deque[PricedQuote] = deque(maxlen=max_buffer)
        self._task: asyncio.Task[None] | None = None

    def add(self, quote: PricedQuote) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            metrics.TICKS_STORE_DROPPED.inc()
        self._buffer.append(quote)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="quotes-tick-store")

    async def stop(self) -> None:
        """Stop the flusher and write what is still buffered."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def flush(self) -> int:
        if not self._buffer:
            return 0
        quotes = list(self._buffer)
        self._buffer.clear()
        rows: list[repository.TickRow] = [
            (ms_to_datetime(q.ts_ms), q.symbol, q.bid, q.ask, q.sources) for q in quotes
        ]
        try:
            await repository.insert_ticks(self._pool, rows)
        except Exception as exc:
            # Put them back (oldest first) unless newer ticks have filled the buffer meanwhile.
            room = max(0, (self._buffer.maxlen or 0) - len(self._buffer))
            kept = quotes[len(quotes) - room :] if room else []
            self._buffer.extendleft(reversed(kept))
            metrics.TICKS_STORE_DROPPED.inc(len(rows) - len(kept))
            log.warning("tick_store_failed", rows=len(rows), error=str(exc))
            return 0
        metrics.TICKS_STORED.inc(len(rows))
        return len(rows)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.flush()
