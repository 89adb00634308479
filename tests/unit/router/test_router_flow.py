"""The flow figures (``router.flow``): markouts at 1 s, 10 s and 60 s, closed deals, holding times,
latency arbitrage and realized volatility."""

from __future__ import annotations

from decimal import Decimal

from bbook import Side
from router.flow import FlowBook, FlowClose, FlowFill, markout_bps
from router.flowfeed import parse_event

D = Decimal
T0 = 1_700_000_000_000


def test_markout_when_price_moves_the_clients_way_then_positive() -> None:
    assert markout_bps(Side.BUY, D("1.1000"), D("1.1011")) == D("10.00")
    assert markout_bps(Side.SELL, D("1.1000"), D("1.1011")) == D("-10.00")


def test_fill_then_markouts_resolve_as_samples_pass_each_horizon() -> None:
    book = FlowBook()
    book.add_quote("EURUSD", T0 - 250, D("1.1000"))
    book.add_fill(FlowFill("f1", "7", "EURUSD", Side.BUY, D("1.1000"), T0))

    resolved = book.add_quote("EURUSD", T0 + 1_000, D("1.1011"))
    assert resolved == [("f1", 0, D("1.1011"))]
    assert book.trader("7").markout_1s_bps == D("10.00")
    assert book.trader("7").markout_10s_bps is None

    book.add_quote("EURUSD", T0 + 10_000, D("1.0989"))
    book.add_quote("EURUSD", T0 + 60_250, D("1.1000"))

    stats = book.trader("7")
    assert (stats.markout_10s_bps, stats.markout_60s_bps, stats.markout_fills) == (
        D("-10.00"),
        D("0.00"),
        1,
    )
    assert stats.toxicity == D("0.00")
    assert book.pending_count() == 0


def test_late_fill_event_then_markouts_from_the_sampled_history() -> None:
    book = FlowBook()
    for i in range(0, 12_001, 250):
        book.add_quote("EURUSD", T0 + i, D("1.2000") + D(i) / 10_000_000)

    resolved = book.add_fill(FlowFill("f1", "7", "EURUSD", Side.SELL, D("1.2000"), T0))

    assert [(h, mid) for _, h, mid in resolved] == [(0, D("1.2001")), (1, D("1.2010"))]
    assert book.pending_count() == 1  # the 60 s markout is still to come


def test_same_fill_or_close_twice_then_counted_once() -> None:
    book = FlowBook()
    fill = FlowFill("f1", "7", "EURUSD", Side.BUY, D("1"), T0, (D("1.0001"), None, None))
    close = FlowClose("p1", "7", "EURUSD", D("25"), T0, T0 + 1_000)
    for _ in range(2):
        book.add_fill(fill)
        book.add_close(close)

    stats = book.trader("7")
    assert (stats.markout_fills, stats.closed_deals, stats.net_profit) == (1, 1, D("25"))


def test_closed_deals_then_win_rate_holding_and_latency_arbitrage() -> None:
    book = FlowBook()
    book.add_close(FlowClose("p1", "7", "EURUSD", D("10"), T0, T0 + 500))  # arb signature
    book.add_close(FlowClose("p2", "7", "EURUSD", D("-4"), T0, T0 + 1_000))  # quick loss
    book.add_close(FlowClose("p3", "7", "EURUSD", D("6"), T0, T0 + 60_000))
    book.add_close(FlowClose("p4", "7", "EURUSD", D("0"), T0, T0 + 3_500))

    stats = book.trader("7")
    assert (stats.closed_deals, stats.wins, stats.net_profit) == (4, 2, D("12"))
    assert (stats.win_rate, stats.latency_arb_share) == (D("0.5000"), D("0.2500"))
    assert stats.avg_holding_seconds == D("16.25")


def test_volatility_then_bps_per_sqrt_minute_over_the_window_only() -> None:
    book = FlowBook(volatility_window_seconds=60)
    assert book.volatility("EURUSD") is None
    # One 1 bp move every second for a minute: 60 squared returns of 1e-8 per minute -> ~7.75 bps.
    mid = D(1)
    for i in range(61):
        book.add_quote("EURUSD", T0 + i * 1000, mid)
        mid = mid * D("1.0001") if i % 2 == 0 else mid / D("1.0001")
    vol = book.volatility("EURUSD")
    assert vol is not None
    assert D("7.6") < vol < D("7.9")

    # A calm minute later the moves have left the window.
    for i in range(61, 200):
        book.add_quote("EURUSD", T0 + i * 1000, D(1))
    assert book.volatility("EURUSD") == D("0.00")


def test_parse_order_filled_event_then_fills_and_closed_positions() -> None:
    body = (
        b'{"eventId":"e1","type":"order_filled","accountId":"7","occurredAt":"x","data":'
        b'{"order":{"symbol":"EURUSD","side":"SELL"},'
        b'"fills":[{"fillId":"d9","price":"1.1","volume":"0.5","book":"B","venue":"BBOOK",'
        b'"fillTime":"2026-01-01T00:00:01.000Z"}],'
        b'"positions":[{"positionId":"p3","symbol":"EURUSD","state":"CLOSED","realizedPnl":"-2.5",'
        b'"openTime":"2026-01-01T00:00:00.000Z","closeTime":"2026-01-01T00:00:01.000Z"},'
        b'{"positionId":"p4","symbol":"EURUSD","state":"OPEN","openTime":"x","closeTime":""}]}}'
    )

    fills, closes = parse_event(body)

    assert [(f.fill_id, f.side, f.price, v) for f, v in fills] == [
        ("d9", Side.SELL, D("1.1"), D("0.5"))
    ]
    assert [(c.position_id, c.profit, c.holding_seconds) for c in closes] == [
        ("p3", D("-2.5"), D(1))
    ]
    assert parse_event(b"not json") == ([], [])


def test_parse_events_message_then_fills_and_closes_of_the_wanted_types_only() -> None:
    body = (
        b'[{"eventId":"e1","type":"order_update","accountId":"7","data":{"orderId":"1"}},'
        b'{"eventId":"e2","type":"order_filled","accountId":"7","data":'
        b'{"order":{"symbol":"EURUSD","side":"BUY"},'
        b'"fills":[{"fillId":"d1","price":"1.2","volume":"1","fillTime":"2026-01-01T00:00:01.000Z"}],'
        b'"positions":[]}},'
        b'{"eventId":"e3","type":"position_update","accountId":"7","data":'
        b'{"positionId":"p5","symbol":"EURUSD","state":"CLOSED","realizedPnl":"4",'
        b'"openTime":"2026-01-01T00:00:00.000Z","closeTime":"2026-01-01T00:00:02.000Z"}}]'
    )

    fills, closes = parse_event(body)

    assert [(f.fill_id, f.side, v) for f, v in fills] == [("d1", Side.BUY, D("1"))]
    assert [(c.position_id, c.profit, c.holding_seconds) for c in closes] == [("p5", D("4"), D(2))]


def test_sampling_gap_then_a_late_mid_is_not_used_for_that_horizon() -> None:
    book = FlowBook()
    book.add_quote("EURUSD", T0, D("1.1000"))
    book.add_fill(FlowFill("f1", "7", "EURUSD", Side.BUY, D("1.1000"), T0))

    # Nothing sampled for 9 s (the router was away), then samples again.
    late = book.add_quote("EURUSD", T0 + 10_000, D("1.1011"))

    stats = book.trader("7")
    assert late == [("f1", 1, D("1.1011"))]  # the 10 s horizon, on time
    assert (stats.markout_1s_bps, stats.markout_10s_bps) == (None, D("10.00"))
    assert stats.markout_fills == 0  # counted on the 1 s markout


def test_rebuilt_fill_whose_horizons_passed_unsampled_then_dropped() -> None:
    book = FlowBook()
    book.add_fill(FlowFill("f1", "7", "EURUSD", Side.BUY, D("1"), T0, (D("1.0001"), None, None)))

    book.drop_unresolved_before(T0 + 120_000)

    assert book.pending_count() == 0
    assert book.trader("7").markout_1s_bps == D("1.00")


def test_fills_out_of_time_order_then_each_markout_resolves_at_its_own_horizon() -> None:
    book = FlowBook()
    book.add_quote("EURUSD", T0, D("1.1000"))
    # The later fill's event arrives first (events of two accounts, two messages).
    book.add_fill(FlowFill("late", "8", "EURUSD", Side.SELL, D("1.1000"), T0 + 500))
    book.add_fill(FlowFill("early", "7", "EURUSD", Side.BUY, D("1.1000"), T0))
    book.add_fill(FlowFill("other", "9", "GBPUSD", Side.BUY, D("1.3000"), T0))

    first = book.add_quote("EURUSD", T0 + 1_000, D("1.1011"))
    second = book.add_quote("EURUSD", T0 + 1_500, D("1.0989"))

    assert first == [("early", 0, D("1.1011"))]
    assert second == [("late", 0, D("1.0989"))]
    assert (book.trader("7").markout_1s_bps, book.trader("8").markout_1s_bps) == (
        D("10.00"),
        D("10.00"),
    )
    assert book.trader("9").markout_1s_bps is None  # another symbol's samples
    assert book.pending_count() == 3  # the 10 s and 60 s markouts of each, GBPUSD's 1 s
    book.add_quote("EURUSD", T0 + 60_500, D("1.1000"))  # past both fills' 10 s horizons too late
    assert [book.trader(a).markout_10s_bps for a in ("7", "8")] == [None, None]
    assert book.pending_count() == 1  # only GBPUSD's fill, never sampled
