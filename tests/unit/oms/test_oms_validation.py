"""Every reason oms refuses an order, a close or a modification, one scenario each (pure)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from fxmesh.errors import InvalidArgument
from oms.domain.accounting import MarginLeg
from oms.domain.model import (
    Account,
    AccountId,
    OpenPosition,
    Order,
    OrderType,
    PositionId,
    Price,
    Session,
    Side,
    SymbolSpec,
    TimeInForce,
)
from oms.domain.validation import (
    Exposure,
    check_precision,
    validate_close,
    validate_modify_order,
    validate_modify_position,
    validate_order,
    validate_triggered,
)

D = Decimal
WEDNESDAY = datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
FX_WEEK = (
    Session(7, 22 * 60, 1440),
    *(Session(d, 0, 1440) for d in (1, 2, 3, 4)),
    Session(5, 0, 22 * 60),
)
EURUSD = SymbolSpec(
    symbol="EURUSD",
    base_currency="EUR",
    quote_currency="USD",
    digits=5,
    contract_size=D(100000),
    volume_min=D("0.01"),
    volume_max=D(50),
    volume_step=D("0.01"),
    margin_percent=D(100),
    commission_per_lot=D("3.50"),
    commission_currency="USD",
    default_deviation_points=20,
    enabled=True,
    stops_level_points=10,
    sessions=FX_WEEK,
)
SYMBOLS = {"EURUSD": EURUSD}
QUOTE = Price(D("1.08440"), D("1.08450"))
PRICES = {"EURUSD": QUOTE}


def account(**changes: Any) -> Account:
    base = Account(
        account_id=AccountId(1),
        login="t",
        type="DEMO",
        currency="USD",
        leverage=100,
        margin_mode="HEDGING",
        status="ACTIVE",
        client_group="retail",
        balance=D("10000.00"),
        margin_call_level=D(100),
        stop_out_level=D(50),
        created_at=WEDNESDAY,
    )
    return replace(base, **changes)


def order(
    type_: OrderType = OrderType.MARKET, side: Side = Side.BUY, volume: str = "1.00", **kw: Any
) -> Order:
    tif = TimeInForce.IOC if type_ is OrderType.MARKET else TimeInForce.GTC
    fields: dict[str, Any] = {"time_in_force": tif, **kw}
    return Order(
        account_id=AccountId(1),
        client_order_id="c",
        symbol=fields.pop("symbol", "EURUSD"),
        side=side,
        type=type_,
        volume=D(volume),
        **fields,
    )


def problem_of(o: Order, acc: Account | None = None, **kw: Any) -> str | None:
    exposure = kw.pop("exposure", Exposure())
    prices = kw.pop("prices", PRICES)
    now = kw.pop("now", WEDNESDAY)
    symbols = kw.pop("symbols", SYMBOLS)
    found = validate_order(
        acc or account(), o, symbols.get(o.symbol), exposure, symbols, prices, now
    )
    return found.code if found else None


# --- accepted --------------------------------------------------------------------------------


def test_market_order_when_everything_is_fine_then_no_problem() -> None:
    assert problem_of(order()) is None


@pytest.mark.parametrize(
    ("type_", "side", "price", "stop_limit"),
    [
        (OrderType.LIMIT, Side.BUY, "1.08400", None),
        (OrderType.STOP, Side.BUY, "1.08500", None),
        (OrderType.LIMIT, Side.SELL, "1.08500", None),
        (OrderType.STOP, Side.SELL, "1.08400", None),
        (OrderType.STOP_LIMIT, Side.BUY, "1.08500", "1.08480"),
        (OrderType.STOP_LIMIT, Side.SELL, "1.08400", "1.08420"),
    ],
)
def test_pending_order_when_price_on_its_side_then_no_problem(
    type_: OrderType, side: Side, price: str, stop_limit: str | None
) -> None:
    o = order(type_, side, price=D(price), stop_limit_price=D(stop_limit) if stop_limit else None)
    assert problem_of(o) is None


# --- account, symbol, session ----------------------------------------------------------------


def test_order_when_symbol_unknown_then_unknown_symbol() -> None:
    assert problem_of(order(symbol="NOPE")) == "UNKNOWN_SYMBOL"


def test_order_when_symbol_disabled_then_symbol_disabled() -> None:
    symbols = {"EURUSD": replace(EURUSD, enabled=False)}
    assert problem_of(order(), symbols=symbols) == "SYMBOL_DISABLED"


def test_order_when_saturday_for_fx_then_market_closed() -> None:
    assert problem_of(order(), now=SATURDAY) == "MARKET_CLOSED"


def test_order_when_sunday_after_22_utc_then_market_open() -> None:
    assert problem_of(order(), now=datetime(2026, 11, 22, 22, 0, tzinfo=UTC)) is None
    assert problem_of(order(), now=datetime(2026, 11, 22, 21, 59, tzinfo=UTC)) == "MARKET_CLOSED"


def test_order_when_account_suspended_then_account_not_active() -> None:
    assert problem_of(order(), account(status="SUSPENDED")) == "ACCOUNT_NOT_ACTIVE"


def test_netting_order_when_suspended_and_it_only_reduces_then_allowed() -> None:
    acc = account(status="SUSPENDED", margin_mode="NETTING")
    held = Exposure(positions=(OpenPosition(PositionId(7), "EURUSD", Side.BUY, D(2), D("1.08")),))
    assert problem_of(order(side=Side.SELL, volume="1.00"), acc, exposure=held) is None
    assert problem_of(order(side=Side.SELL, volume="3.00"), acc, exposure=held) == (
        "ACCOUNT_NOT_ACTIVE"
    )


def test_order_when_account_closed_then_account_not_active() -> None:
    assert problem_of(order(), account(status="CLOSED")) == "ACCOUNT_NOT_ACTIVE"


# --- volume ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "reason"),
    [("0.001", "VOLUME_TOO_SMALL"), ("51", "VOLUME_TOO_LARGE"), ("0.015", "VOLUME_STEP")],
)
def test_order_when_volume_breaks_symbol_rules_then_reason(volume: str, reason: str) -> None:
    assert problem_of(order(volume=volume)) == reason


# --- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "side", "price", "stop_limit"),
    [
        (OrderType.LIMIT, Side.BUY, "1.08450", None),  # at the ask: not below it
        (OrderType.LIMIT, Side.BUY, "1.08460", None),
        (OrderType.STOP, Side.BUY, "1.08440", None),
        (OrderType.LIMIT, Side.SELL, "1.08430", None),
        (OrderType.STOP, Side.SELL, "1.08450", None),
        (OrderType.LIMIT, Side.BUY, "1.08445", None),  # 5 points below the ask: level is 10
        (OrderType.STOP_LIMIT, Side.BUY, "1.08400", "1.08380"),  # stop below the ask
        (OrderType.STOP_LIMIT, Side.BUY, "1.08500", "1.08520"),  # buy limit above its stop
        (OrderType.STOP_LIMIT, Side.SELL, "1.08400", "1.08380"),  # sell limit below its stop
        (OrderType.STOP_LIMIT, Side.BUY, "1.08500", None),  # no limit price
    ],
)
def test_pending_order_when_price_on_wrong_side_or_too_close_then_invalid_price(
    type_: OrderType, side: Side, price: str, stop_limit: str | None
) -> None:
    o = order(type_, side, price=D(price), stop_limit_price=D(stop_limit) if stop_limit else None)
    assert problem_of(o) == "INVALID_PRICE"


@pytest.mark.parametrize(
    ("side", "stop_loss", "take_profit"),
    [
        (Side.BUY, "1.08450", None),  # SL of a buy must be below the bid 1.08440
        (Side.BUY, None, "1.08430"),  # TP of a buy must be above the bid
        (Side.SELL, "1.08440", None),  # SL of a sell must be above the ask 1.08450
        (Side.SELL, None, "1.08460"),  # TP of a sell must be below the ask
        (Side.BUY, "1.08435", None),  # 5 points from the bid: stops level is 10
        (Side.SELL, None, "1.08445"),
    ],
)
def test_market_order_when_sl_or_tp_wrong_side_or_too_close_then_invalid_stops(
    side: Side, stop_loss: str | None, take_profit: str | None
) -> None:
    o = order(
        side=side,
        stop_loss=D(stop_loss) if stop_loss else None,
        take_profit=D(take_profit) if take_profit else None,
    )
    assert problem_of(o) == "INVALID_STOPS"


def test_market_order_when_sl_and_tp_exactly_at_stops_level_then_accepted() -> None:
    o = order(stop_loss=D("1.08430"), take_profit=D("1.08450"))
    assert problem_of(o) is None


def test_pending_order_when_stops_measured_from_its_price_then_checked_against_it() -> None:
    limit = order(OrderType.LIMIT, price=D("1.08000"), stop_loss=D("1.07950"))
    assert problem_of(limit) is None
    wrong = order(OrderType.LIMIT, price=D("1.08000"), take_profit=D("1.07990"))
    assert problem_of(wrong) == "INVALID_STOPS"


# --- time in force ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type_", "tif", "expire_at"),
    [
        (OrderType.LIMIT, TimeInForce.GTD, None),
        (OrderType.LIMIT, TimeInForce.GTD, datetime(2026, 11, 18, 11, 0, tzinfo=UTC)),
        (OrderType.LIMIT, TimeInForce.IOC, None),
        (OrderType.STOP, TimeInForce.FOK, None),
        (OrderType.MARKET, TimeInForce.GTC, None),
        (OrderType.LIMIT, TimeInForce.GTC, datetime(2026, 11, 19, tzinfo=UTC)),
    ],
)
def test_order_when_time_in_force_does_not_fit_then_invalid_expiration(
    type_: OrderType, tif: TimeInForce, expire_at: datetime | None
) -> None:
    o = order(type_, price=D("1.08000"), time_in_force=tif, expire_at=expire_at)
    assert problem_of(o) == "INVALID_EXPIRATION"


def test_gtd_order_when_expiry_in_future_then_accepted() -> None:
    o = order(
        OrderType.LIMIT,
        price=D("1.08000"),
        time_in_force=TimeInForce.GTD,
        expire_at=datetime(2026, 11, 19, tzinfo=UTC),
    )
    assert problem_of(o) is None


# --- quotes, money, limits -------------------------------------------------------------------


def test_order_when_no_quote_then_no_quote() -> None:
    assert problem_of(order(), prices={}) == "NO_QUOTE"


def test_order_when_margin_and_commission_exceed_free_margin_then_not_enough_money() -> None:
    # 10 lots EURUSD at 1.08450, 1:100: 10845.00 margin > 10000.00
    assert problem_of(order(volume="10")) == "NOT_ENOUGH_MONEY"


def test_order_when_it_hedges_an_open_position_then_no_extra_margin_needed() -> None:
    poor = account(balance=D("1200.00"))
    held = Exposure(positions=(OpenPosition(PositionId(1), "EURUSD", Side.BUY, D(1), QUOTE.ask),))
    assert problem_of(order(volume="1.00"), poor, exposure=held) == "NOT_ENOUGH_MONEY"
    assert problem_of(order(side=Side.SELL, volume="1.00"), poor, exposure=held) is None


def test_order_when_orders_in_flight_hold_the_margin_then_not_enough_money() -> None:
    busy = Exposure(in_flight=(MarginLeg("EURUSD", Side.BUY, D(9), QUOTE.ask),))
    assert problem_of(order(volume="1.00"), exposure=busy) == "NOT_ENOUGH_MONEY"


def test_order_when_max_open_positions_reached_then_max_positions() -> None:
    held = Exposure(positions=(OpenPosition(PositionId(1), "EURUSD", Side.BUY, D("0.1"), D(1)),))
    assert problem_of(order(), account(max_open_positions=1), exposure=held) == "MAX_POSITIONS"
    assert problem_of(order(), account(max_open_positions=2), exposure=held) is None


def test_netting_order_when_it_adds_to_held_symbol_then_not_a_new_position() -> None:
    held = Exposure(positions=(OpenPosition(PositionId(1), "EURUSD", Side.BUY, D("0.1"), D(1)),))
    acc = account(max_open_positions=1, margin_mode="NETTING")
    assert problem_of(order(volume="0.10"), acc, exposure=held) is None


def test_order_when_daily_volume_would_be_exceeded_then_max_daily_volume() -> None:
    acc = account(max_daily_volume=D("2.00"))
    assert problem_of(order(volume="0.50"), acc, exposure=Exposure(volume_today=D("1.50"))) is None
    assert problem_of(order(volume="0.51"), acc, exposure=Exposure(volume_today=D("1.50"))) == (
        "MAX_DAILY_VOLUME"
    )


def test_triggered_order_when_margin_gone_then_not_enough_money() -> None:
    o = order(OrderType.LIMIT, volume="5", price=D("1.08000"))
    poor = account(balance=D("1000.00"))
    found = validate_triggered(poor, o, EURUSD, Exposure(), SYMBOLS, PRICES)
    assert found is not None
    assert found.code == "NOT_ENOUGH_MONEY"


def test_price_when_more_places_than_symbol_digits_then_invalid_precision_error() -> None:
    with pytest.raises(InvalidArgument) as info:
        check_precision(EURUSD, {"stop_loss": D("1.084501")})
    assert info.value.reason == "INVALID_PRECISION"
    check_precision(EURUSD, {"stop_loss": D("1.08450"), "take_profit": None})


# --- closes and modifications ----------------------------------------------------------------


def test_close_when_account_suspended_then_allowed_but_closed_account_refused() -> None:
    ok = validate_close(account(status="SUSPENDED"), EURUSD, D(1), D(1), PRICES, WEDNESDAY)
    assert ok is None
    closed = validate_close(account(status="CLOSED"), EURUSD, D(1), D(1), PRICES, WEDNESDAY)
    assert closed is not None
    assert closed.code == "ACCOUNT_NOT_ACTIVE"


@pytest.mark.parametrize(
    ("volume", "available", "reason"),
    [
        ("1.50", "1.00", "VOLUME_TOO_LARGE"),
        ("0.005", "1.00", "VOLUME_TOO_SMALL"),
        ("0.015", "1.00", "VOLUME_STEP"),
        ("1.00", "0", "POSITION_CLOSING"),
    ],
)
def test_close_when_volume_does_not_fit_then_reason(
    volume: str, available: str, reason: str
) -> None:
    found = validate_close(account(), EURUSD, D(volume), D(available), PRICES, WEDNESDAY)
    assert found is not None
    assert found.code == reason


def test_close_when_market_closed_then_refused_unless_raised_by_the_server() -> None:
    found = validate_close(account(), EURUSD, D(1), D(1), PRICES, SATURDAY)
    assert found is not None
    assert found.code == "MARKET_CLOSED"
    assert validate_close(account(), EURUSD, D(1), D(1), PRICES, None) is None


def test_modify_order_when_new_price_on_wrong_side_then_invalid_price() -> None:
    working = order(OrderType.LIMIT, price=D("1.08460"))
    found = validate_modify_order(working, EURUSD, QUOTE, WEDNESDAY)
    assert found is not None
    assert found.code == "INVALID_PRICE"


def test_modify_active_stop_limit_when_limit_checked_against_market_then_as_a_limit() -> None:
    active = order(
        OrderType.STOP_LIMIT,
        price=D("1.08400"),  # its stop was reached earlier; the stop is history now
        stop_limit_price=D("1.08300"),
        stop_limit_active=True,
    )
    assert validate_modify_order(active, EURUSD, QUOTE, WEDNESDAY) is None


def test_modify_position_when_sl_too_close_to_market_then_invalid_stops() -> None:
    found = validate_modify_position(Side.BUY, D("1.08435"), None, 0, EURUSD, QUOTE)
    assert found is not None
    assert found.code == "INVALID_STOPS"
    assert validate_modify_position(Side.BUY, D("1.08400"), D("1.09000"), 0, EURUSD, QUOTE) is None


def test_modify_position_when_trailing_distance_below_stops_level_then_invalid_stops() -> None:
    found = validate_modify_position(Side.BUY, None, None, 5, EURUSD, QUOTE)
    assert found is not None
    assert found.code == "INVALID_STOPS"
