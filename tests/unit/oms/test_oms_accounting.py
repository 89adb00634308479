"""Golden tests of the money maths in USD, EUR and JPY accounts, worked out by hand.

Quotes used throughout (conversions use the mid price):

    EURUSD 1.08500 / 1.08520  mid 1.08510
    USDJPY 151.490 / 151.510  mid 151.500
    GBPUSD 1.26490 / 1.26510  mid 1.26500
    XAUUSD 2650.00 / 2650.50  mid 2650.25
    EURGBP 0.85770 / 0.85790  mid 0.85780
    GBPJPY 191.640 / 191.660  (only where a test says so)

FX contracts are 100 000 units, gold 100 oz; leverage 100; commission 3.50 USD per lot per side
(gold 5.00). Amounts round to the account currency's minor unit, half to even.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from fxmesh.money import to_money
from oms.domain.accounting import (
    MarginLeg,
    account_margin,
    floor_to_step,
    last_rollover_day,
    live_figures,
    loss_per_lot,
    lot_for_risk,
    margin_change,
    net_legs,
    next_rollover_day,
    rollover_instant,
    swap_charge,
    swap_days,
)
from oms.domain.model import (
    NoConversionRate,
    OpenPosition,
    PositionId,
    Price,
    Side,
    SymbolSpec,
    commission,
    margin,
    profit,
)

D = Decimal
BUY, SELL = Side.BUY, Side.SELL


def spec(
    symbol: str,
    *,
    digits: int = 5,
    contract: str = "100000",
    comm: str = "3.50",
    swap_long: str = "0",
    swap_short: str = "0",
    triple: int = 3,
    volume_max: str = "50",
) -> SymbolSpec:
    return SymbolSpec(
        symbol=symbol,
        base_currency=symbol[:3],
        quote_currency=symbol[3:],
        digits=digits,
        contract_size=D(contract),
        volume_min=D("0.01"),
        volume_max=D(volume_max),
        volume_step=D("0.01"),
        margin_percent=D(100),
        commission_per_lot=D(comm),
        commission_currency="USD",
        default_deviation_points=20,
        enabled=True,
        swap_long_points=D(swap_long),
        swap_short_points=D(swap_short),
        swap_triple_weekday=triple,
    )


EURUSD = spec("EURUSD", swap_long="-6.50", swap_short="1.20")
USDJPY = spec("USDJPY", digits=3, swap_long="12.30", swap_short="-24.80")
XAUUSD = spec(
    "XAUUSD", digits=2, contract="100", comm="5.00", swap_long="-35.00", swap_short="12.00"
)
EURGBP = spec("EURGBP")
GBPJPY = spec("GBPJPY", digits=3)
SYMBOLS = {s.symbol: s for s in (EURUSD, USDJPY, XAUUSD, EURGBP, GBPJPY)}

PRICES = {
    "EURUSD": Price(D("1.08500"), D("1.08520")),
    "USDJPY": Price(D("151.490"), D("151.510")),
    "GBPUSD": Price(D("1.26490"), D("1.26510")),
    "XAUUSD": Price(D("2650.00"), D("2650.50")),
    "EURGBP": Price(D("0.85770"), D("0.85790")),
}
WITH_GBPJPY = {**PRICES, "GBPJPY": Price(D("191.640"), D("191.660"))}


def pnl(side: Side, volume: str, open_: str, close: str, s: SymbolSpec, ccy: str) -> Decimal:
    return profit(side, D(volume), D(open_), D(close), s, ccy, PRICES)


# --- P&L -----------------------------------------------------------------------------------------


def test_pnl_when_buy_eurusd_closes_50_points_up_in_usd_account_then_plus_50_usd() -> None:
    """The issue's example: (1.08500 - 1.08450) x 100 000 x 1.0 = 50.00 USD."""
    assert pnl(BUY, "1.0", "1.08450", "1.08500", EURUSD, "USD") == D("50.00")


def test_pnl_when_same_trade_in_eur_account_then_converted_at_eurusd_mid() -> None:
    """50 USD / 1.08510 (USD->EUR through the inverse of EURUSD) = 46.0787 -> 46.08 EUR."""
    assert pnl(BUY, "1.0", "1.08450", "1.08500", EURUSD, "EUR") == D("46.08")


def test_pnl_when_same_trade_in_jpy_account_then_whole_yen() -> None:
    """50 USD x 151.500 (USDJPY mid) = 7575 JPY; JPY has no minor unit."""
    assert pnl(BUY, "1.0", "1.08450", "1.08500", EURUSD, "JPY") == D("7575")


def test_pnl_when_sell_usdjpy_two_lots_falls_9_pips_in_usd_account_then_profit_in_usd() -> None:
    """Sell 2 at 151.600, close at the ask 151.510: 0.090 x 100 000 x 2 = 18 000 JPY;
    / 151.500 = 118.8119 -> 118.81 USD."""
    assert pnl(SELL, "2", "151.600", "151.510", USDJPY, "USD") == D("118.81")


def test_pnl_when_buy_usdjpy_in_jpy_account_then_no_conversion() -> None:
    """(151.490 - 151.400) x 100 000 = 9000 JPY."""
    assert pnl(BUY, "1", "151.400", "151.490", USDJPY, "JPY") == D("9000")


def test_pnl_when_buy_half_lot_gold_up_10_dollars_then_500_usd() -> None:
    """(2650.00 - 2640.00) x 100 oz x 0.5 = 500.00 USD."""
    assert pnl(BUY, "0.5", "2640.00", "2650.00", XAUUSD, "USD") == D("500.00")


def test_pnl_when_sell_gold_in_eur_account_then_converted() -> None:
    """Sell 1 at 2660.00, close at the ask 2650.50: 9.50 x 100 = 950 USD; / 1.08510 = 875.4953
    -> 875.50 EUR."""
    assert pnl(SELL, "1", "2660.00", "2650.50", XAUUSD, "EUR") == D("875.50")


def test_pnl_when_eurgbp_in_usd_account_then_gbp_converted_by_gbpusd() -> None:
    """(0.85770 - 0.85700) x 100 000 = 70 GBP; x 1.26500 (GBPUSD mid) = 88.55 USD."""
    assert pnl(BUY, "1", "0.85700", "0.85770", EURGBP, "USD") == D("88.55")


def test_pnl_when_eurgbp_in_jpy_account_without_gbpjpy_then_crosses_through_usd() -> None:
    """70 GBP x 1.26500 (GBP->USD) x 151.500 (USD->JPY) = 70 x 191.6475 = 13415.325 -> 13415."""
    assert pnl(BUY, "1", "0.85700", "0.85770", EURGBP, "JPY") == D("13415")


def test_pnl_when_eurgbp_in_jpy_account_with_gbpjpy_quote_then_direct_rate_wins() -> None:
    """70 GBP x 191.650 (GBPJPY mid) = 13415.5 -> 13416 (half to even)."""
    value = profit(BUY, D(1), D("0.85700"), D("0.85770"), EURGBP, "JPY", WITH_GBPJPY)
    assert value == D("13416")


def test_pnl_when_gbpjpy_cross_in_usd_and_eur_accounts_then_jpy_converted_via_usd() -> None:
    """(191.640 - 191.500) x 100 000 = 14 000 JPY.
    USD: 14 000 / 151.500 = 92.409 -> 92.41.  EUR (no EURJPY quote): 14 000 / 151.500 / 1.08510
    = 14 000 / 164.39265 = 85.162 -> 85.16."""
    assert pnl(BUY, "1", "191.500", "191.640", GBPJPY, "USD") == D("92.41")
    assert pnl(BUY, "1", "191.500", "191.640", GBPJPY, "EUR") == D("85.16")


# --- margin --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("s", "volume", "price", "ccy", "expected", "why"),
    [
        (EURUSD, "1", "1.08450", "USD", "1084.50", "1000 EUR x 1.08450"),
        (EURUSD, "1", "1.08450", "EUR", "1000", "1000 EUR, the account currency"),
        (EURUSD, "1", "1.08450", "JPY", "164302", "1084.50 USD x 151.5 = 164301.75"),
        (USDJPY, "1", "151.500", "USD", "1000", "1000 USD, the account currency"),
        (USDJPY, "1", "151.500", "JPY", "151500", "1000 USD x 151.500 in JPY"),
        (XAUUSD, "1", "2650.00", "USD", "2650.00", "1 oz x 2650.00"),
        (XAUUSD, "1", "2650.00", "EUR", "2442.17", "2650 USD / 1.08510 = 2442.1712"),
        (EURGBP, "1", "0.85780", "USD", "1085.12", "857.80 GBP x 1.265 = 1085.117"),
        (GBPJPY, "1", "191.650", "USD", "1265.02", "191 650 JPY / 151.5 = 1265.0165"),
    ],
)
def test_margin_when_one_lot_at_leverage_100_then_notional_over_leverage_in_account_ccy(
    s: SymbolSpec, volume: str, price: str, ccy: str, expected: str, why: str
) -> None:
    """contract x lots / 100 in the base currency, priced in the quote currency and converted."""
    value = to_money(margin(D(volume), D(price), 100, s, ccy, PRICES), ccy)
    assert value == D(expected), why


def test_account_margin_when_hedged_eurusd_then_larger_leg_only() -> None:
    """BUY 1 @1.08450 holds 1084.50, SELL 1 @1.08600 holds 1086.00: the larger, 1086.00 USD;
    plus gold on its own: 0.5 x 100 / 100 x 2650 = 1325.00. Total 2411.00 USD."""
    legs = [
        MarginLeg("EURUSD", BUY, D("1"), D("1.08450")),
        MarginLeg("EURUSD", SELL, D("1"), D("1.08600")),
        MarginLeg("XAUUSD", BUY, D("0.5"), D("2650.00")),
    ]
    assert account_margin(legs, 100, "USD", SYMBOLS, PRICES) == D("2411.00")


def test_account_margin_when_several_legs_per_side_then_sums_each_side_first() -> None:
    """BUY side: 1 @1.08450 (1084.50) + 0.5 @1.09000 (545.00) = 1629.50;
    SELL side: 2 @1.08000 = 2160.00. Larger leg: 2160.00 USD."""
    legs = [
        MarginLeg("EURUSD", BUY, D("1"), D("1.08450")),
        MarginLeg("EURUSD", BUY, D("0.5"), D("1.09000")),
        MarginLeg("EURUSD", SELL, D("2"), D("1.08000")),
    ]
    assert account_margin(legs, 100, "USD", SYMBOLS, PRICES) == D("2160.00")


def test_account_margin_when_leg_cannot_be_converted_then_raises_unless_skipping() -> None:
    legs = [MarginLeg("XAUUSD", BUY, D("1"), D("2650"))]
    with pytest.raises(NoConversionRate):
        account_margin(legs, 100, "JPY", SYMBOLS, {})
    assert account_margin(legs, 100, "JPY", SYMBOLS, {}, skip_unpriced=True) == 0


def test_margin_change_when_order_hedges_smaller_than_open_leg_then_needs_nothing() -> None:
    """Open BUY 1 @1.08450 (1084.50); a SELL 0.5 at the bid 1.08500 adds 542.50 to the SELL side,
    still below the BUY side: margin before = after = 1084.50."""
    existing = [MarginLeg("EURUSD", BUY, D("1"), D("1.08450"))]
    before, after = margin_change(
        existing,
        MarginLeg("EURUSD", SELL, D("0.5"), D("1.08500")),
        100,
        "USD",
        SYMBOLS,
        PRICES,
        netting=False,
    )
    assert (before, after) == (D("1084.50"), D("1084.50"))


def test_margin_change_when_netting_order_reverses_position_then_only_the_excess_counts() -> None:
    """Netting: BUY 1 @1.08450 then SELL 1.5 @1.08500 leaves SELL 0.5 @1.08500 = 542.50."""
    existing = [MarginLeg("EURUSD", BUY, D("1"), D("1.08450"))]
    _, after = margin_change(
        existing,
        MarginLeg("EURUSD", SELL, D("1.5"), D("1.08500")),
        100,
        "USD",
        SYMBOLS,
        PRICES,
        netting=True,
    )
    assert after == D("542.50")


def test_net_legs_when_same_side_then_volume_weighted_price() -> None:
    legs = net_legs(
        [
            MarginLeg("EURUSD", BUY, D("1"), D("1.08000")),
            MarginLeg("EURUSD", BUY, D("1"), D("1.09000")),
            MarginLeg("XAUUSD", SELL, D("1"), D("2650")),
            MarginLeg("XAUUSD", BUY, D("1"), D("2651")),
        ]
    )
    assert legs == [MarginLeg("EURUSD", BUY, D("2"), D("1.08500"))]


def test_live_figures_when_hedged_pair_then_equity_over_larger_leg() -> None:
    """Balance 10 000 USD. BUY 1 @1.08450 marks at the bid 1.08500: +50.00; SELL 1 @1.08600 marks
    at the ask 1.08520: +80.00. Equity 10 130.00; margin max(1084.50, 1086.00) = 1086.00;
    free 9044.00; level 10 130 / 1086 = 932.78 %."""
    positions = [
        OpenPosition(PositionId(1), "EURUSD", BUY, D("1"), D("1.08450")),
        OpenPosition(PositionId(2), "EURUSD", SELL, D("1"), D("1.08600")),
    ]
    fig = live_figures(D("10000.00"), "USD", 100, positions, [], SYMBOLS, PRICES, strict=True)
    assert (fig.equity, fig.margin, fig.free_margin) == (
        D("10130.00"),
        D("1086.00"),
        D("9044.00"),
    )
    assert fig.margin_level == D("932.78")


def test_live_figures_when_strict_and_position_has_no_quote_then_raises() -> None:
    positions = [OpenPosition(PositionId(1), "EURUSD", BUY, D("1"), D("1.08450"))]
    with pytest.raises(NoConversionRate):
        live_figures(D("100"), "USD", 100, positions, [], SYMBOLS, {}, strict=True)
    fig = live_figures(D("100"), "USD", 100, positions, [], SYMBOLS, {}, strict=False)
    assert fig.equity == D("100.00")


# --- commission ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("s", "volume", "ccy", "expected", "why"),
    [
        (EURUSD, "2", "USD", "7.00", "3.50 x 2"),
        (EURUSD, "1", "EUR", "3.23", "3.50 / 1.08510 = 3.2255"),
        (EURUSD, "1", "JPY", "530", "3.50 x 151.5 = 530.25"),
        (XAUUSD, "0.3", "USD", "1.50", "5.00 x 0.3"),
    ],
)
def test_commission_when_per_lot_in_usd_then_converted_to_account_currency(
    s: SymbolSpec, volume: str, ccy: str, expected: str, why: str
) -> None:
    assert commission(D(volume), s, ccy, PRICES) == D(expected), why


# --- swaps ---------------------------------------------------------------------------------------

TUESDAY, WEDNESDAY, THURSDAY = date(2026, 11, 17), date(2026, 11, 18), date(2026, 11, 19)
FRIDAY, SATURDAY = date(2026, 11, 20), date(2026, 11, 21)


@pytest.mark.parametrize(
    ("side", "volume", "s", "days", "ccy", "expected", "why"),
    [
        (BUY, "1", EURUSD, 1, "USD", "-6.50", "-6.50 pts x 0.00001 x 100 000 x 1"),
        (BUY, "1", EURUSD, 3, "USD", "-19.50", "three days on the triple weekday"),
        (SELL, "2", EURUSD, 1, "USD", "2.40", "+1.20 pts x 0.00001 x 100 000 x 2: a credit"),
        (BUY, "1", USDJPY, 1, "USD", "8.12", "12.30 x 0.001 x 100 000 = 1230 JPY / 151.5"),
        (SELL, "1", USDJPY, 3, "JPY", "-7440", "-24.80 x 0.001 x 100 000 x 3 JPY"),
        (BUY, "0.1", XAUUSD, 1, "EUR", "-3.23", "-35 x 0.01 x 100 x 0.1 = -3.50 USD / 1.0851"),
        (SELL, "1", XAUUSD, 1, "JPY", "1818", "12 x 0.01 x 100 = 12 USD x 151.5"),
    ],
)
def test_swap_when_held_over_rollover_then_points_times_point_contract_lots_days(
    side: Side, volume: str, s: SymbolSpec, days: int, ccy: str, expected: str, why: str
) -> None:
    assert swap_charge(side, D(volume), s, days, ccy, PRICES) == D(expected), why


def test_swap_when_quote_currency_cannot_be_converted_then_raises() -> None:
    with pytest.raises(NoConversionRate):
        swap_charge(BUY, D("1"), USDJPY, 1, "USD", {})


def test_swap_days_when_triple_is_wednesday_then_a_week_books_seven_days() -> None:
    week = [date(2026, 11, 16 + i) for i in range(7)]  # Monday .. Sunday
    assert [swap_days(d, 3) for d in week] == [1, 1, 3, 1, 1, 0, 0]


def test_swap_days_when_triple_is_friday_then_a_week_still_books_seven_days() -> None:
    week = [date(2026, 11, 16 + i) for i in range(7)]
    assert [swap_days(d, 5) for d in week] == [1, 1, 1, 1, 3, 0, 0]
    assert sum(swap_days(d, 5) for d in week) == 7


def test_swap_days_when_triple_weekday_is_a_weekend_day_then_it_never_applies() -> None:
    assert swap_days(SATURDAY, 6) == 0
    assert swap_days(WEDNESDAY, 6) == 1


def test_rollover_instant_when_midnight_then_ends_the_trading_day() -> None:
    """Wednesday's rollover at 00:00 UTC happens at Thursday 00:00 UTC."""
    assert rollover_instant(WEDNESDAY, time(0)) == datetime(2026, 11, 19, tzinfo=UTC)
    assert rollover_instant(WEDNESDAY, time(22)) == datetime(2026, 11, 18, 22, tzinfo=UTC)


def test_next_rollover_day_when_exactly_at_a_rollover_then_the_following_one() -> None:
    thursday_midnight = datetime(2026, 11, 19, tzinfo=UTC)
    assert next_rollover_day(datetime(2026, 11, 18, 23, 59, tzinfo=UTC), time(0)) == WEDNESDAY
    assert next_rollover_day(thursday_midnight, time(0)) == THURSDAY
    assert last_rollover_day(thursday_midnight, time(0)) == WEDNESDAY
    assert next_rollover_day(datetime(2026, 11, 18, 21, tzinfo=UTC), time(22)) == WEDNESDAY
    assert last_rollover_day(datetime(2026, 11, 18, 21, tzinfo=UTC), time(22)) == TUESDAY


def test_rollover_instant_when_time_has_a_zone_then_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        rollover_instant(FRIDAY, time(0, tzinfo=UTC))


# --- lot sizing ----------------------------------------------------------------------------------


def test_lot_for_risk_when_100_usd_at_50_points_on_eurusd_then_two_lots() -> None:
    """One lot loses 0.00050 x 100 000 = 50 USD; 100 / 50 = 2.00 lots."""
    per_lot = loss_per_lot(D("0.00050"), EURUSD, "USD", PRICES)
    assert lot_for_risk(D("100"), per_lot, EURUSD) == D("2.00")


def test_lot_for_risk_when_quotient_is_not_on_the_step_then_rounds_down() -> None:
    """100 / (0.00030 x 100 000 = 30) = 3.333 -> 3.33 lots (never up: 3.34 would risk 100.20)."""
    per_lot = loss_per_lot(D("0.00030"), EURUSD, "USD", PRICES)
    assert lot_for_risk(D("100"), per_lot, EURUSD) == D("3.33")


def test_lot_for_risk_when_usdjpy_in_usd_account_then_loss_converted() -> None:
    """0.200 x 100 000 = 20 000 JPY per lot / 151.5 = 132.01 USD; 100 / 132.01 = 0.7575 -> 0.75."""
    per_lot = loss_per_lot(D("0.200"), USDJPY, "USD", PRICES)
    assert lot_for_risk(D("100"), per_lot, USDJPY) == D("0.75")


def test_lot_for_risk_when_minimum_volume_risks_more_then_zero() -> None:
    per_lot = loss_per_lot(D("0.00500"), EURUSD, "USD", PRICES)  # 500 USD per lot
    assert str(lot_for_risk(D("1"), per_lot, EURUSD)) == "0"


def test_lot_for_risk_when_above_maximum_then_capped() -> None:
    per_lot = loss_per_lot(D("0.00010"), EURUSD, "USD", PRICES)
    assert lot_for_risk(D("1000000"), per_lot, EURUSD) == D("50.00")


def test_floor_to_step_when_step_is_not_a_power_of_ten_then_multiple_of_step() -> None:
    assert floor_to_step(D("1.2345"), D("0.05")) == D("1.20")
    assert floor_to_step(D("0.049"), D("0.05")) == D("0.00")
