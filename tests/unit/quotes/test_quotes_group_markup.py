"""Group markups: each client group's own price of a symbol, hand-computed per asset class.

Points are 10^-digits; a percent is of the price; the bid rounds down and the ask up; a spread
narrower than the minimum is widened, split like the markup (halves when it is zero, the odd point
to the ask).
"""

from __future__ import annotations

from decimal import Decimal

import pytest

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
POINTS, PERCENT = MarkupUnit.POINTS, MarkupUnit.PERCENT

EURUSD = SymbolSettings("EURUSD", 5, Markup(5, 5), 200)
USDJPY = SymbolSettings("USDJPY", 3, Markup(5, 5), 200)
XAUUSD = SymbolSettings("XAUUSD", 2, Markup(10, 10), 500)
BTCUSD = SymbolSettings("BTCUSD", 2, Markup(500, 500), 100_000)
RAW = {
    "EURUSD": ("1.08449", "1.08451"),
    "USDJPY": ("151.499", "151.501"),
    "XAUUSD": ("2649.90", "2650.10"),
    "BTCUSD": ("60000.00", "60010.00"),
}


def priced(symbol: str, markup: GroupMarkup, group: str = "vip") -> tuple[Decimal, Decimal]:
    """The client (bid, ask) of ``group`` with ``markup`` on ``symbol`` at the RAW price."""
    config = PricingConfig.of([EURUSD, USDJPY, XAUUSD, BTCUSD], {(group, symbol): markup})
    eng = PricingEngine(config)
    bid, ask = RAW[symbol]
    assert eng.accept(RawTick(symbol, bid, ask, NOW, "LP1"), NOW) is None
    quote = eng.client_quote(symbol, NOW, group)
    assert quote is not None
    assert quote.group == group
    return quote.bid, quote.ask


@pytest.mark.parametrize(
    ("symbol", "markup", "expected"),
    [
        # 5-digit FX: 2 / 3 points; fractional points round outward; skew.
        ("EURUSD", GroupMarkup(D(2), D(3)), ("1.08447", "1.08454")),
        ("EURUSD", GroupMarkup(D("0.5"), D("1.5")), ("1.08448", "1.08453")),
        # JPY, 3 digits: 0.01 % each side: 151.499 x 0.9999 = 151.4838501 -> 151.483 (floor),
        # 151.501 x 1.0001 = 151.5161501 -> 151.517 (ceiling).
        ("USDJPY", GroupMarkup(D("0.01"), D("0.01"), PERCENT), ("151.483", "151.517")),
        ("USDJPY", GroupMarkup(D(0), D(20)), ("151.499", "151.521")),
        # Metals, 2 digits: 25 / 35 points = 0.25 / 0.35.
        ("XAUUSD", GroupMarkup(D(25), D(35)), ("2649.65", "2650.45")),
        # Crypto, 2 digits, percent skewed: 60000 x 0.9995 = 59970.00, 60010 x 1.001 = 60070.01.
        ("BTCUSD", GroupMarkup(D("0.05"), D("0.1"), PERCENT), ("59970.00", "60070.01")),
    ],
)
def test_client_quote_when_group_has_own_markup_then_group_price(symbol, markup, expected):
    assert priced(symbol, markup) == (D(expected[0]), D(expected[1]))


@pytest.mark.parametrize(
    ("symbol", "markup", "expected"),
    [
        # Raw 2 points, no markup, minimum 10: 8 missing, halves.
        ("EURUSD", GroupMarkup(min_spread_points=10), ("1.08445", "1.08455")),
        # Odd: 3 missing -> 1 to the bid, 2 to the ask.
        ("EURUSD", GroupMarkup(min_spread_points=5), ("1.08448", "1.08453")),
        # 1 / 3 points -> 1.08448 / 1.08454 (6 points); minimum 12: 6 missing split 1:3 ->
        # floor(1.5) = 1 to the bid, 5 to the ask.
        ("EURUSD", GroupMarkup(D(1), D(3), min_spread_points=12), ("1.08447", "1.08459")),
        # Metals: 25 / 35 points give 80; minimum 100: 20 missing, 25/60 of it = 8.33 -> 8 to
        # the bid, 12 to the ask.
        ("XAUUSD", GroupMarkup(D(25), D(35), min_spread_points=100), ("2649.57", "2650.57")),
        # Already wide enough: unchanged.
        ("XAUUSD", GroupMarkup(D(25), D(35), min_spread_points=80), ("2649.65", "2650.45")),
        # Crypto percent with a minimum: 60000 x 0.9995 = 59970.00, 60010 x 1.0005 = 60040.005
        # -> 60040.01: 7001 points; minimum 12001: 5000 missing, 2500 (25.00) each side.
        (
            "BTCUSD",
            GroupMarkup(D("0.05"), D("0.05"), PERCENT, min_spread_points=12001),
            ("59945.00", "60065.01"),
        ),
    ],
)
def test_client_quote_when_spread_below_group_minimum_then_widened(symbol, markup, expected):
    assert priced(symbol, markup) == (D(expected[0]), D(expected[1]))


def test_client_quote_when_group_without_own_markup_then_symbol_default():
    config = PricingConfig.of([EURUSD], {("vip", "EURUSD"): GroupMarkup(D(1), D(1))})
    eng = PricingEngine(config)
    eng.accept(RawTick("EURUSD", "1.08449", "1.08451", NOW, "LP1"), NOW)

    default = eng.client_quote("EURUSD", NOW)
    other = eng.client_quote("EURUSD", NOW, "retail")
    vip = eng.client_quote("EURUSD", NOW, "vip")

    assert default is not None
    assert other is not None
    assert vip is not None
    assert (default.bid, default.ask) == (D("1.08444"), D("1.08456"))
    assert (other.bid, other.ask) == (default.bid, default.ask)
    assert (vip.bid, vip.ask) == (D("1.08448"), D("1.08452"))
    assert (vip.markup_bid, vip.markup_ask) == (D("0.00001"), D("0.00001"))
    assert config.groups_of("EURUSD") == ("vip",)
    assert config.groups_of("USDJPY") == ()


def test_client_quote_when_group_minimum_widens_then_depth_moves_with_the_top():
    config = PricingConfig.of([EURUSD], {("vip", "EURUSD"): GroupMarkup(min_spread_points=10)})
    eng = PricingEngine(config)
    eng.accept(
        RawTick(
            "EURUSD",
            "1.08449",
            "1.08451",
            NOW,
            "LP1",
            (("1.08449", "1000000"), ("1.08448", "2000000")),
            (("1.08451", "1000000"), ("1.08452", "2000000")),
        ),
        NOW,
    )
    vip = eng.client_quote("EURUSD", NOW, "vip")
    assert vip is not None
    assert vip.bids == ((D("1.08445"), D(1000000)), (D("1.08444"), D(2000000)))
    assert vip.asks == ((D("1.08455"), D(1000000)), (D("1.08456"), D(2000000)))
