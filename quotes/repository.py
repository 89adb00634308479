"""SQL of the quotes schema."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from quotes.candles import Candle, Timeframe
from quotes.domain import GroupMarkup, Markup, MarkupUnit, SymbolSettings

KIND_CLIENT = "CLIENT"
KIND_RAW = "RAW"
DEFAULT_GROUP = ""
"""``client_group`` of the default price's ticks and candles (and of every RAW tick)."""
TickRow = tuple[datetime, str, str, str, Decimal, Decimal, str]
"""(time, symbol, kind, source, bid, ask, client_group): a row of ``quotes.ticks``."""
CandleKey = tuple[str, str, Timeframe]
"""(client group, symbol, timeframe); "" the default price."""


async def load_symbol_settings(db: Any) -> list[SymbolSettings]:
    """Every symbol's pricing settings (``db``: a pool or a connection)."""
    rows = await db.fetch(
        """
        SELECT symbol, digits, markup_bid_points, markup_ask_points, max_spread_points,
               spike_threshold_pct, stale_after_ms, enabled
        FROM quotes.symbol_settings
        """
    )
    return [
        SymbolSettings(
            symbol=r["symbol"],
            digits=r["digits"],
            markup=Markup(r["markup_bid_points"], r["markup_ask_points"]),
            max_spread_points=r["max_spread_points"],
            spike_threshold_pct=r["spike_threshold_pct"],
            stale_after_ms=r["stale_after_ms"],
            enabled=r["enabled"],
        )
        for r in rows
    ]


GroupMarkupRow = tuple[str, str, GroupMarkup, datetime]
"""(client group, symbol, markup, updated_at): a row of ``quotes.group_markups``."""

_GROUP_MARKUP_COLUMNS = (
    "client_group, symbol, unit, markup_bid, markup_ask, min_spread_points, updated_at"
)


def _group_markup_row(r: Any) -> GroupMarkupRow:
    markup = GroupMarkup(
        r["markup_bid"], r["markup_ask"], MarkupUnit(r["unit"]), r["min_spread_points"]
    )
    return r["client_group"], r["symbol"], markup, r["updated_at"]


async def load_group_markups(
    db: Any, *, group: str | None = None, symbol: str | None = None
) -> list[GroupMarkupRow]:
    """The groups' own markups (optionally of one group and / or symbol), by group and symbol."""
    rows = await db.fetch(
        f"SELECT {_GROUP_MARKUP_COLUMNS} FROM quotes.group_markups "
        "WHERE ($1::text IS NULL OR client_group = $1) AND ($2::text IS NULL OR symbol = $2) "
        "ORDER BY client_group, symbol",
        group,
        symbol,
    )
    return [_group_markup_row(r) for r in rows]


async def upsert_group_markup(
    db: Any, group: str, symbol: str, markup: GroupMarkup
) -> tuple[GroupMarkupRow | None, GroupMarkupRow]:
    """Insert or replace a group's markup on a symbol; returns (before, after) in one
    transaction (before None when the group had none)."""
    async with db.acquire() as conn, conn.transaction():
        old = await conn.fetchrow(
            f"SELECT {_GROUP_MARKUP_COLUMNS} FROM quotes.group_markups "
            "WHERE client_group = $1 AND symbol = $2 FOR UPDATE",
            group,
            symbol,
        )
        new = await conn.fetchrow(
            "INSERT INTO quotes.group_markups AS g (client_group, symbol, unit, markup_bid, "
            "markup_ask, min_spread_points) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (client_group, symbol) DO UPDATE SET unit = EXCLUDED.unit, "
            "markup_bid = EXCLUDED.markup_bid, markup_ask = EXCLUDED.markup_ask, "
            "min_spread_points = EXCLUDED.min_spread_points "
            f"RETURNING {_GROUP_MARKUP_COLUMNS}",
            group,
            symbol,
            markup.unit.value,
            markup.bid,
            markup.ask,
            markup.min_spread_points,
        )
    return (_group_markup_row(old) if old is not None else None), _group_markup_row(new)


async def delete_group_markup(db: Any, group: str, symbol: str) -> GroupMarkupRow | None:
    """Delete a group's markup on a symbol; the deleted row, None when there was none."""
    row = await db.fetchrow(
        f"DELETE FROM quotes.group_markups WHERE client_group = $1 AND symbol = $2 "
        f"RETURNING {_GROUP_MARKUP_COLUMNS}",
        group,
        symbol,
    )
    return _group_markup_row(row) if row is not None else None


async def ensure_tick_partitions(db: Any, days: Iterable[date]) -> list[date]:
    """Create the missing ``quotes.ticks`` partitions of ``days``; return the days created."""
    rows = await db.fetch(
        "SELECT day FROM unnest($1::date[]) AS day WHERE quotes.ensure_tick_partition(day)",
        sorted(set(days)),
    )
    return [r["day"] for r in rows]


async def drop_tick_partitions(db: Any, before: date) -> list[str]:
    """Drop every day partition of ``quotes.ticks`` for a day before ``before``; return names."""
    rows = await db.fetch("SELECT quotes.drop_tick_partitions($1) AS name", before)
    return [r["name"] for r in rows]


async def tick_partition_days(db: Any) -> list[date]:
    """The days ``quotes.ticks`` has a partition for, oldest first."""
    rows = await db.fetch(
        """
        SELECT to_date(substr(c.relname, 7), 'YYYYMMDD') AS day
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'quotes.ticks'::regclass AND c.relname ~ '^ticks_[0-9]{8}$'
        ORDER BY 1
        """
    )
    return [r["day"] for r in rows]


_UPSERT_CANDLES = """
INSERT INTO quotes.candles AS c
    (symbol, client_group, timeframe, time, open, high, low, close, tick_volume, spread)
SELECT * FROM unnest(
    $1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::numeric[], $6::numeric[],
    $7::numeric[], $8::numeric[], $9::bigint[], $10::integer[])
ON CONFLICT (symbol, client_group, timeframe, time) DO UPDATE SET
    high = GREATEST(c.high, EXCLUDED.high),
    low = LEAST(c.low, EXCLUDED.low),
    close = EXCLUDED.close,
    tick_volume = c.tick_volume + EXCLUDED.tick_volume,
    spread = LEAST(c.spread, EXCLUDED.spread)
"""


def ms_datetime(ts_ms: int) -> datetime:
    """Epoch milliseconds as an aware UTC datetime (exact, no float)."""
    seconds, millis = divmod(ts_ms, 1000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=millis * 1000)


def datetime_ms(moment: datetime) -> int:
    """An aware datetime as epoch milliseconds (exact)."""
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def write_ticks(
    db: Any, ticks: Sequence[TickRow], candles: dict[CandleKey, list[Candle]]
) -> None:
    """COPY ``ticks`` and add ``candles`` (partial candles of those ticks) to the stored ones, in
    one transaction: stored candles always agree with stored ticks.

    The partitions of the ticks' days must exist (``ensure_tick_partitions``).
    """
    columns: list[list[Any]] = [[] for _ in range(10)]
    for (group, symbol, timeframe), bars in candles.items():
        for bar in bars:
            for column, value in zip(
                columns,
                (
                    symbol,
                    group,
                    timeframe.value,
                    ms_datetime(bar.start_ms),
                    bar.open,
                    bar.high,
                    bar.low,
                    bar.close,
                    bar.tick_volume,
                    bar.spread,
                ),
                strict=True,
            ):
                column.append(value)
    async with db.acquire() as conn, conn.transaction():
        if ticks:
            await conn.copy_records_to_table(
                "ticks",
                schema_name="quotes",
                columns=["time", "symbol", "kind", "source", "bid", "ask", "client_group"],
                records=ticks,
            )
        if columns[0]:
            await conn.execute(_UPSERT_CANDLES, *columns)


async def fetch_ticks(
    db: Any,
    symbol: str,
    *,
    kind: str = KIND_CLIENT,
    group: str = DEFAULT_GROUP,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int,
) -> list[TickRow]:
    """Ticks of ``symbol`` (client ticks: of ``group``'s price) in ``[start, end)``, the newest
    ``limit``, newest first."""
    conditions = ["symbol = $1", "kind = $2", "client_group = $3"]
    args: list[Any] = [symbol, kind, group if kind == KIND_CLIENT else DEFAULT_GROUP]
    if start is not None:
        args.append(start)
        conditions.append(f"time >= ${len(args)}")
    if end is not None:
        args.append(end)
        conditions.append(f"time < ${len(args)}")
    args.append(limit)
    rows = await db.fetch(
        f"SELECT time, symbol, kind, source, bid, ask, client_group FROM quotes.ticks "
        f"WHERE {' AND '.join(conditions)} ORDER BY time DESC LIMIT ${len(args)}",
        *args,
    )
    return [tuple(r) for r in rows]


async def fetch_candles(
    db: Any,
    symbol: str,
    timeframe: Timeframe,
    *,
    group: str = DEFAULT_GROUP,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int,
) -> list[Candle]:
    """Stored candles of ``group``'s price of ``symbol`` starting in ``[start, end)``: the newest
    ``limit``, oldest first (one backward scan of the primary key)."""
    conditions = ["symbol = $1", "client_group = $2", "timeframe = $3"]
    args: list[Any] = [symbol, group, timeframe.value]
    if start is not None:
        args.append(start)
        conditions.append(f"time >= ${len(args)}")
    if end is not None:
        args.append(end)
        conditions.append(f"time < ${len(args)}")
    args.append(limit)
    rows = await db.fetch(
        f"SELECT time, open, high, low, close, tick_volume, spread FROM quotes.candles "
        f"WHERE {' AND '.join(conditions)} ORDER BY time DESC LIMIT ${len(args)}",
        *args,
    )
    return [
        Candle(
            datetime_ms(r["time"]),
            r["open"],
            r["high"],
            r["low"],
            r["close"],
            r["tick_volume"],
            r["spread"],
        )
        for r in reversed(rows)
    ]


async def rebuild_candles(db: Any, symbol: str, start: datetime, end: datetime) -> int:
    """Rebuild ``symbol``'s candles (the default price's and every group's) of the whole weeks
    around ``[start, end)`` from the stored client ticks (repair); returns the number of candles
    written."""
    count: int = await db.fetchval("SELECT quotes.rebuild_candles($1, $2, $3)", symbol, start, end)
    return count
