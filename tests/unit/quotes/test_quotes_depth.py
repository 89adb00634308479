"""The client price's depth: LP levels merged, marked up like the top, kept only when consistent."""

from __future__ import annotations

from decimal import Decimal

from quotes.domain import (
    MAX_DEPTH_LEVELS,
    Markup,
    PricingConfig,
    PricingEngine,
    RawTick,
    SymbolSettings,
)

D = Decimal
NOW = 1_700_000_000_000
EURUSD = SymbolSettings("EURUSD", 5, Markup(5, 5), 200)


def engine() -> PricingEngine:
    return PricingEngine(PricingConfig.of([EURUSD]), lp_priority=("LP1", "LP2"))


def deep(
    source: str,
    bids: list[tuple[str, str]],
    asks: list[tuple[str, str]],
    *,
    bid: str | None = None,
    ask: str | None = None,
) -> RawTick:
    return RawTick(
        "EURUSD",
        bid or bids[0][0],
        ask or asks[0][0],
        NOW,
        source,
        tuple(bids),
        tuple(asks),
    )


def test_one_lp_three_levels_are_marked_up_level_by_level() -> None:
    pricing = engine()
    pricing.accept(
        deep(
            "LP1",
            [("1.08450", "1000000"), ("1.08445", "4000000"), ("1.08435", "15000000")],
            [("1.08452", "1000000"), ("1.08457", "4000000"), ("1.08467", "15000000")],
        ),
        NOW,
    )

    quote = pricing.client_quote("EURUSD", NOW)

    assert quote is not None
    assert (quote.bid, quote.ask) == (D("1.08445"), D("1.08457"))
    assert quote.bids == (
        (D("1.08445"), D(1_000_000)),
        (D("1.08440"), D(4_000_000)),
        (D("1.08430"), D(15_000_000)),
    )
    assert quote.asks == (
        (D("1.08457"), D(1_000_000)),
        (D("1.08462"), D(4_000_000)),
        (D("1.08472"), D(15_000_000)),
    )


def test_two_lps_levels_merge_with_sizes_summed_at_equal_prices() -> None:
    pricing = engine()
    pricing.accept(deep("LP1", [("1.08450", "1")], [("1.08452", "1"), ("1.08455", "2")]), NOW)
    pricing.accept(deep("LP2", [("1.08449", "3")], [("1.08452", "5"), ("1.08460", "7")]), NOW)

    quote = pricing.client_quote("EURUSD", NOW)

    assert quote is not None
    assert [(p, n) for p, n in quote.asks] == [
        (D("1.08457"), D(6)),
        (D("1.08460"), D(2)),
        (D("1.08465"), D(7)),
    ]
    assert [n for _, n in quote.bids] == [D(1), D(3)]


def test_best_price_from_an_lp_without_depth_leaves_that_side_without_depth() -> None:
    pricing = engine()
    pricing.accept(deep("LP1", [("1.08448", "1")], [("1.08452", "1")]), NOW)
    pricing.accept(RawTick("EURUSD", "1.08450", "1.08460", NOW, "LP2"), NOW)  # top of book only

    quote = pricing.client_quote("EURUSD", NOW)

    assert quote is not None
    assert quote.bids == ()  # the best bid's size is unknown
    assert quote.asks == ((D("1.08457"), D(1)),)


def test_levels_out_of_order_or_not_at_the_top_are_dropped_but_the_tick_is_kept() -> None:
    pricing = engine()
    unordered = deep("LP1", [("1.08440", "1"), ("1.08445", "1")], [("1.08452", "1")])
    elsewhere = deep("LP2", [("1.08440", "1")], [("1.08452", "1")], bid="1.08441")

    assert pricing.accept(unordered, NOW) is None
    assert pricing.accept(elsewhere, NOW + 1) is None
    quote = pricing.client_quote("EURUSD", NOW + 1)

    assert quote is not None
    assert quote.bids == ()
    assert quote.asks == ((D("1.08457"), D(2)),)


def test_depth_is_capped_at_the_maximum_number_of_levels() -> None:
    pricing = engine()
    asks = [(f"1.{8452 + i:05d}", "1") for i in range(MAX_DEPTH_LEVELS + 5)]
    pricing.accept(deep("LP1", [("1.08450", "1")], asks), NOW)

    quote = pricing.client_quote("EURUSD", NOW)

    assert quote is not None
    assert len(quote.asks) == MAX_DEPTH_LEVELS
