"""Pricing rules of the quotes service: markup and rounding, tick validation, LP aggregation."""

from __future__ import annotations

from decimal import Decimal

import pytest

from quotes.domain import (
    DropReason,
    Markup,
    PricingConfig,
    PricingEngine,
    RawTick,
    SymbolSettings,
    apply_markup,
)

NOW = 1_700_000_000_000  # epoch ms

EURUSD = SymbolSettings(
    symbol="EURUSD",
    digits=5,
    markup=Markup(5, 5),
    max_spread_points=200,
    spike_threshold_pct=Decimal("2.0"),
    stale_after_ms=5000,
)
USDJPY = SymbolSettings("USDJPY", 3, Markup(5, 5), 200)
XAUUSD = SymbolSettings("XAUUSD", 2, Markup(10, 10), 500)
GBPUSD_OFF = SymbolSettings("GBPUSD", 5, Markup(5, 5), 200, enabled=False)


def engine(*settings: SymbolSettings, lp_priority: tuple[str, ...] = ()) -> PricingEngine:
    return PricingEngine(
        PricingConfig.of(settings or (EURUSD, USDJPY, XAUUSD, GBPUSD_OFF)),
        lp_priority=lp_priority,
        spike_window_ms=5000,
    )


def tick(
    bid: str,
    ask: str,
    *,
    symbol: str = "EURUSD",
    source: str = "LP1",
    ts_ms: int | None = NOW,
) -> RawTick:
    return RawTick(symbol, bid, ask, ts_ms, source)


# --- markup and rounding ---------------------------------------------------------------------


def test_markup_when_eurusd_five_digits_then_widens_by_five_points_each_side() -> None:
    assert apply_markup(Decimal("1.08449"), Decimal("1.08451"), Markup(5, 5), 5) == (
        Decimal("1.08444"),
        Decimal("1.08456"),
    )


def test_markup_when_usdjpy_three_digits_then_points_are_thousandths() -> None:
    assert apply_markup(Decimal("151.499"), Decimal("151.501"), Markup(5, 7), 3) == (
        Decimal("151.494"),
        Decimal("151.508"),
    )


def test_markup_when_xauusd_two_digits_then_points_are_cents() -> None:
    assert apply_markup(Decimal("2649.90"), Decimal("2650.10"), Markup(10, 10), 2) == (
        Decimal("2649.80"),
        Decimal("2650.20"),
    )


def test_markup_when_lp_sends_extra_precision_then_rounds_outward_never_narrowing() -> None:
    bid, ask = apply_markup(Decimal("1.084491"), Decimal("1.084501"), Markup(0, 0), 5)
    assert (bid, ask) == (Decimal("1.08449"), Decimal("1.08451"))
    bid, ask = apply_markup(Decimal("2649.999"), Decimal("2650.001"), Markup(10, 10), 2)
    assert (bid, ask) == (Decimal("2649.89"), Decimal("2650.11"))


def test_markup_when_zero_then_price_is_quantized_to_digits() -> None:
    bid, ask = apply_markup(Decimal("1.0845"), Decimal("1.0846"), Markup(0, 0), 5)
    assert (str(bid), str(ask)) == ("1.08450", "1.08460")


def test_client_quote_when_lp_sends_extra_digit_then_markup_says_what_was_applied() -> None:
    eng = engine()
    assert eng.accept(tick("1.084491", "1.084511"), NOW) is None

    quote = eng.client_quote("EURUSD", NOW)

    # 5 points each side plus the outward rounding: what the router adds to an A-book LP fill.
    assert quote is not None
    assert (quote.bid, quote.ask) == (Decimal("1.08444"), Decimal("1.08457"))
    assert (quote.markup_bid, quote.markup_ask) == (Decimal("0.000051"), Decimal("0.000059"))


def test_client_quote_when_one_lp_then_marked_up_price_keeps_lp_tick_time() -> None:
    eng = engine()
    assert eng.accept(tick("1.08449", "1.08451", ts_ms=NOW - 10), NOW) is None
    quote = eng.client_quote("EURUSD", NOW)
    assert quote is not None
    assert (quote.bid, quote.ask, quote.ts_ms, quote.sources) == (
        Decimal("1.08444"),
        Decimal("1.08456"),
        NOW - 10,
        "LP1",
    )


# --- drop reasons ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (tick("1.08449", "1.08451", symbol="FOOBAR"), DropReason.UNKNOWN_SYMBOL),
        (tick("1.26500", "1.26510", symbol="GBPUSD"), DropReason.DISABLED_SYMBOL),
        (tick("abc", "1.08451"), DropReason.INVALID_PRICE),
        (tick("", "1.08451"), DropReason.INVALID_PRICE),
        (tick("0", "1.08451"), DropReason.INVALID_PRICE),
        (tick("-1.08449", "1.08451"), DropReason.INVALID_PRICE),
        (tick("1.08449", "NaN"), DropReason.INVALID_PRICE),
        (tick("1.08449", "Infinity"), DropReason.INVALID_PRICE),
        (tick("1.08452", "1.08451"), DropReason.CROSSED),
        (tick("1.08400", "1.08601"), DropReason.SPREAD_TOO_WIDE),
        (tick("1.08449", "1.08451", ts_ms=NOW - 5001), DropReason.STALE),
    ],
)
def test_accept_when_tick_is_bad_then_drops_with_reason(raw: RawTick, reason: DropReason) -> None:
    eng = engine()
    assert eng.accept(raw, NOW) is reason
    assert eng.client_quote(raw.symbol, NOW) is None


def test_accept_when_spread_exactly_at_limit_or_locked_then_accepts() -> None:
    eng = engine()
    assert eng.accept(tick("1.08400", "1.08600"), NOW) is None
    assert eng.accept(tick("1.08500", "1.08500", source="LP2"), NOW) is None


def test_accept_when_tick_has_no_time_then_receipt_time_is_used() -> None:
    eng = engine()
    assert eng.accept(tick("1.08449", "1.08451", ts_ms=None), NOW) is None
    quote = eng.client_quote("EURUSD", NOW)
    assert quote is not None
    assert quote.ts_ms == NOW


def test_accept_when_mid_jumps_beyond_threshold_then_drops_spike_and_keeps_price() -> None:
    eng = engine()
    assert eng.accept(tick("1.08449", "1.08451"), NOW) is None
    # +2.5 % within the spike window
    assert eng.accept(tick("1.11160", "1.11162", ts_ms=NOW + 100), NOW + 100) is DropReason.SPIKE
    quote = eng.client_quote("EURUSD", NOW + 100)
    assert quote is not None
    assert quote.bid == Decimal("1.08444")


def test_accept_when_mid_moves_within_threshold_then_accepts() -> None:
    eng = engine()
    assert eng.accept(tick("1.08449", "1.08451"), NOW) is None
    assert eng.accept(tick("1.10500", "1.10502", ts_ms=NOW + 100), NOW + 100) is None  # ~1.9 %


def test_accept_when_previous_tick_older_than_spike_window_then_jump_is_accepted() -> None:
    eng = engine()
    assert eng.accept(tick("1.08449", "1.08451"), NOW) is None
    later = NOW + 5001
    assert eng.accept(tick("1.11160", "1.11162", ts_ms=later), later) is None


def test_accept_when_other_lp_differs_a_lot_then_spike_is_judged_per_lp() -> None:
    eng = engine()
    assert eng.accept(tick("1.08449", "1.08451", source="LP1"), NOW) is None
    assert eng.accept(tick("1.11160", "1.11162", source="LP2"), NOW) is None


def test_accept_when_threshold_changes_on_reload_then_next_tick_uses_it() -> None:
    eng = engine()
    assert eng.accept(tick("1.08449", "1.08451"), NOW) is None
    eng.config = PricingConfig.of(
        [SymbolSettings("EURUSD", 5, Markup(5, 5), 200, spike_threshold_pct=Decimal("0.5"))]
    )
    assert eng.accept(tick("1.09500", "1.09502", ts_ms=NOW + 1), NOW + 1) is DropReason.SPIKE


# --- aggregation and failover ----------------------------------------------------------------


def test_best_price_when_two_lps_then_highest_bid_and_lowest_ask_win() -> None:
    eng = engine()
    eng.accept(tick("1.08449", "1.08453", source="LP1"), NOW)
    eng.accept(tick("1.08447", "1.08451", source="LP2"), NOW)
    best = eng.best_price("EURUSD", NOW)
    assert best is not None
    assert (best.bid, best.ask, best.sources) == (
        Decimal("1.08449"),
        Decimal("1.08451"),
        "LP1/LP2",
    )
    quote = eng.client_quote("EURUSD", NOW)
    assert quote is not None
    assert (quote.bid, quote.ask) == (Decimal("1.08444"), Decimal("1.08456"))


def test_best_price_when_primary_goes_stale_then_secondary_prices_alone() -> None:
    eng = engine()
    eng.accept(tick("1.08449", "1.08451", source="LP1", ts_ms=NOW), NOW)
    eng.accept(tick("1.08440", "1.08460", source="LP2", ts_ms=NOW + 3000), NOW + 3000)
    before = eng.best_price("EURUSD", NOW + 3000)
    assert before is not None
    assert (before.bid, before.ask) == (Decimal("1.08449"), Decimal("1.08451"))

    after = eng.best_price("EURUSD", NOW + 5001)  # LP1's tick is now older than 5000 ms
    assert after is not None
    assert (after.bid, after.ask, after.sources) == (Decimal("1.08440"), Decimal("1.08460"), "LP2")


def test_best_price_when_primary_returns_then_it_prices_again() -> None:
    eng = engine()
    eng.accept(tick("1.08449", "1.08451", source="LP1", ts_ms=NOW), NOW)
    eng.accept(tick("1.08440", "1.08460", source="LP2", ts_ms=NOW + 6000), NOW + 6000)
    assert eng.best_price("EURUSD", NOW + 6000).sources == "LP2"  # type: ignore[union-attr]
    eng.accept(tick("1.08450", "1.08452", source="LP1", ts_ms=NOW + 6100), NOW + 6100)
    assert eng.best_price("EURUSD", NOW + 6100).sources == "LP1"  # type: ignore[union-attr]


def test_best_price_when_every_lp_is_stale_then_there_is_no_client_quote() -> None:
    eng = engine()
    eng.accept(tick("1.08449", "1.08451", source="LP1"), NOW)
    eng.accept(tick("1.08448", "1.08452", source="LP2"), NOW)
    assert eng.client_quote("EURUSD", NOW + 5001) is None


def test_best_price_when_lps_cross_each_other_then_first_seen_primary_prices_alone() -> None:
    eng = engine()
    eng.accept(tick("1.08449", "1.08451", source="LP1"), NOW)
    eng.accept(tick("1.08455", "1.08457", source="LP2"), NOW)  # LP2 bid > LP1 ask
    best = eng.best_price("EURUSD", NOW)
    assert best is not None
    assert (best.bid, best.ask, best.sources) == (Decimal("1.08449"), Decimal("1.08451"), "LP1")


def test_best_price_when_lps_cross_and_priority_configured_then_listed_primary_wins() -> None:
    eng = engine(EURUSD, lp_priority=("LP2", "LP1"))
    eng.accept(tick("1.08449", "1.08451", source="LP1"), NOW)
    eng.accept(tick("1.08455", "1.08457", source="LP2"), NOW)
    best = eng.best_price("EURUSD", NOW)
    assert best is not None
    assert (best.bid, best.ask, best.sources) == (Decimal("1.08455"), Decimal("1.08457"), "LP2")


def test_client_quote_when_markup_changes_then_next_quote_uses_new_markup() -> None:
    eng = engine()
    eng.accept(tick("1.08449", "1.08451"), NOW)
    eng.config = PricingConfig.of([SymbolSettings("EURUSD", 5, Markup(1, 3), 200)])
    quote = eng.client_quote("EURUSD", NOW)
    assert quote is not None
    assert (quote.bid, quote.ask) == (Decimal("1.08448"), Decimal("1.08454"))


def test_client_quote_when_symbol_disabled_then_none() -> None:
    eng = engine()
    eng.accept(tick("1.08449", "1.08451"), NOW)
    eng.config = PricingConfig.of([SymbolSettings("EURUSD", 5, Markup(5, 5), 200, enabled=False)])
    assert eng.client_quote("EURUSD", NOW) is None
