"""Use cases of the market history: stored ticks and candles (the current candle live).

A client group with its own markup on a symbol (``quotes.group_markups``) has ticks and candles of
its own price; asked for a group without one on the symbol (or for none), the default price's are
answered. Which one is decided by the markups in force now: a group whose markup was removed reads
the default history again (its own rows stay until retention drops them).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from fxmesh.db import Pool
from fxmesh.errors import InvalidArgument, NotFound
from fxmesh.reasons import Reason
from quotes import repository
from quotes.candles import Candle, Timeframe, merge_live, rollup
from quotes.domain import SymbolSettings
from quotes.repository import DEFAULT_GROUP, KIND_CLIENT, TickRow, datetime_ms
from quotes.tickstore import TickStore

DEFAULT_LIMIT = 500
"""Ticks or candles answered when the request gives no limit."""
MAX_LIMIT = 5000
"""The most ticks or candles one request may ask for (more: INVALID_ARGUMENT LIMIT_OUT_OF_RANGE)."""


class MarketHistory:
    """Read ticks and candles of configured symbols."""

    def __init__(
        self,
        pool: Pool,
        settings_of: Callable[[str], SymbolSettings | None],
        store: TickStore | None,
        *,
        has_own_markup: Callable[[str, str], bool] | None = None,
    ) -> None:
        self._pool = pool
        self._settings_of = settings_of
        self._store = store
        self._has_own_markup = has_own_markup

    def price_of(self, symbol: str, group: str) -> str:
        """The client group whose history ``group``'s clients see on ``symbol``: ``group`` when it
        has its own markup there, else "" (the default price)."""
        group = group.strip()
        symbol = symbol.strip().upper()
        if group and self._has_own_markup is not None and self._has_own_markup(group, symbol):
            return group
        return DEFAULT_GROUP

    def _symbol(self, symbol: str) -> str:
        symbol = symbol.strip().upper()
        if not symbol:
            raise InvalidArgument(
                "symbol is required", reason=Reason.MISSING_FIELD, metadata={"field": "symbol"}
            )
        if self._settings_of(symbol) is None:
            raise NotFound(
                f"unknown symbol {symbol}",
                reason=Reason.UNKNOWN_SYMBOL,
                metadata={"symbol": symbol},
            )
        return symbol

    async def ticks(
        self,
        symbol: str,
        *,
        kind: str = KIND_CLIENT,
        group: str = DEFAULT_GROUP,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 0,
    ) -> list[TickRow]:
        """Stored ticks of ``symbol`` in ``[start, end)``, the newest ``limit``, newest first;
        client ticks of ``group``'s stored price (resolve a caller's group with ``price_of``)."""
        symbol = self._symbol(symbol)
        limit = _limit(limit)
        _check_range(start, end)
        return await repository.fetch_ticks(
            self._pool,
            symbol,
            kind=kind,
            group=group,
            start=start,
            end=end,
            limit=limit,
        )

    async def candles(
        self,
        symbol: str,
        timeframe: Timeframe | None,
        *,
        group: str = DEFAULT_GROUP,
        start: datetime | None = None,
        end: datetime | None = None,
        limit: int = 0,
    ) -> list[Candle]:
        """Candles of ``group``'s stored price (resolve a caller's group with ``price_of``) of
        ``symbol`` starting in ``[start, end)``:
        the newest ``limit``, oldest first, the ticks not stored yet included (the current candle
        is live)."""
        if timeframe is None:
            raise InvalidArgument(
                "timeframe is required",
                reason=Reason.INVALID_TIMEFRAME,
                metadata={"valid": ",".join(t.value for t in Timeframe)},
            )
        symbol = self._symbol(symbol)
        limit = _limit(limit)
        _check_range(start, end)
        if self._store is None:
            return await repository.fetch_candles(
                self._pool, symbol, timeframe, group=group, start=start, end=end, limit=limit
            )
        async with self._store.reading():
            stored = await repository.fetch_candles(
                self._pool, symbol, timeframe, group=group, start=start, end=end, limit=limit
            )
            minutes = self._store.pending_minutes(symbol, group)
        pending = minutes if timeframe is Timeframe.M1 else rollup(minutes, timeframe)
        return merge_live(
            stored,
            pending,
            limit=limit,
            start_ms=datetime_ms(start) if start is not None else None,
            end_ms=datetime_ms(end) if end is not None else None,
        )


def _limit(limit: int) -> int:
    if limit == 0:
        return DEFAULT_LIMIT
    if not 0 < limit <= MAX_LIMIT:
        raise InvalidArgument(
            f"limit must be between 1 and {MAX_LIMIT}",
            reason=Reason.LIMIT_OUT_OF_RANGE,
            metadata={"max": str(MAX_LIMIT)},
        )
    return limit


def _check_range(start: datetime | None, end: datetime | None) -> None:
    if start is not None and end is not None and start >= end:
        raise InvalidArgument(
            "from_time must be before to_time",
            reason="INVALID_RANGE",
            metadata={"field": "from_time"},
        )
