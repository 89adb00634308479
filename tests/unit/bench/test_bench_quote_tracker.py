"""Tick tracking in the quote scenario: which pinned tick a WebSocket frame is, and how late."""

from __future__ import annotations

import json
from decimal import Decimal

from bench.scenarios.quote_ws import CYCLE, MARKUP_BID, TickTracker, lp_price


def _frame(g: int) -> str:
    lp_bid, lp_ask = lp_price(g)
    client_bid = Decimal(lp_bid) - MARKUP_BID
    return json.dumps(
        {"type": "tick", "symbol": "EURUSD", "bid": str(client_bid), "ask": lp_ask, "ts": 1}
    )


def _tracker(clients: int, sent: range) -> TickTracker:
    tracker = TickTracker(clients)
    tracker.measure_from, tracker.measure_to = 0, 1 << 40
    for g in sent:
        tracker.sent(g, scheduled=float(g))
    return tracker


def test_frame_when_client_gets_every_tick_then_each_timed_from_its_own_schedule() -> None:
    tracker = _tracker(1, range(3))

    for g in range(3):
        tracker.on_frame(0, _frame(g), at=g + 0.004)

    summary = tracker.every.summary()
    assert summary["count"] == 3
    assert abs(summary["max"] - 4.0) < 0.01
    assert tracker.conflated == 0
    assert tracker.undelivered(2) == 0


def test_frame_when_edge_conflates_ticks_then_skipped_ones_count_until_the_newer_arrives() -> None:
    tracker = _tracker(1, range(4))

    tracker.on_frame(0, _frame(0), at=0.001)
    tracker.on_frame(0, _frame(3), at=3.002)  # ticks 1 and 2 were replaced by 3

    assert tracker.every.count == 4
    assert tracker.conflated == 2
    assert abs(tracker.every.summary()["max"] - 2002.0) < 3  # tick 1: scheduled 1.0, seen 3.002


def test_frame_when_prices_wrap_around_the_cycle_then_mapped_to_the_newest_tick() -> None:
    last = CYCLE + 5
    tracker = _tracker(1, range(last + 1))
    tracker.seen[0] = last - 1

    tracker.on_frame(0, _frame(last), at=float(last))

    assert tracker.seen[0] == last


def test_frame_when_simulator_resends_the_same_price_then_duplicate_not_timed() -> None:
    tracker = _tracker(2, range(1))

    tracker.on_frame(0, _frame(0), at=0.5)
    tracker.on_frame(0, _frame(0), at=1.5)
    tracker.on_frame(1, _frame(0), at=0.7)

    assert tracker.duplicates == 1
    assert tracker.every.count == 2
    assert tracker.last_client.count == 1  # tick 0 reached both clients once


def test_undelivered_when_a_client_is_behind_then_counts_its_missing_ticks() -> None:
    tracker = _tracker(2, range(5))

    tracker.on_frame(0, _frame(4), at=4.1)
    tracker.on_frame(1, _frame(2), at=2.1)

    assert tracker.undelivered(4) == 2
