"""Tick tracking in the quote scenario: which streamed tick a WebSocket frame is, and how late."""

from __future__ import annotations

import json
from decimal import Decimal

from bench.scenarios.quote_ws import CYCLE, MARKUP_BID, StreamClock, TickTracker, lp_price

START = 1_000_000.0  # epoch seconds at which tick FIRST is due
RATE = 1000.0  # one tick per ms: tick g is due at START + (g - FIRST) ms
FIRST = 5000


def _frame(g: int, sent_late_ms: int = 0) -> str:
    lp_bid, lp_ask = lp_price(g)
    client_bid = Decimal(lp_bid) - MARKUP_BID
    ts = round((START + (g - FIRST) / RATE) * 1000) + sent_late_ms  # the LP's SendingTime
    return json.dumps(
        {"type": "tick", "symbol": "EURUSD", "bid": str(client_bid), "ask": lp_ask, "ts": ts}
    )


def _tracker(clients: int) -> TickTracker:
    tracker = TickTracker(clients)
    tracker.begin(StreamClock(FIRST, START, RATE), FIRST, FIRST + 100_000)
    tracker._epoch_offset = 0.0  # arrival times below are epoch seconds already
    return tracker


def _due(g: int) -> float:
    return START + (g - FIRST) / RATE


def test_frame_when_client_gets_every_tick_then_each_timed_from_its_due_time() -> None:
    tracker = _tracker(1)

    for g in range(FIRST, FIRST + 3):
        tracker.on_frame(0, _frame(g), at=_due(g) + 0.004)

    summary = tracker.every.latencies().summary()
    assert summary["count"] == 3
    assert abs(summary["max"] - 4.0) < 0.01
    assert tracker.conflated == 0
    assert tracker.frames_measured == 3
    assert tracker.undelivered(FIRST + 2) == 0


def test_frame_when_edge_conflates_ticks_then_skipped_ones_count_until_the_newer_arrives() -> None:
    tracker = _tracker(1)

    tracker.on_frame(0, _frame(FIRST), at=_due(FIRST) + 0.001)
    tracker.on_frame(0, _frame(FIRST + 3), at=_due(FIRST + 3) + 0.002)  # 1 and 2 were replaced

    assert tracker.every.count == 4
    assert tracker.conflated == 2
    # tick FIRST+1: due 1 ms after FIRST, seen with FIRST+3 (due +3 ms, arrived 2 ms later)
    assert abs(tracker.every.latencies().summary()["max"] - 4.0) < 0.01


def test_frame_when_prices_wrap_around_the_cycle_then_the_quote_time_picks_the_tick() -> None:
    tracker = _tracker(1)
    g = FIRST + CYCLE + 5  # same price as FIRST + 5, one cycle (1 s at this rate) later
    tracker.seen[0] = g - 1

    tracker.on_frame(0, _frame(g, sent_late_ms=30), at=_due(g) + 0.040)

    assert tracker.seen[0] == g
    assert abs(tracker.since_quote_ts.latencies().summary()["max"] - 10.0) < 0.01


def test_frame_when_simulator_resends_the_same_price_then_duplicate_not_timed() -> None:
    tracker = _tracker(2)

    tracker.on_frame(0, _frame(FIRST), at=_due(FIRST) + 0.5)
    tracker.on_frame(0, _frame(FIRST), at=_due(FIRST) + 1.5)
    tracker.on_frame(1, _frame(FIRST), at=_due(FIRST) + 0.7)

    assert tracker.duplicates == 1
    assert tracker.every.count == 2
    assert tracker.last_client.count == 1  # the tick reached both clients once


def test_frame_when_it_belongs_to_an_earlier_step_then_ignored() -> None:
    tracker = _tracker(1)

    tracker.on_frame(0, _frame(FIRST - 1), at=_due(FIRST))

    assert tracker.seen[0] == FIRST - 1
    assert tracker.every.count == 0
    assert tracker.duplicates == 0


def test_undelivered_when_a_client_is_behind_then_counts_its_missing_ticks() -> None:
    tracker = _tracker(2)

    tracker.on_frame(0, _frame(FIRST + 4), at=_due(FIRST + 4))
    tracker.on_frame(1, _frame(FIRST + 2), at=_due(FIRST + 2))

    assert tracker.undelivered(FIRST + 4) == 2


def test_frame_when_price_is_not_from_the_stream_then_ignored() -> None:
    tracker = _tracker(1)
    # The quote a client gets on subscribing: some earlier price, stamped before the stream.
    foreign = json.dumps(
        {"type": "tick", "symbol": "EURUSD", "bid": "1.08123", "ask": "1.08140", "ts": 999_000}
    )

    tracker.on_frame(0, foreign, at=START + 0.001)

    assert tracker.seen[0] == FIRST - 1
    assert tracker.every.count == 0
