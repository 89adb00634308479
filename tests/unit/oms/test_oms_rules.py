"""Trading rules: when pending orders trigger, SL / TP hits, trailing moves, netting, sessions."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from oms.domain.model import (
    AccountId,
    CloseReason,
    DealEntry,
    InvalidOrderTransition,
    Order,
    OrderOrigin,
    OrderStatus,
    OrderTrigger,
    OrderType,
    PositionId,
    Price,
    Session,
    Side,
    TimeInForce,
)
from oms.domain.rules import (
    average_price,
    end_of_day,
    net_fill,
    parse_sessions,
    pending_action,
    protection_hit,
    session_open,
    trailing_improves,
)

D = Decimal
POINT = D("0.00001")


def working(
    type_: OrderType, side: Side, price: str, stop_limit: str | None = None, active: bool = False
) -> Order:
    return Order(
        account_id=AccountId(1),
        client_order_id="c",
        symbol="EURUSD",
        side=side,
        type=type_,
        time_in_force=TimeInForce.GTC,
        volume=D(1),
        price=D(price),
        stop_limit_price=D(stop_limit) if stop_limit else None,
        stop_limit_active=active,
        status=OrderStatus.WORKING,
    )


T, A = OrderTrigger.TRIGGER, OrderTrigger.ACTIVATE


@pytest.mark.parametrize(
    ("order", "bid", "ask", "action"),
    [
        (working(OrderType.LIMIT, Side.BUY, "1.08000"), "1.07990", "1.08000", T),
        (working(OrderType.LIMIT, Side.BUY, "1.08000"), "1.07995", "1.08005", None),
        # a buy watches the ask: a bid at the price does not trigger it
        (working(OrderType.LIMIT, Side.BUY, "1.08000"), "1.08000", "1.08010", None),
        (working(OrderType.STOP, Side.BUY, "1.09000"), "1.08990", "1.09000", T),
        (working(OrderType.STOP, Side.BUY, "1.09000"), "1.08980", "1.08990", None),
        (working(OrderType.LIMIT, Side.SELL, "1.09000"), "1.09000", "1.09010", T),
        (working(OrderType.LIMIT, Side.SELL, "1.09000"), "1.08990", "1.09000", None),
        (working(OrderType.STOP, Side.SELL, "1.08000"), "1.07950", "1.07960", T),  # a gap
        (working(OrderType.STOP, Side.SELL, "1.08000"), "1.08010", "1.08020", None),
        (working(OrderType.STOP_LIMIT, Side.BUY, "1.09000", "1.08950"), "1.08990", "1.09000", A),
        (working(OrderType.STOP_LIMIT, Side.BUY, "1.09000", "1.08950"), "1.08980", "1.08990", None),
        (
            working(OrderType.STOP_LIMIT, Side.BUY, "1.09000", "1.08950", active=True),
            "1.08940",
            "1.08950",
            T,
        ),
        (
            working(OrderType.STOP_LIMIT, Side.BUY, "1.09000", "1.08950", active=True),
            "1.08990",
            "1.09000",
            None,
        ),
        (working(OrderType.STOP_LIMIT, Side.SELL, "1.08000", "1.08050"), "1.08000", "1.08010", A),
        (
            working(OrderType.STOP_LIMIT, Side.SELL, "1.08000", "1.08050", active=True),
            "1.08050",
            "1.08060",
            T,
        ),
    ],
)
def test_pending_action_when_quote_moves_then_triggers_on_its_side(
    order: Order, bid: str, ask: str, action: OrderTrigger | None
) -> None:
    assert pending_action(order, Price(D(bid), D(ask))) is action


def test_pending_action_when_order_not_working_then_nothing() -> None:
    order = working(OrderType.LIMIT, Side.BUY, "1.08000")
    order.status = OrderStatus.CANCELLED
    assert pending_action(order, Price(D("1.07"), D("1.07"))) is None


def test_activate_when_stop_limit_reached_then_works_as_limit_with_reason() -> None:
    order = working(OrderType.STOP_LIMIT, Side.BUY, "1.09000", "1.08950")
    assert order.limit_price == D("1.08950")
    order.activate()
    assert order.status is OrderStatus.WORKING
    assert order.stop_limit_active is True
    assert order.unsaved[-1].reason == "STOP_PRICE_REACHED"
    with pytest.raises(InvalidOrderTransition):
        order.activate()  # once only


def test_activate_when_not_a_stop_limit_then_refused() -> None:
    with pytest.raises(InvalidOrderTransition):
        working(OrderType.LIMIT, Side.BUY, "1.08").activate()


def test_order_limit_price_when_type_then_limit_for_limits_and_none_at_market() -> None:
    assert working(OrderType.LIMIT, Side.BUY, "1.08").limit_price == D("1.08")
    assert working(OrderType.STOP, Side.BUY, "1.09").limit_price is None


def test_order_close_reason_when_origin_then_matches() -> None:
    order = working(OrderType.LIMIT, Side.BUY, "1.08")
    assert order.close_reason is CloseReason.NETTING
    order.position_id = PositionId(3)
    assert order.close_reason is CloseReason.CLIENT
    order.origin = OrderOrigin.STOP_OUT
    assert order.close_reason is CloseReason.STOP_OUT


# --- protection ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "sl", "tp", "bid", "ask", "hit"),
    [
        (Side.BUY, "1.08000", "1.09000", "1.08000", "1.08010", CloseReason.STOP_LOSS),
        (Side.BUY, "1.08000", "1.09000", "1.08001", "1.08011", None),
        (Side.BUY, "1.08000", "1.09000", "1.09000", "1.09010", CloseReason.TAKE_PROFIT),
        (Side.BUY, None, "1.09000", "1.07000", "1.07010", None),
        # a sell closes at the ask
        (Side.SELL, "1.09000", "1.08000", "1.08990", "1.09000", CloseReason.STOP_LOSS),
        (Side.SELL, "1.09000", "1.08000", "1.08000", "1.08010", None),
        (Side.SELL, "1.09000", "1.08000", "1.07990", "1.08000", CloseReason.TAKE_PROFIT),
    ],
)
def test_protection_hit_when_closing_price_reaches_sl_or_tp_then_reason(
    side: Side, sl: str | None, tp: str | None, bid: str, ask: str, hit: CloseReason | None
) -> None:
    found = protection_hit(
        side, D(sl) if sl else None, D(tp) if tp else None, Price(D(bid), D(ask))
    )
    assert found is hit


@pytest.mark.parametrize(
    ("side", "current", "candidate", "step", "moves"),
    [
        (Side.BUY, None, "1.08000", 0, True),
        (Side.BUY, "1.08000", "1.08010", 10, True),
        (Side.BUY, "1.08000", "1.08009", 10, False),  # less than the step
        (Side.BUY, "1.08000", "1.07990", 0, False),  # against the client
        (Side.SELL, "1.09000", "1.08990", 10, True),
        (Side.SELL, "1.09000", "1.09010", 0, False),
    ],
)
def test_trailing_when_candidate_stop_then_moves_only_in_favour_by_step(
    side: Side, current: str | None, candidate: str, step: int, moves: bool
) -> None:
    assert (
        trailing_improves(side, D(current) if current else None, D(candidate), step, POINT) is moves
    )


# --- netting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("held", "volume", "fill_side", "fill_volume", "entry", "closed", "opened"),
    [
        (None, "0", Side.BUY, "1", DealEntry.IN, "0", "1"),
        (Side.BUY, "1", Side.BUY, "0.5", DealEntry.IN, "0", "0.5"),
        (Side.BUY, "1", Side.SELL, "0.4", DealEntry.OUT, "0.4", "0"),
        (Side.BUY, "1", Side.SELL, "1", DealEntry.OUT, "1", "0"),
        (Side.BUY, "1", Side.SELL, "1.5", DealEntry.INOUT, "1", "0.5"),
    ],
)
def test_net_fill_when_fill_meets_position_then_in_out_or_inout(
    held: Side | None,
    volume: str,
    fill_side: Side,
    fill_volume: str,
    entry: DealEntry,
    closed: str,
    opened: str,
) -> None:
    outcome = net_fill(held, D(volume), fill_side, D(fill_volume))
    assert (outcome.entry, outcome.closed_volume, outcome.opened_volume) == (
        entry,
        D(closed),
        D(opened),
    )


def test_average_price_when_adding_then_volume_weighted() -> None:
    assert average_price(D(1), D("1.08450"), D(1), D("1.08470")) == D("1.0846")
    assert average_price(D(1), D("1.00000"), D(2), D("1.00003")) == D("1.00002")


# --- sessions --------------------------------------------------------------------------------


def test_sessions_when_parsed_then_24_00_is_end_of_day() -> None:
    sessions = parse_sessions([{"weekday": 5, "from": "00:00", "to": "22:00"}])
    assert sessions == (Session(5, 0, 1320),)
    friday = datetime(2026, 11, 20, 21, 59, tzinfo=UTC)
    assert session_open(sessions, friday)
    assert not session_open(sessions, friday.replace(hour=22, minute=0))
    assert session_open(
        parse_sessions([{"weekday": 6, "from": "00:00", "to": "24:00"}]),
        datetime(2026, 11, 21, 23, 59, tzinfo=UTC),
    )


def test_sessions_when_none_configured_then_always_open() -> None:
    assert session_open((), datetime(2026, 11, 21, tzinfo=UTC))


def test_end_of_day_when_any_time_then_next_utc_midnight() -> None:
    assert end_of_day(datetime(2026, 11, 18, 13, 5, tzinfo=UTC)) == datetime(
        2026, 11, 19, tzinfo=UTC
    )
