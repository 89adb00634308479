"""Candles from a known tick series, against values computed by hand for every timeframe.

The series (EURUSD, 5 digits) crosses the 21:59 minute edge to the millisecond, the 22:00 hour
edge, the Friday-close / Sunday-open weekend gap and the Sunday-to-Monday day edge; weeks start on
Sunday 00:00 UTC, so Sunday evening belongs to the new week.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from quotes.candles import (
    TIMEFRAMES,
    Candle,
    MinuteBook,
    Timeframe,
    bucket_start_ms,
    build_candles,
    merge_live,
    rollup,
    spread_points,
)

DIGITS = 5


def ms(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


# (time, bid, ask); the spread in points is in the comment.
TICKS = [
    (ms("2026-01-02T21:58:59.999"), Decimal("1.08440"), Decimal("1.08450")),  # Fri, 10
    (ms("2026-01-02T21:59:00.000"), Decimal("1.08460"), Decimal("1.08468")),  # 8
    (ms("2026-01-02T21:59:30.000"), Decimal("1.08420"), Decimal("1.08432")),  # 12
    (ms("2026-01-02T21:59:59.999"), Decimal("1.08450"), Decimal("1.08459")),  # 9
    (ms("2026-01-02T22:00:00.000"), Decimal("1.08470"), Decimal("1.08480")),  # 10
    (ms("2026-01-04T22:00:00.000"), Decimal("1.08300"), Decimal("1.08320")),  # Sun, 20
    (ms("2026-01-04T23:59:59.999"), Decimal("1.08350"), Decimal("1.08365")),  # 15
    (ms("2026-01-05T00:00:00.000"), Decimal("1.08340"), Decimal("1.08346")),  # Mon, 6
]


def bar(start: str, o: str, h: str, low: str, c: str, volume: int, spread: int) -> Candle:
    return Candle(ms(start), Decimal(o), Decimal(h), Decimal(low), Decimal(c), volume, spread)


FRI_EDGE = ("1.08440", "1.08460", "1.08420", "1.08450", 4, 8)  # ticks 1-4
T5 = ("1.08470", "1.08470", "1.08470", "1.08470", 1, 10)
T6 = ("1.08300", "1.08300", "1.08300", "1.08300", 1, 20)
T7 = ("1.08350", "1.08350", "1.08350", "1.08350", 1, 15)
T8 = ("1.08340", "1.08340", "1.08340", "1.08340", 1, 6)
FRI_ALL = ("1.08440", "1.08470", "1.08420", "1.08470", 5, 8)  # ticks 1-5
SUNDAY = ("1.08300", "1.08350", "1.08300", "1.08350", 2, 15)  # ticks 6-7

EXPECTED = {
    Timeframe.M1: [
        bar("2026-01-02T21:58", "1.08440", "1.08440", "1.08440", "1.08440", 1, 10),
        bar("2026-01-02T21:59", "1.08460", "1.08460", "1.08420", "1.08450", 3, 8),
        bar("2026-01-02T22:00", *T5),
        bar("2026-01-04T22:00", *T6),
        bar("2026-01-04T23:59", *T7),
        bar("2026-01-05T00:00", *T8),
    ],
    Timeframe.M5: [
        bar("2026-01-02T21:55", *FRI_EDGE),
        bar("2026-01-02T22:00", *T5),
        bar("2026-01-04T22:00", *T6),
        bar("2026-01-04T23:55", *T7),
        bar("2026-01-05T00:00", *T8),
    ],
    Timeframe.M15: [
        bar("2026-01-02T21:45", *FRI_EDGE),
        bar("2026-01-02T22:00", *T5),
        bar("2026-01-04T22:00", *T6),
        bar("2026-01-04T23:45", *T7),
        bar("2026-01-05T00:00", *T8),
    ],
    Timeframe.M30: [
        bar("2026-01-02T21:30", *FRI_EDGE),
        bar("2026-01-02T22:00", *T5),
        bar("2026-01-04T22:00", *T6),
        bar("2026-01-04T23:30", *T7),
        bar("2026-01-05T00:00", *T8),
    ],
    Timeframe.H1: [
        bar("2026-01-02T21:00", *FRI_EDGE),
        bar("2026-01-02T22:00", *T5),
        bar("2026-01-04T22:00", *T6),
        bar("2026-01-04T23:00", *T7),
        bar("2026-01-05T00:00", *T8),
    ],
    Timeframe.H4: [
        bar("2026-01-02T20:00", *FRI_ALL),
        bar("2026-01-04T20:00", *SUNDAY),
        bar("2026-01-05T00:00", *T8),
    ],
    Timeframe.D1: [
        bar("2026-01-02T00:00", *FRI_ALL),
        bar("2026-01-04T00:00", *SUNDAY),
        bar("2026-01-05T00:00", *T8),
    ],
    Timeframe.W1: [
        bar("2025-12-28T00:00", *FRI_ALL),
        bar("2026-01-04T00:00", "1.08300", "1.08350", "1.08300", "1.08340", 3, 6),
    ],
}


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_build_candles_when_series_crosses_edges_and_weekend_then_matches_hand_values(
    timeframe: Timeframe,
) -> None:
    candles = build_candles(TICKS, timeframe, DIGITS)

    assert candles == EXPECTED[timeframe]


@pytest.mark.parametrize("timeframe", TIMEFRAMES)
def test_minute_book_rolled_up_when_ticks_arrive_in_batches_then_equals_direct_build(
    timeframe: Timeframe,
) -> None:
    # Arrange: the store flushes at arbitrary points; each batch's candles add to the stored ones.
    stored: dict[int, Candle] = {}
    for batch in (TICKS[:2], TICKS[2:5], TICKS[5:6], TICKS[6:]):
        book = MinuteBook()
        for ts_ms, bid, ask in batch:
            book.add("EURUSD", ts_ms, bid, spread_points(bid, ask, DIGITS))
        minutes = book.take()[("", "EURUSD")]
        partial = minutes if timeframe is Timeframe.M1 else rollup(minutes, timeframe)
        # Act: what the upsert does.
        for candle in partial:
            current = stored.get(candle.start_ms)
            stored[candle.start_ms] = candle if current is None else current.merged(candle)

    assert [stored[k] for k in sorted(stored)] == EXPECTED[timeframe]


def test_bucket_start_when_week_then_sunday_midnight_utc() -> None:
    assert bucket_start_ms(ms("2026-01-03T12:00"), Timeframe.W1) == ms("2025-12-28T00:00")
    assert bucket_start_ms(ms("2026-01-04T00:00"), Timeframe.W1) == ms("2026-01-04T00:00")
    assert bucket_start_ms(ms("2026-01-03T23:59:59.999"), Timeframe.H4) == ms("2026-01-03T20:00")
    assert bucket_start_ms(ms("1969-12-31T23:59:59.999"), Timeframe.D1) == ms("1969-12-31T00:00")


def test_spread_points_when_jpy_and_gold_then_counts_points_of_the_digits() -> None:
    assert spread_points(Decimal("151.493"), Decimal("151.506"), 3) == 13
    assert spread_points(Decimal("2649.80"), Decimal("2650.20"), 2) == 40


def test_minute_book_when_write_failed_and_ticks_arrived_since_then_put_back_ahead_of_them() -> (
    None
):
    book = MinuteBook()
    first, second = TICKS[1], TICKS[2]  # the same minute
    book.add("EURUSD", first[0], first[1], 8)
    taken = book.take()
    book.add("EURUSD", second[0], second[1], 12)

    book.put_back(taken)

    assert book.minutes("EURUSD") == [
        bar("2026-01-02T21:59", "1.08460", "1.08460", "1.08420", "1.08420", 2, 8)
    ]


def test_merge_live_when_current_candle_pending_then_added_to_stored_and_limit_kept() -> None:
    stored = EXPECTED[Timeframe.M1][:2]
    pending = [
        bar("2026-01-02T21:59", "1.08400", "1.08490", "1.08400", "1.08480", 2, 7),
        bar("2026-01-02T22:00", *T5),
    ]

    candles = merge_live(stored, pending, limit=2)

    assert candles == [
        bar("2026-01-02T21:59", "1.08460", "1.08490", "1.08400", "1.08480", 5, 7),
        bar("2026-01-02T22:00", *T5),
    ]


def test_merge_live_when_pending_outside_window_then_left_out() -> None:
    pending = [bar("2026-01-02T22:00", *T5)]

    assert merge_live([], pending, limit=5, end_ms=ms("2026-01-02T22:00")) == []
    assert merge_live([], pending, limit=5, start_ms=ms("2026-01-02T22:01")) == []
    assert merge_live([], pending, limit=5, start_ms=ms("2026-01-02T22:00")) == pending


def test_minute_book_when_group_price_counted_then_its_candles_apart_from_the_default() -> None:
    book = MinuteBook()
    at = TICKS[1][0]
    book.add("EURUSD", at, Decimal("1.08460"), 8)
    book.add("EURUSD", at, Decimal("1.08455"), 18, "vip")

    taken = book.take()

    assert [(c.open, c.spread) for c in taken[("", "EURUSD")]] == [(Decimal("1.08460"), 8)]
    assert [(c.open, c.spread) for c in taken[("vip", "EURUSD")]] == [(Decimal("1.08455"), 18)]
    assert not book
