"""Use cases: take LP tick batches through the pricing engine to Redis; read the client quote."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from fxmesh.errors import InvalidArgument, NotFound
from fxmesh.quotecache import ClientQuote, read_quote, write_quote
from quotes import metrics
from quotes.domain import PricedQuote, PricingConfig, PricingEngine, RawTick

log = structlog.stdlib.get_logger(__name__)

Clock = Callable[[], int]
"""Epoch milliseconds, UTC."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class TickSink(Protocol):
    """Where written client quotes go for storage (must not block)."""

    def add(self, quote: PricedQuote) -> None: ...


class QuotesService:
    """Validate and aggregate LP ticks, write changed client quotes, serve the current quote."""

    def __init__(
        self,
        engine: PricingEngine,
        redis: Any,
        *,
        clock: Clock = wall_clock_ms,
        refresh_ms: int = 20_000,
        sink: TickSink | None = None,
    ) -> None:
        self.engine = engine
        self._redis = redis
        self._clock = clock
        self._refresh_ms = refresh_ms
        self._sink = sink
        # Last written (bid, ask) and when, per symbol: unchanged quotes are not rewritten.
        self._written: dict[str, tuple[PricedQuote, int]] = {}
        # Computing and writing under one lock keeps Redis in tick order across concurrent streams:
        # whoever writes computes from the newest book state.
        self._write_lock = asyncio.Lock()

    def update_config(self, config: PricingConfig) -> None:
        """Swap in new pricing settings; they apply from the next tick."""
        gone = [
            s
            for s in self.engine.config.symbols
            if (new := config.get(s)) is None or not new.enabled
        ]
        self.engine.config = config
        self.engine.forget(gone)

    async def publish(self, ticks: Iterable[RawTick]) -> tuple[int, int]:
        """Process one batch of raw LP ticks; returns (accepted, dropped)."""
        received = time.perf_counter()
        now_ms = self._clock()
        accepted = dropped = 0
        touched: dict[str, None] = {}
        for tick in ticks:
            reason = self.engine.accept(tick, now_ms)
            if reason is None:
                accepted += 1
                touched[tick.symbol] = None
                metrics.TICKS_ACCEPTED.labels(tick.symbol).inc()
            else:
                dropped += 1
                metrics.TICKS_DROPPED.labels(reason.value).inc()
                log.debug(
                    "tick_dropped",
                    reason=reason.value,
                    symbol=tick.symbol,
                    source=tick.source,
                    bid=tick.bid,
                    ask=tick.ask,
                )
        if touched:
            await self._write(touched, received)
        return accepted, dropped

    async def _write(self, symbols: Iterable[str], received: float) -> None:
        async with self._write_lock:
            now_ms = self._clock()
            for symbol in symbols:
                quote = self.engine.client_quote(symbol, now_ms)
                if quote is None:
                    continue
                last = self._written.get(symbol)
                if (
                    last is not None
                    and (last[0].bid, last[0].ask) == (quote.bid, quote.ask)
                    and now_ms - last[1] < self._refresh_ms
                ):
                    continue
                try:
                    await write_quote(
                        self._redis, ClientQuote(symbol, quote.bid, quote.ask, quote.ts_ms)
                    )
                except Exception as exc:
                    # A Redis outage must not end the LP stream; the next tick retries.
                    metrics.REDIS_ERRORS.inc()
                    self._written.pop(symbol, None)
                    log.warning("quote_write_failed", symbol=symbol, error=str(exc))
                    continue
                self._written[symbol] = (quote, now_ms)
                metrics.TICK_TO_REDIS.observe(time.perf_counter() - received)
                metrics.QUOTES_WRITTEN.labels(symbol).inc()
                if self._sink is not None:
                    self._sink.add(quote)

    async def get_quote(self, symbol: str) -> ClientQuote:
        """The current client quote of a configured symbol."""
        symbol = symbol.strip().upper()
        if not symbol:
            raise InvalidArgument(
                "symbol is required", reason="MISSING_FIELD", metadata={"field": "symbol"}
            )
        if self.engine.config.get(symbol) is None:
            raise InvalidArgument(
                f"unknown symbol {symbol}", reason="UNKNOWN_SYMBOL", metadata={"symbol": symbol}
            )
        quote = await read_quote(self._redis, symbol)
        if quote is None:
            raise NotFound(
                f"no quote for {symbol}",
                reason="QUOTE_NOT_AVAILABLE",
                metadata={"symbol": symbol},
            )
        return quote


def ms_to_datetime(ts_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact, no float)."""
    seconds, millis = divmod(ts_ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)
