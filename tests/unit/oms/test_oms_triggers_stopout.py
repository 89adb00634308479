"""Stop-out / margin-call maths: the precise margin level and the threshold prices that arm it."""

from __future__ import annotations

from decimal import Decimal

from oms.domain import stopout
from oms.domain.model import AccountId, PositionId, Price, Side, SymbolSpec
from oms.domain.stopout import (
    AccountRisk,
    RiskPosition,
    Threshold,
    figures,
    margin_level,
    rate_dependent,
    raw_equity_and_margin,
    thresholds,
)

D = Decimal
ZERO_CUSHION = D(0)


def spec(symbol: str, digits: int = 5, contract: str = "100000") -> SymbolSpec:
    return SymbolSpec(
        symbol=symbol,
        base_currency=symbol[:3],
        quote_currency=symbol[3:],
        digits=digits,
        contract_size=D(contract),
        volume_min=D("0.01"),
        volume_max=D("50"),
        volume_step=D("0.01"),
        margin_percent=D(100),
        commission_per_lot=D(0),
        commission_currency="USD",
        default_deviation_points=20,
        enabled=True,
    )


EURUSD, GBPUSD, USDJPY = spec("EURUSD"), spec("GBPUSD"), spec("USDJPY", 3)


def pos(pid: int, s: SymbolSpec, side: Side, lots: str, open_price: str) -> RiskPosition:
    return RiskPosition(PositionId(pid), s, side, D(lots), D(open_price))


def account(balance: str, *positions: RiskPosition, currency: str = "USD") -> AccountRisk:
    return AccountRisk(AccountId(1), currency, D(balance), 100, tuple(positions))


def quotes(**prices: tuple[str, str]) -> dict[str, Price]:
    return {symbol: Price(D(bid), D(ask)) for symbol, (bid, ask) in prices.items()}


def raw_level(acc: AccountRisk, prices: dict[str, Price]) -> Decimal:
    equity, used = raw_equity_and_margin(acc, prices)
    return equity / used * 100


# --- golden examples -----------------------------------------------------------------------------

LONG_EURUSD = account("2000", pos(1, EURUSD, Side.BUY, "1", "1.10000"))
AT_OPEN = quotes(EURUSD=("1.10000", "1.10010"))


def test_margin_level_of_one_lot_eurusd_on_2000_usd_at_leverage_100() -> None:
    f = figures(LONG_EURUSD, AT_OPEN)

    assert (f.equity, f.margin, f.margin_level) == (D("2000.00"), D("1100.00"), D("181.82"))


def test_golden_stop_out_threshold_is_where_equity_falls_to_half_the_margin() -> None:
    # 50 % of 1100 = 550 USD equity: 1450 USD to lose at 100 000 EUR a pip-unit -> 0.01450.
    out = thresholds(LONG_EURUSD, AT_OPEN, D(50), cushion=ZERO_CUSHION)

    assert out.breached is False
    assert out.thresholds == (Threshold("EURUSD", Side.BUY, D("1.08550")),)
    assert margin_level(LONG_EURUSD, quotes(EURUSD=("1.08550", "1.08560"))) == D("50.00")


def test_golden_margin_call_threshold_is_where_equity_equals_the_margin() -> None:
    out = thresholds(LONG_EURUSD, AT_OPEN, D(100), cushion=ZERO_CUSHION)

    assert out.thresholds == (Threshold("EURUSD", Side.BUY, D("1.09100")),)


def test_cushion_places_the_threshold_earlier_rounded_towards_the_current_price() -> None:
    # 95 % of the 0.01450 distance = 0.013775 -> 1.086225, rounded up for a long: 1.08623.
    out = thresholds(LONG_EURUSD, AT_OPEN, D(50), cushion=D("0.05"))

    assert out.thresholds == (Threshold("EURUSD", Side.BUY, D("1.08623")),)


def test_short_exposure_threshold_is_above_the_ask() -> None:
    acc = account("2000", pos(1, EURUSD, Side.SELL, "1", "1.10010"))

    out = thresholds(acc, AT_OPEN, D(50), cushion=ZERO_CUSHION)

    # Margin 1100.10, equity to lose 1449.95: the ask may rise 0.0144995 -> 1.1145995, floored.
    assert out.thresholds == (Threshold("EURUSD", Side.SELL, D("1.11459")),)
    assert margin_level(acc, quotes(EURUSD=("1.11449", "1.11459"))) == D("50.09")


def test_account_already_below_the_level_is_breached_with_thresholds_at_market() -> None:
    acc = account("600", pos(1, EURUSD, Side.BUY, "1", "1.10000"))

    out = thresholds(acc, AT_OPEN, D(100))

    assert out.breached is True
    assert out.thresholds == (Threshold("EURUSD", Side.BUY, D("1.10000")),)


def test_account_without_positions_has_no_margin_level_and_no_thresholds() -> None:
    acc = account("1000")

    assert margin_level(acc, AT_OPEN) is None
    assert thresholds(acc, AT_OPEN, D(50)).thresholds == ()


# --- several symbols, hedging, non-linear conversion ---------------------------------------------


def test_two_symbols_at_their_thresholds_together_leave_the_account_at_the_stop_out_level() -> None:
    acc = account(
        "5000", pos(1, EURUSD, Side.BUY, "1", "1.10000"), pos(2, GBPUSD, Side.SELL, "1", "1.25000")
    )
    now = quotes(EURUSD=("1.10000", "1.10000"), GBPUSD=("1.25000", "1.25000"))

    out = thresholds(acc, now, D(50), cushion=ZERO_CUSHION)

    # The 3825 USD budget is shared by exposure value (110 000 : 125 000).
    assert out.thresholds == (
        Threshold("EURUSD", Side.BUY, D("1.08210")),
        Threshold("GBPUSD", Side.SELL, D("1.27034")),
    )
    both = quotes(EURUSD=("1.08210", "1.08210"), GBPUSD=("1.27034", "1.27034"))
    assert D(50) <= raw_level(acc, both) < D("50.1")


def test_hedged_account_is_armed_against_a_widening_spread() -> None:
    # Fully hedged: no net exposure, yet a wider spread costs both legs.
    acc = account(
        "3000", pos(1, EURUSD, Side.BUY, "1", "1.10000"), pos(2, EURUSD, Side.SELL, "1", "1.10010")
    )

    out = thresholds(acc, AT_OPEN, D(50), cushion=ZERO_CUSHION)

    bid_leg, ask_leg = out.thresholds
    assert (bid_leg.side, ask_leg.side) == (Side.BUY, Side.SELL)
    blown_out = quotes(EURUSD=(str(bid_leg.price), str(ask_leg.price)))
    # Each leg rounds by less than a point (1 USD here): within 0.2 of the level.
    assert D(50) <= raw_level(acc, blown_out) < D("50.2")
    assert margin_level(acc, quotes(EURUSD=("1.05000", "1.05010"))) == margin_level(acc, AT_OPEN)


def test_usdjpy_in_a_usd_account_threshold_is_exact_despite_the_conversion_through_its_price() -> (
    None
):
    acc = account("3000", pos(1, USDJPY, Side.BUY, "1", "150.000"))
    now = quotes(USDJPY=("150.000", "150.010"))

    (t,) = thresholds(acc, now, D(50), cushion=ZERO_CUSHION).thresholds

    assert t.price == D("146.342")
    at = quotes(USDJPY=(str(t.price), str(t.price + D("0.010"))))
    one_point_past = quotes(USDJPY=(str(t.price - D("0.001")), str(t.price + D("0.009"))))
    assert raw_level(acc, at) >= 50 > raw_level(acc, one_point_past)


def test_gap_far_past_the_threshold_is_seen_by_the_precise_check() -> None:
    gapped = quotes(EURUSD=("1.02000", "1.02010"))

    level = margin_level(LONG_EURUSD, gapped)

    assert level is not None
    assert level < 0  # equity is negative: stop-out, never skipped
    assert thresholds(LONG_EURUSD, gapped, D(50)).breached is True


def test_position_without_a_quote_counts_at_zero_profit_and_is_not_armed() -> None:
    acc = account(
        "3000", pos(1, EURUSD, Side.BUY, "1", "1.10000"), pos(2, GBPUSD, Side.BUY, "1", "1.2")
    )

    # Its margin (at the open price, USD already) still counts: 3000 / (1100 + 1200).
    assert margin_level(acc, AT_OPEN) == D("130.43")
    assert [t.symbol for t in thresholds(acc, AT_OPEN, D(50)).thresholds] == ["EURUSD"]


def test_eur_account_long_eurusd_threshold_accounts_for_the_usd_to_eur_conversion() -> None:
    acc = account("1500", pos(1, EURUSD, Side.BUY, "1", "1.10000"), currency="EUR")

    (t,) = thresholds(acc, AT_OPEN, D(50), cushion=ZERO_CUSHION).thresholds

    at = quotes(EURUSD=(str(t.price), str(t.price + D("0.00010"))))
    past = quotes(EURUSD=(str(t.price - D("0.00001")), str(t.price + D("0.00009"))))
    assert raw_level(acc, at) >= 50 > raw_level(acc, past)


def test_only_positions_quoted_in_another_currency_make_thresholds_drift() -> None:
    assert rate_dependent(LONG_EURUSD) is False  # USD profit, USD margin at the open price
    eur_account = account("1500", pos(1, EURUSD, Side.BUY, "1", "1.10000"), currency="EUR")
    assert rate_dependent(eur_account) is True  # USD profit converted at EURUSD


def test_solve_when_the_loss_is_capped_before_the_level_then_stops_at_the_cap() -> None:
    # A long position's loss stops growing once the price reaches its floor: the level is never
    # reached, and the solver must see that at once rather than double t forty more times (a
    # well-funded account is re-armed after every fill).
    calls: list[Decimal] = []

    def gap(t: Decimal) -> Decimal:
        calls.append(t)
        return Decimal(100) - Decimal(10) * min(t, Decimal(3))  # flat from t = 3 on, never < 0

    t = stopout._solve(gap, Decimal(100), tolerance=Decimal("1e-9"))

    assert gap(t) > 0
    assert t >= 3
    assert len(calls) <= 5
