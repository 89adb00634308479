"""The order state table and the money formulas of the account of record."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from oms.domain.model import (
    TRANSITIONS,
    AccountId,
    InvalidOrderTransition,
    NoConversionRate,
    Order,
    OrderStatus,
    OrderTrigger,
    OrderType,
    Price,
    Side,
    SymbolSpec,
    TimeInForce,
    account_figures,
    commission,
    conversion_rate,
    margin,
    next_status,
    profit,
    volume_problem,
)

D = Decimal


def spec(
    symbol: str, *, digits: int = 5, contract: str = "100000", comm: str = "3.50"
) -> SymbolSpec:
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
        commission_per_lot=D(comm),
        commission_currency="USD",
        default_deviation_points=20,
        enabled=True,
    )


EURUSD = spec("EURUSD")
USDJPY = spec("USDJPY", digits=3)
XAUUSD = spec("XAUUSD", digits=2, contract="100", comm="5.00")
EURGBP = spec("EURGBP")


def market_order(volume: str = "1.00") -> Order:
    return Order(
        account_id=AccountId(1),
        client_order_id="c-1",
        symbol="EURUSD",
        side=Side.BUY,
        type=OrderType.MARKET,
        time_in_force=TimeInForce.IOC,
        volume=D(volume),
    )


# --- state table -----------------------------------------------------------------------------


LEGAL = sorted(TRANSITIONS.items())


@pytest.mark.parametrize(("move", "target"), LEGAL, ids=[f"{s}-{t}" for (s, t), _ in LEGAL])
def test_apply_trigger_when_move_is_in_table_then_reaches_its_target(
    move: tuple[OrderStatus, OrderTrigger], target: OrderStatus
) -> None:
    state, trigger = move
    assert next_status(state, trigger) is target


ILLEGAL = [(s, t) for s in OrderStatus for t in OrderTrigger if (s, t) not in TRANSITIONS]


@pytest.mark.parametrize(("state", "trigger"), ILLEGAL, ids=[f"{s}-{t}" for s, t in ILLEGAL])
def test_apply_trigger_when_move_is_not_in_table_then_raises_naming_state_and_trigger(
    state: OrderStatus, trigger: OrderTrigger
) -> None:
    with pytest.raises(InvalidOrderTransition) as info:
        next_status(state, trigger)
    assert info.value.state is state
    assert info.value.trigger is trigger
    assert state.value in str(info.value)
    assert trigger.value in str(info.value)
    assert info.value.reason == "INVALID_ORDER_TRANSITION"


def test_terminal_states_when_any_trigger_then_nothing_moves() -> None:
    for state in (
        OrderStatus.FILLED,
        OrderStatus.REJECTED,
        OrderStatus.CANCELLED,
        OrderStatus.EXPIRED,
    ):
        assert not [t for (s, t) in TRANSITIONS if s is state]


def test_market_order_when_accepted_submitted_and_filled_then_records_each_transition() -> None:
    order = market_order()
    order.accept()
    order.apply(OrderTrigger.SUBMIT)
    order.record_fill(D("0.40"), D("1.08450"))
    order.record_fill(D("0.60"), D("1.08460"))
    assert order.status is OrderStatus.FILLED
    assert order.filled_volume == D("1.00")
    assert order.avg_fill_price == D("1.08456")
    assert [(t.from_status, t.to_status) for t in order.unsaved] == [
        (OrderStatus.PENDING, OrderStatus.ACCEPTED),
        (OrderStatus.ACCEPTED, OrderStatus.FILLING),
        (OrderStatus.FILLING, OrderStatus.PARTIALLY_FILLED),
        (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED),
    ]


def test_stop_limit_when_parked_activated_rearmed_and_filled_then_every_move_recorded() -> None:
    order = replace(
        market_order(),
        type=OrderType.STOP_LIMIT,
        time_in_force=TimeInForce.GTC,
        price=D("1.09000"),
        stop_limit_price=D("1.08950"),
    )
    order.accept()
    order.apply(OrderTrigger.PARK)
    order.activate()
    order.apply(OrderTrigger.TRIGGER, "PRICE_REACHED")
    order.apply(OrderTrigger.REARM, "LIMIT_NOT_REACHED")  # the venue could not fill at the limit
    order.apply(OrderTrigger.TRIGGER, "PRICE_REACHED")
    order.record_fill(D("1.00"), D("1.08950"))
    assert [(t.to_status, t.reason) for t in order.unsaved] == [
        (OrderStatus.ACCEPTED, "ACCEPT"),
        (OrderStatus.WORKING, "PARK"),
        (OrderStatus.WORKING, "STOP_PRICE_REACHED"),
        (OrderStatus.FILLING, "PRICE_REACHED"),
        (OrderStatus.WORKING, "LIMIT_NOT_REACHED"),
        (OrderStatus.FILLING, "PRICE_REACHED"),
        (OrderStatus.FILLED, "FILL"),
    ]


def test_market_order_when_venue_refuses_then_it_never_works_again() -> None:
    order = market_order()
    order.accept()
    with pytest.raises(InvalidOrderTransition):
        order.apply(OrderTrigger.REARM)  # ACCEPTED: not in the table
    order.apply(OrderTrigger.SUBMIT)
    order.reject("LIMIT_NOT_REACHED", "no")
    assert order.is_terminal


def test_fill_when_it_would_exceed_volume_then_refused() -> None:
    order = market_order("0.10")
    order.accept()
    order.apply(OrderTrigger.SUBMIT)
    with pytest.raises(ValueError, match="overfill"):
        order.record_fill(D("0.20"), D("1.1"))


def test_filled_order_when_rejected_later_then_raises() -> None:
    order = market_order()
    order.accept()
    order.apply(OrderTrigger.SUBMIT)
    order.record_fill(D("1.00"), D("1.1"))
    with pytest.raises(InvalidOrderTransition, match="REJECT is not allowed in state FILLED"):
        order.reject("LATE", "too late")


# --- P&L, margin, commission -----------------------------------------------------------------


def test_profit_when_buy_eurusd_one_lot_closes_at_bid_50_points_up_then_plus_50_usd() -> None:
    prices = {"EURUSD": Price(D("1.08500"), D("1.08510"))}
    pnl = profit(Side.BUY, D("1.0"), D("1.08450"), D("1.08500"), EURUSD, "USD", prices)
    assert pnl == D("50.00")
    assert str(pnl) == "50.00"


def test_profit_when_sell_eurusd_and_price_rises_then_loss() -> None:
    pnl = profit(Side.SELL, D("0.5"), D("1.08450"), D("1.08550"), EURUSD, "USD", {})
    assert pnl == D("-50.00")


def test_profit_when_usdjpy_in_usd_account_then_converted_by_usdjpy_rate() -> None:
    prices = {"USDJPY": Price(D("151.600"), D("151.600"))}
    # 0.100 JPY x 100000 x 1 lot = 10000 JPY; / 151.600 = 65.96 USD
    pnl = profit(Side.BUY, D("1"), D("151.500"), D("151.600"), USDJPY, "USD", prices)
    assert pnl == D("65.96")


def test_profit_when_xauusd_buy_one_lot_up_ten_dollars_then_plus_1000_usd() -> None:
    pnl = profit(Side.BUY, D("1"), D("2650.00"), D("2660.00"), XAUUSD, "USD", {})
    assert pnl == D("1000.00")


def test_conversion_when_only_cross_through_usd_then_multiplies_legs() -> None:
    prices = {"GBPUSD": Price(D("1.25"), D("1.25")), "EURUSD": Price(D("1.10"), D("1.10"))}
    assert conversion_rate("GBP", "EUR", prices) == D("1.25") / D("1.10")


def test_conversion_when_no_quote_then_raises() -> None:
    with pytest.raises(NoConversionRate):
        conversion_rate("JPY", "USD", {})


def test_margin_when_eurusd_in_usd_account_then_notional_over_leverage() -> None:
    assert margin(D("1"), D("1.08450"), 100, EURUSD, "USD", {}) == D("1084.50")


def test_margin_when_usdjpy_in_usd_account_then_contract_over_leverage() -> None:
    assert margin(D("1"), D("151.500"), 100, USDJPY, "USD", {}) == D("1000")


def test_margin_when_xauusd_then_contract_times_price_over_leverage() -> None:
    assert margin(D("0.5"), D("2650.00"), 100, XAUUSD, "USD", {}) == D("1325")


def test_margin_when_margin_percent_500_then_five_times() -> None:
    btc = replace(
        XAUUSD, symbol="BTCUSD", base_currency="BTC", contract_size=D(1), margin_percent=D(500)
    )
    assert margin(D("1"), D("67000"), 100, btc, "USD", {}) == D("3350")


def test_commission_when_one_lot_then_per_lot_rate_in_account_currency() -> None:
    assert commission(D("1"), EURUSD, "USD", {}) == D("3.50")
    assert commission(D("0.03"), EURUSD, "USD", {}) == D("0.10")  # 0.105 -> banker's 0.10


def test_commission_when_account_in_eur_then_converted() -> None:
    prices = {"EURUSD": Price(D("1.25"), D("1.25"))}
    assert commission(D("1"), EURUSD, "EUR", prices) == D("2.80")


@pytest.mark.parametrize(
    ("volume", "reason"),
    [("0.001", "VOLUME_TOO_SMALL"), ("50.01", "VOLUME_TOO_LARGE"), ("0.015", "VOLUME_STEP")],
)
def test_volume_when_outside_symbol_rules_then_reason(volume: str, reason: str) -> None:
    problem = volume_problem(D(volume), EURUSD)
    assert problem is not None
    assert problem[0] == reason


def test_volume_when_valid_then_no_problem() -> None:
    assert volume_problem(D("0.10"), EURUSD) is None


def test_account_figures_when_margin_in_use_then_level_is_equity_over_margin() -> None:
    fig = account_figures(D("10000.00"), D("50.00"), D("1084.50"), "USD")
    assert fig.equity == D("10050.00")
    assert fig.free_margin == D("8965.50")
    assert fig.margin_level == D("926.69")


def test_account_figures_when_no_margin_then_level_empty() -> None:
    assert account_figures(D("100"), D(0), D(0), "USD").margin_level is None
