"""Tick history and candles on a real PostgreSQL: batch writes into day partitions, retention by
dropping partitions, candles maintained with the ticks, the 500-candle read, rebuild from ticks.

Each test writes its own symbol's ticks in its own days, so the tests share the session's database
without seeing each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from fxmesh.db import create_pool
from quotes import rebuild, repository
from quotes.candles import TIMEFRAMES, Candle, Timeframe, build_candles
from quotes.domain import Markup, PricedQuote, RawTick, SymbolSettings
from quotes.history import MarketHistory
from quotes.repository import datetime_ms, ms_datetime
from quotes.tickstore import TickStore

SYMBOL = "TSTSTORE"
DIGITS = 5


@pytest.fixture(scope="module")
async def pool(pg_dsn: str) -> AsyncIterator[Any]:
    db = await create_pool(pg_dsn, "quotes-history-test")
    await db.execute(
        """
        INSERT INTO quotes.symbol_settings (symbol, digits, max_spread_points)
        VALUES ($1, $2, 100) ON CONFLICT (symbol) DO NOTHING
        """,
        SYMBOL,
        DIGITS,
    )
    yield db
    await db.close()


def ms(text: str) -> int:
    return datetime_ms(datetime.fromisoformat(text).replace(tzinfo=UTC))


def store_at(pool: Any, now: str, **kwargs: Any) -> TickStore:
    now_ms = ms(now)
    return TickStore(pool, lambda s: DIGITS, clock=lambda: now_ms, retention_days=0, **kwargs)


def quote(ts_ms: int, bid: str, ask: str, symbol: str = SYMBOL) -> PricedQuote:
    return PricedQuote(symbol, Decimal(bid), Decimal(ask), ts_ms, "LP1")


async def partition_of(pool: Any, symbol: str) -> list[tuple[str, str]]:
    rows = await pool.fetch(
        "SELECT tableoid::regclass::text AS part, kind FROM quotes.ticks WHERE symbol = $1 "
        "ORDER BY time, kind",
        symbol,
    )
    return [(r["part"], r["kind"]) for r in rows]


async def test_flush_when_batch_spans_midnight_then_ticks_copied_into_each_days_partition(
    pool: Any,
) -> None:
    store = store_at(pool, "2024-03-04T12:00:00")
    store.add(quote(ms("2024-03-05T23:59:59.999"), "1.10000", "1.10010", "TSTPART"))
    store.add_raw(RawTick("TSTPART", "1.10005", "1.10008", None, "LP1"), ms("2024-03-06T00:00"))
    store.add(quote(ms("2024-03-06T00:00:00.000"), "1.10001", "1.10011", "TSTPART"))

    stored = await store.flush()

    assert stored == 3
    assert await partition_of(pool, "TSTPART") == [
        ("quotes.ticks_20240305", "CLIENT"),
        ("quotes.ticks_20240306", "CLIENT"),
        ("quotes.ticks_20240306", "RAW"),
    ]


async def test_maintain_when_started_then_partitions_exist_from_yesterday_to_days_ahead(
    pool: Any,
) -> None:
    store = store_at(pool, "2024-04-10T08:00:00", ahead_days=3)

    await store.maintain()

    days = set(await repository.tick_partition_days(pool))
    assert {date(2024, 4, d) for d in range(9, 14)} <= days
    assert date(2024, 4, 14) not in days


async def test_maintain_when_days_past_retention_then_their_partitions_dropped_whole(
    pool: Any,
) -> None:
    # Arrange: three days of ticks; the retention keeps two days back from 2001-01-05.
    old = store_at(pool, "2001-01-01T00:00:00")
    for day in (1, 2, 3):
        old.add(quote(ms(f"2001-01-0{day}T10:00:00"), "1.00000", "1.00010", "TSTRETAIN"))
    await old.flush()
    now_ms = ms("2001-01-05T09:00:00")
    keeper = TickStore(pool, lambda s: DIGITS, clock=lambda: now_ms, retention_days=2)

    # Act
    dropped = await keeper.maintain()

    # Assert: the partitions of Jan 1 and 2 are gone (not emptied row by row), Jan 3 is kept.
    assert dropped == ["ticks_20010101", "ticks_20010102"]
    days = await repository.tick_partition_days(pool)
    assert date(2001, 1, 2) not in days
    assert date(2001, 1, 3) in days
    assert await partition_of(pool, "TSTRETAIN") == [("quotes.ticks_20010103", "CLIENT")]
    # Candles are kept: a chart of last year does not disappear with its ticks.
    candles = await repository.fetch_candles(pool, "TSTRETAIN", Timeframe.D1, limit=10)
    assert len(candles) == 3


def minute_series(start: str, minutes: int) -> list[tuple[int, Decimal, Decimal]]:
    """Two ticks a minute with moving prices, skipping the weekend, deterministic."""
    first = ms(start)
    ticks: list[tuple[int, Decimal, Decimal]] = []
    for n in range(minutes):
        t = first + n * 60_000
        if ms_datetime(t).weekday() == 5:  # Saturday: no ticks
            continue
        for second, wiggle in ((7, n % 13), (41, (n * 7) % 11)):
            bid = Decimal("1.10000") + Decimal(wiggle - 6).scaleb(-DIGITS)
            ask = bid + Decimal(5 + n % 3).scaleb(-DIGITS)
            ticks.append((t + second * 1000, bid, ask))
    return ticks


async def write_series(pool: Any, ticks: list[tuple[int, Decimal, Decimal]], batch: int) -> None:
    store = store_at(pool, "2024-05-01T00:00:00")
    for n in range(0, len(ticks), batch):
        for ts_ms, bid, ask in ticks[n : n + batch]:
            store.add(PricedQuote(SYMBOL, bid, ask, ts_ms, "LP1"))
        await store.flush()


async def stored_candles(pool: Any, timeframe: Timeframe) -> list[Candle]:
    return await repository.fetch_candles(
        pool,
        SYMBOL,
        timeframe,
        start=datetime(2024, 4, 28, tzinfo=UTC),
        end=datetime(2024, 6, 1, tzinfo=UTC),
        limit=5000,
    )


async def test_flush_when_ticks_written_then_every_timeframes_candles_persisted_and_500_read(
    pool: Any,
) -> None:
    # Arrange: Friday 2024-05-03 to Sunday evening, written in uneven batches.
    ticks = minute_series("2024-05-03T12:00:00", 2 * 24 * 60 + 600)
    await write_series(pool, ticks, batch=37)

    # Act / Assert: what is stored equals the candles built from the ticks in one go.
    for timeframe in TIMEFRAMES:
        assert await stored_candles(pool, timeframe) == build_candles(ticks, timeframe, DIGITS)
    newest = await repository.fetch_candles(
        pool, SYMBOL, Timeframe.M1, end=datetime(2024, 6, 1, tzinfo=UTC), limit=500
    )
    assert newest == build_candles(ticks, Timeframe.M1, DIGITS)[-500:]


async def test_candle_read_when_500_asked_then_one_backward_index_scan(pool: Any) -> None:
    async with pool.acquire() as conn:
        plan = await conn.fetch(
            "EXPLAIN (FORMAT TEXT) SELECT time, open, high, low, close, tick_volume, spread "
            "FROM quotes.candles WHERE symbol = $1 AND client_group = '' AND timeframe = $2 "
            "AND time < $3 "
            "ORDER BY time DESC LIMIT 500",
            SYMBOL,
            "1m",
            datetime(2024, 6, 1, tzinfo=UTC),
        )
    text = "\n".join(r[0] for r in plan)
    assert "Index Scan Backward using candles_pkey" in text


async def test_rebuild_candles_when_a_candle_is_damaged_then_rebuilt_equal_to_incremental(
    pool: Any,
) -> None:
    # Arrange: the incremental candles of the previous test's ticks, then a damaged candle.
    before = {tf: await stored_candles(pool, tf) for tf in TIMEFRAMES}
    assert before[Timeframe.M1]
    await pool.execute(
        "UPDATE quotes.candles SET high = 9, tick_volume = 1 "
        "WHERE symbol = $1 AND timeframe = '1h' AND time = '2024-05-03 13:00+00'",
        SYMBOL,
    )
    await pool.execute("DELETE FROM quotes.candles WHERE symbol = $1 AND timeframe = '1w'", SYMBOL)

    # Act
    written = await repository.rebuild_candles(
        pool, SYMBOL, datetime(2024, 5, 3, tzinfo=UTC), datetime(2024, 5, 6, tzinfo=UTC)
    )

    # Assert
    after = {tf: await stored_candles(pool, tf) for tf in TIMEFRAMES}
    assert after == before
    assert written == sum(len(c) for c in before.values())


async def test_rebuild_command_when_run_then_candles_of_the_week_rebuilt_from_ticks(
    pool: Any, pg_dsn: str
) -> None:
    # Arrange: lose the 4h candles of the week of Sunday 2024-04-28 (the series' Friday).
    before = await stored_candles(pool, Timeframe.H4)
    await pool.execute(
        "DELETE FROM quotes.candles WHERE symbol = $1 AND timeframe = '4h' "
        "AND time < '2024-05-05 00:00+00'",
        SYMBOL,
    )

    # Act: a range inside that week rebuilds the whole week.
    written = await rebuild.run([SYMBOL.lower(), "2024-05-04", "2024-05-04T01:00"], dsn=pg_dsn)

    # Assert
    assert written > 0
    assert await stored_candles(pool, Timeframe.H4) == before


async def test_candles_when_ticks_not_flushed_yet_then_current_candle_is_live_and_counted_once(
    pool: Any,
) -> None:
    store = store_at(pool, "2024-05-20T10:00:00")
    settings = SymbolSettings(SYMBOL, DIGITS, Markup(), max_spread_points=100)
    history = MarketHistory(pool, lambda s: settings, store)
    store.add(quote(ms("2024-05-20T10:00:01"), "1.20000", "1.20006"))
    await store.flush()
    store.add(quote(ms("2024-05-20T10:00:30"), "1.20010", "1.20015"))
    store.add(quote(ms("2024-05-20T10:01:00"), "1.19990", "1.19994"))
    window = {"start": datetime(2024, 5, 20, tzinfo=UTC), "end": datetime(2024, 5, 21, tzinfo=UTC)}

    live = await history.candles(SYMBOL, Timeframe.H1, **window)
    await store.flush()
    stored = await history.candles(SYMBOL, Timeframe.H1, **window)

    expected = Candle(
        ms("2024-05-20T10:00"),
        Decimal("1.20000"),
        Decimal("1.20010"),
        Decimal("1.19990"),
        Decimal("1.19990"),
        3,
        4,
    )
    assert live == [expected]
    assert stored == [expected]


async def test_flush_when_partition_was_dropped_meanwhile_then_kept_and_written_next_time(
    pool: Any,
) -> None:
    # Arrange: the store has written to 2000-01-01, then another replica's retention dropped it.
    store = store_at(pool, "2000-01-01T00:00:00")
    store.add(quote(ms("2000-01-01T10:00:00"), "1.30000", "1.30004", "TSTFAIL"))
    assert await store.flush() == 1
    assert await repository.drop_tick_partitions(pool, date(2000, 1, 2)) == ["ticks_20000101"]
    store.add(quote(ms("2000-01-01T10:00:05"), "1.30002", "1.30005", "TSTFAIL"))

    # Act: the first flush fails (no partition), the next one re-creates it and writes.
    failed = await store.flush()
    written = await store.flush()

    # Assert: nothing lost, nothing counted twice in the candle.
    assert (failed, written) == (0, 1)
    assert await partition_of(pool, "TSTFAIL") == [("quotes.ticks_20000101", "CLIENT")]
    candles = await repository.fetch_candles(pool, "TSTFAIL", Timeframe.D1, limit=5)
    assert [(c.open, c.close, c.tick_volume) for c in candles] == [
        (Decimal("1.30000"), Decimal("1.30002"), 2)
    ]


async def test_ticks_when_window_given_then_newest_first_within_it(pool: Any) -> None:
    rows = await repository.fetch_ticks(
        pool,
        SYMBOL,
        start=ms_datetime(ms("2024-05-03T12:00:00")),
        end=ms_datetime(ms("2024-05-03T12:02:00")),
        limit=3,
    )

    assert [r[0] for r in rows] == [
        ms_datetime(ms("2024-05-03T12:01:41")),
        ms_datetime(ms("2024-05-03T12:01:07")),
        ms_datetime(ms("2024-05-03T12:00:41")),
    ]
    assert all(r[2] == "CLIENT" for r in rows)


async def test_maintain_when_group_ticks_past_retention_then_dropped_with_the_default_ones(
    pool: Any,
) -> None:
    # Arrange: a day of the default price and of a group's own price, then one day kept.
    old = store_at(pool, "2002-01-01T00:00:00")
    for day, bid in ((1, "1.00000"), (3, "1.00020")):
        at = ms(f"2002-01-0{day}T10:00:00")
        old.add(quote(at, bid, "1.00040", "TSTGRETAIN"))
        old.add(replace(quote(at, "0.99990", "1.00030", "TSTGRETAIN"), group="tst-vip"))
    await old.flush()
    now_ms = ms("2002-01-05T09:00:00")
    keeper = TickStore(pool, lambda s: DIGITS, clock=lambda: now_ms, retention_days=2)

    # Act
    dropped = await keeper.maintain()

    # Assert: Jan 1's partition went whole, both prices' ticks with it; the candles stay.
    assert "ticks_20020101" in dropped
    rows = await pool.fetch(
        "SELECT client_group, bid FROM quotes.ticks WHERE symbol = 'TSTGRETAIN' "
        "ORDER BY client_group"
    )
    assert [(r["client_group"], r["bid"]) for r in rows] == [
        ("", Decimal("1.00020")),
        ("tst-vip", Decimal("0.99990")),
    ]
    for group in ("", "tst-vip"):
        candles = await repository.fetch_candles(
            pool, "TSTGRETAIN", Timeframe.D1, group=group, limit=10
        )
        assert len(candles) == 2
