"""An LP's book in fixgw: depth from full refreshes, forwarded to quotes only in base units."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from fixgw.domain import BID, OFFER, BookEntry, MarketDataUpdate, TopOfBook

D = Decimal
NOW = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)


def snapshot(*entries: tuple[str, str, str]) -> MarketDataUpdate:
    return MarketDataUpdate(
        lp="LP1",
        full_refresh=True,
        entries=tuple(BookEntry("EURUSD", side, D(px), D(size)) for side, px, size in entries),
        skipped=(),
        lp_time=None,
        received_monotonic=0.0,
    )


THREE_A_SIDE = snapshot(
    (BID, "1.10000", "1"),
    (BID, "1.09990", "15"),
    (BID, "1.09995", "4"),
    (OFFER, "1.10010", "1"),
    (OFFER, "1.10015", "4"),
    (OFFER, "1.10020", "15"),
)


def test_full_refresh_when_three_levels_a_side_then_tick_carries_them_best_first() -> None:
    book = TopOfBook("LP1")

    [tick] = book.apply(THREE_A_SIDE, NOW)

    assert (tick.bid, tick.ask) == (D("1.10000"), D("1.10010"))
    assert [p for p, _ in tick.bid_levels] == [D("1.10000"), D("1.09995"), D("1.09990")]
    assert tick.ask_levels[-1] == (D("1.10020"), D("15"))


def test_lp_counting_lots_when_depth_arrives_then_tick_has_none_but_book_keeps_it() -> None:
    # Its sizes are lots, not base units: quotes and the B-book would misread them.
    book = TopOfBook("LP1", forward_depth=False)

    [tick] = book.apply(THREE_A_SIDE, NOW)

    assert (tick.bid, tick.ask, tick.bid_levels, tick.ask_levels) == (
        D("1.10000"),
        D("1.10010"),
        (),
        (),
    )
    assert sum(n for _, n in book.ask_depth["EURUSD"]) == D(20)  # the A-book still sees 20 lots


def test_incremental_refresh_when_top_moves_then_depth_is_dropped_until_next_snapshot() -> None:
    book = TopOfBook("LP1")
    book.apply(THREE_A_SIDE, NOW)
    moved = MarketDataUpdate(
        "LP1", False, (BookEntry("EURUSD", OFFER, D("1.10012"), None),), (), None, 0.0
    )

    [tick] = book.apply(moved, NOW)

    assert (tick.ask, tick.bid_levels, tick.ask_levels) == (D("1.10012"), (), ())
    assert "EURUSD" not in book.ask_depth
