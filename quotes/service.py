"""Use cases: take LP tick batches through the pricing engine to Redis; read the client quote."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from redis.asyncio import Redis

from fxmesh.errors import InvalidArgument, NotFound
from fxmesh.quotecache import ClientQuote, quote_channel, read_quote, redis_db
from fxmesh.reasons import Reason
from quotes import metrics
from quotes.domain import PricedQuote, PricingConfig, PricingEngine, RawTick
from quotes.lpstats import FeedStatistics, LpStatistics
from quotes.quotewriter import QuoteWriter

log = structlog.stdlib.get_logger(__name__)
_stdlib_log = logging.getLogger(__name__)  # where ``log`` ends up: asked whether DEBUG is on

Clock = Callable[[], int]
"""Epoch milliseconds, UTC."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class TickSink(Protocol):
    """Where ticks go for storage (must not block)."""

    def add(self, quote: PricedQuote) -> None:
        """A client quote as written to Redis (the default price or a group's own)."""

    def add_raw(self, tick: RawTick, received_ms: int) -> None:
        """An LP tick that passed validation."""


class QuotesService:
    """Validate and aggregate LP ticks, write changed client quotes, serve the current quote."""

    def __init__(
        self,
        engine: PricingEngine,
        redis: Redis,
        *,
        clock: Clock = wall_clock_ms,
        refresh_ms: int = 1_000,
        sink: TickSink | None = None,
    ) -> None:
        self.engine = engine
        self._redis = redis
        self._writer = QuoteWriter(redis)
        self._clock = clock
        self._refresh_ms = refresh_ms
        self._sink = sink
        # Last written quote and when, per (group, symbol) ("" the default price): unchanged
        # quotes are not rewritten.
        self._written: dict[tuple[str, str], tuple[PricedQuote, int]] = {}
        # Group markups removed by a reload whose Redis quotes are still to be deleted.
        self._removed: set[tuple[str, str]] = set()
        self._retiring: asyncio.Task[None] | None = None
        # Computing and writing under one lock keeps Redis in tick order across concurrent streams:
        # whoever writes computes from the newest book state.
        self._write_lock = asyncio.Lock()
        # Labelled metric children per symbol: ``labels()`` is a locked dict lookup per call.
        self._accepted: dict[str, Any] = {}
        self._written_count: dict[str, Any] = {}
        self._lp_ticks: dict[tuple[str, str], Any] = {}
        self._lp_latency: dict[str, Any] = {}
        self.lp_statistics = LpStatistics()
        metrics.LP_STREAMING.watch(self.lp_statistics, clock)

    def update_config(self, config: PricingConfig) -> None:
        """Swap in new pricing settings; they apply from the next tick."""
        gone = [
            s
            for s in self.engine.config.symbols
            if (new := config.get(s)) is None or not new.enabled
        ]
        removed = set(self.engine.config.group_markups) - set(config.group_markups)
        self.engine.config = config
        self.engine.forget(gone)
        if removed:
            self._removed |= removed
            for group, symbol in removed:
                self._written.pop((group, symbol), None)
            with contextlib.suppress(RuntimeError):  # no running loop: the next write does it
                if self._retiring is None or self._retiring.done():
                    self._retiring = asyncio.get_running_loop().create_task(self._retire())

    async def _retire(self) -> None:
        """Delete the Redis quotes of removed group markups now, not at the next tick."""
        async with self._write_lock:
            removed, self._removed = sorted(self._removed), set()
            if not removed:
                return
            try:
                await self._writer.write([], removed)
            except Exception as exc:
                metrics.REDIS_ERRORS.inc()
                self._removed |= set(removed)
                log.warning("group_quote_delete_failed", error=str(exc))

    async def publish(self, ticks: Iterable[RawTick]) -> tuple[int, int]:
        """Process one batch of raw LP ticks; returns (accepted, dropped)."""
        received = time.perf_counter()
        now_ms = self._clock()
        accepted = dropped = 0
        touched: dict[str, None] = {}
        fed: list[RawTick] = []
        stats = self.lp_statistics
        for tick in ticks:
            reason = self.engine.accept(tick, now_ms)
            if reason is None:
                accepted += 1
                touched[tick.symbol] = None
                fed.append(tick)
                counter = self._accepted.get(tick.symbol)
                if counter is None:
                    counter = self._accepted[tick.symbol] = metrics.TICKS_ACCEPTED.labels(
                        tick.symbol
                    )
                counter.inc()
                lp_counter = self._lp_ticks.get((tick.source, tick.symbol))
                if lp_counter is None:
                    lp_counter = self._lp_ticks[(tick.source, tick.symbol)] = (
                        metrics.LP_TICKS.labels(tick.source, tick.symbol)
                    )
                lp_counter.inc()
                stats.accepted(tick.source, tick.symbol, now_ms)
                if self._sink is not None:
                    self._sink.add_raw(tick, now_ms)
            else:
                dropped += 1
                metrics.TICKS_DROPPED.labels(reason.value).inc()
                metrics.LP_TICKS_DROPPED.labels(tick.source, reason.value).inc()
                stats.dropped(tick.source, tick.symbol, reason.value, now_ms)
                # structlog runs its whole processor chain before stdlib drops a debug line.
                if _stdlib_log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "tick_dropped",
                        reason=reason.value,
                        symbol=tick.symbol,
                        source=tick.source,
                        bid=tick.bid,
                        ask=tick.ask,
                    )
        if touched:
            written = await self._write(touched, received)
            if written:
                self._published(fed, written, now_ms)
        return accepted, dropped

    def _published(self, fed: list[RawTick], written: set[str], received_ms: int) -> None:
        """Quote latency of the ticks whose symbol's client quote was just written."""
        now_ms = self._clock()
        for tick in fed:
            if tick.symbol in written:
                sent_ms = tick.ts_ms if tick.ts_ms is not None else received_ms
                self.lp_statistics.published(tick.source, tick.symbol, sent_ms, now_ms)
                histogram = self._lp_latency.get(tick.source)
                if histogram is None:
                    histogram = self._lp_latency[tick.source] = metrics.LP_QUOTE_LATENCY.labels(
                        tick.source
                    )
                histogram.observe(max(0, now_ms - sent_ms) / 1000)

    def now_ms(self) -> int:
        """The service's clock (epoch milliseconds)."""
        return self._clock()

    def lp_feeds(self, lp: str = "", symbol: str = "") -> list[FeedStatistics]:
        """LP statistics now, per LP and symbol (optionally of one LP and / or one symbol)."""
        return self.lp_statistics.snapshot(self._clock(), lp.strip(), symbol.strip().upper())

    async def _write(self, symbols: Iterable[str], received: float) -> set[str]:
        """Write the changed client quotes of ``symbols`` (the default price and each group's with
        its own markup); the symbols whose default price was written."""
        async with self._write_lock:
            now_ms = self._clock()
            batch: list[PricedQuote] = []
            # Rewrites of an unchanged price (to keep its time fresh, or with new depth behind
            # it) are not new ticks: they are neither stored nor counted in candles.
            refreshed: set[tuple[str, str]] = set()
            config = self.engine.config
            for symbol in symbols:
                for quote in self.engine.client_quotes(
                    symbol, now_ms, ("", *config.groups_of(symbol))
                ):
                    group = quote.group
                    last = self._written.get((group, symbol))
                    if last is not None and (last[0].bid, last[0].ask) == (quote.bid, quote.ask):
                        same_depth = (last[0].bids, last[0].asks) == (quote.bids, quote.asks)
                        if same_depth and now_ms - last[1] < self._refresh_ms:
                            continue
                        refreshed.add((group, symbol))
                    batch.append(quote)
            removed, self._removed = sorted(self._removed), set()
            if not batch and not removed:
                return set()
            try:
                # The batch's (group, symbol) pairs are distinct: one round trip for all.
                await self._writer.write_priced(batch, removed)
            except Exception as exc:
                # A Redis outage must not end the LP stream; the next tick retries.
                metrics.REDIS_ERRORS.inc()
                self._removed |= set(removed)
                for quote in batch:
                    self._written.pop((quote.group, quote.symbol), None)
                log.warning("quote_write_failed", symbols=[q.symbol for q in batch], error=str(exc))
                return set()
            elapsed = time.perf_counter() - received
            written: set[str] = set()
            sink = self._sink
            for quote in batch:
                self._written[(quote.group, quote.symbol)] = (quote, now_ms)
                if quote.group:
                    # A group's own price is stored and charted too, in the same batch
                    # (docs/ARCHITECTURE.md, "Client group prices").
                    if sink is not None and (quote.group, quote.symbol) not in refreshed:
                        sink.add(quote)
                    continue
                metrics.TICK_TO_REDIS.observe(elapsed)
                counter = self._written_count.get(quote.symbol)
                if counter is None:
                    counter = self._written_count[quote.symbol] = metrics.QUOTES_WRITTEN.labels(
                        quote.symbol
                    )
                counter.inc()
                if ("", quote.symbol) not in refreshed:
                    written.add(quote.symbol)
                    if sink is not None:
                        sink.add(quote)
            return written

    async def close(self) -> None:
        """Release the Redis connection the writer holds."""
        if self._retiring is not None:
            self._retiring.cancel()
            with contextlib.suppress(BaseException):
                await self._retiring
        await self._writer.close()

    async def get_quote(self, symbol: str) -> ClientQuote:
        """The current client quote of a configured symbol."""
        symbol = symbol.strip().upper()
        if not symbol:
            raise InvalidArgument(
                "symbol is required", reason=Reason.MISSING_FIELD, metadata={"field": "symbol"}
            )
        if self.engine.config.get(symbol) is None:
            raise InvalidArgument(
                f"unknown symbol {symbol}",
                reason=Reason.UNKNOWN_SYMBOL,
                metadata={"symbol": symbol},
            )
        quote = await read_quote(self._redis, symbol)
        if quote is None:
            raise NotFound(
                f"no quote for {symbol}",
                reason="QUOTE_NOT_AVAILABLE",
                metadata={"symbol": symbol},
            )
        return quote

    async def stream_quotes(self, symbols: Sequence[str]) -> AsyncIterator[ClientQuote]:
        """The current client quote of each symbol (those that have one), then every new one.

        Subscribes before reading the current quotes, so nothing is missed in between; a published
        quote equal to the last one sent for its symbol (the snapshot, seen again) is skipped.
        """
        wanted = list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip()))
        if not wanted:
            raise InvalidArgument(
                "symbols is required", reason=Reason.MISSING_FIELD, metadata={"field": "symbols"}
            )
        if len(wanted) > MAX_STREAM_SYMBOLS:
            raise InvalidArgument(
                f"at most {MAX_STREAM_SYMBOLS} symbols per stream",
                reason="TOO_MANY_SYMBOLS",
                metadata={"max": str(MAX_STREAM_SYMBOLS)},
            )
        for symbol in wanted:
            if self.engine.config.get(symbol) is None:
                raise NotFound(
                    f"unknown symbol {symbol}",
                    reason=Reason.UNKNOWN_SYMBOL,
                    metadata={"symbol": symbol},
                )
        db = redis_db(self._redis)
        pubsub = self._redis.pubsub()
        last: dict[str, ClientQuote] = {}
        try:
            await pubsub.subscribe(*(quote_channel(db, s) for s in wanted))
            for symbol in wanted:
                quote = await read_quote(self._redis, symbol)
                if quote is not None:
                    last[symbol] = quote
                    yield quote
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                quote = ClientQuote.from_json(message["data"])
                if last.get(quote.symbol) == quote:
                    continue
                last[quote.symbol] = quote
                yield quote
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]


MAX_STREAM_SYMBOLS = 200
"""Symbols one StreamQuotes call may ask for."""


def ms_to_datetime(ts_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact, no float)."""
    seconds, millis = divmod(ts_ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)
