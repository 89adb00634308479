"""All groups of a symbol priced in one pass: the best price quantized once and whole-point
markups moved as offsets must give exactly (value and exponent, so the same text in Redis and in
stored ticks) what each group's markup gives on its own (``GroupMarkup.side``)."""

from __future__ import annotations

import random
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

import pytest

from fxmesh.money import quantize
from quotes.domain import (
    GroupMarkup,
    Markup,
    MarkupUnit,
    PricingConfig,
    PricingEngine,
    RawTick,
    SymbolSettings,
)

D = Decimal
NOW = 1_700_000_000_000


@pytest.mark.parametrize(
    ("markup", "whole"),
    [
        (GroupMarkup(D(3), D(7)), True),
        (GroupMarkup(D("5.0"), D("0")), True),
        (GroupMarkup(D(-2), D(4), min_spread_points=30), True),
        (GroupMarkup(D("0.5"), D(1)), False),
        (GroupMarkup(D("0.1"), D("0.1"), MarkupUnit.PERCENT), False),
    ],
)
def test_point_offsets_agree_with_side(markup: GroupMarkup, whole: bool) -> None:
    rng = random.Random(16)
    for digits in (0, 2, 3, 5):
        offsets = markup.point_offsets(digits)
        assert (offsets is not None) is whole
        if offsets is None:
            continue
        for _ in range(300):
            price = D(rng.randrange(1, 10**9)).scaleb(-rng.randrange(0, 9))
            bid = quantize(price, digits, ROUND_FLOOR) - offsets[0]
            ask = quantize(price, digits, ROUND_CEILING) + offsets[1]
            assert str(bid) == str(markup.side(price, digits, bid=True))
            assert str(ask) == str(markup.side(price, digits, bid=False))


def test_all_groups_in_one_pass_match_each_group_alone() -> None:
    markups = {
        ("a", "EURUSD"): GroupMarkup(D(1), D(2)),
        ("b", "EURUSD"): GroupMarkup(D("0.5"), D("1.5")),
        ("c", "EURUSD"): GroupMarkup(D("0.01"), D("0.02"), MarkupUnit.PERCENT),
        ("d", "EURUSD"): GroupMarkup(D(0), D(0), min_spread_points=40),
        ("e", "EURUSD"): GroupMarkup(D("4.0"), D(-1)),
    }
    config = PricingConfig.of([SymbolSettings("EURUSD", 5, Markup(5, 5), 500)], markups)
    groups = ("", *config.groups_of("EURUSD"))
    for bid, ask in [("1.100003", "1.100127"), ("1.09995", "1.10005"), ("0.00003", "0.00004")]:
        engine = PricingEngine(config)  # a fresh book: no spike check across these
        assert engine.accept(RawTick("EURUSD", bid, ask, NOW, "LP1"), NOW) is None
        together = engine.client_quotes("EURUSD", NOW, groups)
        assert together
        settings = config.symbols["EURUSD"]
        for quote in together:
            markup = config.markup_for("EURUSD", quote.group)
            b = markup.side(D(bid), 5, bid=True)
            a = markup.side(D(ask), 5, bid=False)
            to_bid, to_ask = markup.widening(b, a, 5)
            b, a = b - to_bid * settings.point, a + to_ask * settings.point
            assert (str(quote.bid), str(quote.ask)) == (str(b), str(a)), quote.group
            assert str(quote.markup_bid) == str(D(bid) - b)
            assert str(quote.markup_ask) == str(a - D(ask))
        # One alone is the same as in the pass.
        for quote in together:
            alone = engine.client_quote("EURUSD", NOW, quote.group)
            assert alone == quote
