"""The price-sorted trigger book: which quote fires which pending order, SL, TP, trailing stop,
expiry and margin threshold, and that each fires once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from oms.domain.model import AccountId, OrderId, OrderType, PositionId, Side
from oms.domain.stopout import Threshold
from oms.triggers.book import FiredKind, ProtectedPosition, TriggerBook, TriggerKind, WorkingOrder

D = Decimal
ACC = AccountId(7)
POINT = D("0.00001")
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # a Monday


def order(
    oid: int,
    side: Side,
    type_: OrderType,
    price: str,
    *,
    stop_limit: str | None = None,
    expire_at: datetime | None = None,
    symbol: str = "EURUSD",
    account: int = 7,
) -> WorkingOrder:
    return WorkingOrder(
        OrderId(oid),
        AccountId(account),
        symbol,
        side,
        type_,
        D(price),
        stop_limit_price=D(stop_limit) if stop_limit else None,
        expire_at=expire_at,
    )


def position(
    pid: int,
    side: Side,
    open_price: str,
    *,
    sl: str | None = None,
    tp: str | None = None,
    trail: int = 0,
    step: int = 0,
) -> ProtectedPosition:
    return ProtectedPosition(
        PositionId(pid),
        ACC,
        "EURUSD",
        side,
        D(open_price),
        POINT,
        stop_loss=D(sl) if sl else None,
        take_profit=D(tp) if tp else None,
        trailing_distance_points=trail,
        trailing_step_points=step,
    )


def tick(book: TriggerBook, bid: str, ask: str, symbol: str = "EURUSD") -> list[tuple[str, int]]:
    return [(f.kind.value, f.ref) for f in book.on_quote(symbol, D(bid), D(ask))]


# --- pending orders ------------------------------------------------------------------------------


def test_buy_limit_fires_when_the_ask_falls_to_its_price_not_when_the_bid_does() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.BUY, OrderType.LIMIT, "1.10000"))

    assert tick(book, "1.09990", "1.10010") == []  # the bid is through the price, the ask is not
    fired = book.on_quote("EURUSD", D("1.09985"), D("1.10000"))

    assert [(f.kind, f.ref, f.price) for f in fired] == [(FiredKind.TRIGGER_ORDER, 1, D("1.10000"))]


def test_buy_stop_fires_when_the_ask_rises_to_its_price() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.BUY, OrderType.STOP, "1.10500"))

    assert tick(book, "1.10495", "1.10499") == []
    assert tick(book, "1.10495", "1.10500") == [("order", 1)]


def test_sell_limit_fires_when_the_bid_rises_to_its_price_not_when_the_ask_does() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.SELL, OrderType.LIMIT, "1.10500"))

    assert tick(book, "1.10495", "1.10505") == []
    fired = book.on_quote("EURUSD", D("1.10501"), D("1.10511"))

    assert [(f.kind, f.price) for f in fired] == [(FiredKind.TRIGGER_ORDER, D("1.10501"))]


def test_sell_stop_fires_when_the_bid_falls_to_its_price() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.SELL, OrderType.STOP, "1.09500"))

    assert tick(book, "1.09501", "1.09495") == []
    assert tick(book, "1.09500", "1.09510") == [("order", 1)]


def test_gapped_quote_fires_every_order_it_passed_and_none_beyond() -> None:
    book = TriggerBook()
    for oid, price in enumerate(["1.10100", "1.10200", "1.10300", "1.10400"], start=1):
        book.upsert_order(order(oid, Side.BUY, OrderType.STOP, price))
    book.upsert_order(order(9, Side.BUY, OrderType.LIMIT, "1.09000"))

    fired = tick(book, "1.10340", "1.10350")  # from 1.10000 straight past three stops

    assert sorted(fired) == [("order", 1), ("order", 2), ("order", 3)]
    assert book.order(OrderId(4)) is not None
    assert book.order(OrderId(9)) is not None


def test_an_order_fires_once_until_it_is_armed_again() -> None:
    book = TriggerBook()
    working = order(1, Side.BUY, OrderType.LIMIT, "1.10000")
    book.upsert_order(working)

    assert tick(book, "1.09980", "1.09990") == [("order", 1)]
    assert tick(book, "1.09970", "1.09980") == []
    book.upsert_order(working)  # e.g. the execution failed and the order is still WORKING
    assert tick(book, "1.09970", "1.09980") == [("order", 1)]


def test_modified_order_fires_at_its_new_price_only() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.BUY, OrderType.LIMIT, "1.10000"))
    book.upsert_order(order(1, Side.BUY, OrderType.LIMIT, "1.09500"))

    assert tick(book, "1.09990", "1.10000") == []
    assert tick(book, "1.09490", "1.09500") == [("order", 1)]
    assert book.sizes()[TriggerKind.ORDER] == 0


def test_cancelled_order_never_fires() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.SELL, OrderType.LIMIT, "1.10500"))
    assert book.remove_order(OrderId(1)) is not None

    assert tick(book, "1.20000", "1.20010") == []
    assert book.remove_order(OrderId(1)) is None


def test_stop_limit_activates_on_its_stop_then_works_as_a_limit_at_its_limit_price() -> None:
    book = TriggerBook()
    stop_limit = order(1, Side.BUY, OrderType.STOP_LIMIT, "1.10500", stop_limit="1.10450")
    book.upsert_order(stop_limit)

    fired = book.on_quote("EURUSD", D("1.10490"), D("1.10510"))
    assert [f.kind for f in fired] == [FiredKind.ACTIVATE_STOP_LIMIT]
    assert fired[0].order == stop_limit

    book.upsert_order(replace(stop_limit, stop_limit_active=True))  # the core re-arms it
    assert tick(book, "1.10470", "1.10480") == []  # above the limit: a buy limit waits
    assert [f.kind for f in book.on_quote("EURUSD", D("1.10440"), D("1.10450"))] == [
        FiredKind.TRIGGER_ORDER
    ]


def test_orders_of_other_symbols_do_not_fire() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.BUY, OrderType.LIMIT, "150.000", symbol="USDJPY"))

    assert tick(book, "1.00000", "1.00010") == []
    assert tick(book, "149.990", "150.000", symbol="USDJPY") == [("order", 1)]


def test_market_orders_cannot_be_armed() -> None:
    with pytest.raises(ValueError, match="market"):
        TriggerBook().upsert_order(order(1, Side.BUY, OrderType.MARKET, "1.1"))


# --- stop loss / take profit ---------------------------------------------------------------------


def test_buy_position_stop_loss_fires_on_the_bid() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.BUY, "1.10000", sl="1.09500", tp="1.11000"))

    assert tick(book, "1.09510", "1.09490") == []
    fired = book.on_quote("EURUSD", D("1.09500"), D("1.09520"))

    assert [(f.kind, f.price) for f in fired] == [(FiredKind.STOP_LOSS, D("1.09500"))]
    assert tick(book, "1.12000", "1.12010") == []  # closing: its take profit went with it


def test_buy_position_take_profit_fires_when_the_bid_rises_to_it() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.BUY, "1.10000", sl="1.09500", tp="1.11000"))

    assert tick(book, "1.10990", "1.11010") == []  # the ask is there, the bid is not
    assert tick(book, "1.11000", "1.11010") == [("take_profit", 1)]


def test_sell_position_stop_loss_and_take_profit_fire_on_the_ask() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.SELL, "1.10000", sl="1.10500", tp="1.09500"))
    book.upsert_position(position(2, Side.SELL, "1.10000", sl="1.10500", tp="1.09500"))
    book.remove_position(PositionId(2))

    assert tick(book, "1.10500", "1.10499") == []  # bid at the SL does not close a sell
    assert tick(book, "1.09495", "1.09505") == []  # bid past the TP does not either
    assert tick(book, "1.09480", "1.09500") == [("take_profit", 1)]


def test_gap_through_a_stop_loss_fires_at_the_gapped_price() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.SELL, "1.10000", sl="1.10500"))

    fired = book.on_quote("EURUSD", D("1.12000"), D("1.12020"))

    assert [(f.kind, f.price) for f in fired] == [(FiredKind.STOP_LOSS, D("1.12020"))]


# --- trailing stops ------------------------------------------------------------------------------


def test_trailing_stop_starts_once_the_position_is_its_distance_in_profit() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.BUY, "1.10000", trail=100))  # 100 points = 0.00100

    assert tick(book, "1.10099", "1.10109") == []
    fired = book.on_quote("EURUSD", D("1.10100"), D("1.10110"))

    assert [(f.kind, f.stop_loss) for f in fired] == [(FiredKind.TRAIL, D("1.10000"))]
    held = book.position(PositionId(1))
    assert held is not None
    assert held.stop_loss == D("1.10000")


def test_trailing_stop_moves_only_by_its_step_or_more() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.BUY, "1.10000", sl="1.10050", trail=100, step=20))

    assert tick(book, "1.10169", "1.10179") == []  # new SL 1.10069: improvement 19 < 20 points
    fired = book.on_quote("EURUSD", D("1.10170"), D("1.10180"))

    assert [f.stop_loss for f in fired] == [D("1.10070")]


def test_trailing_stop_never_moves_against_the_client_and_then_closes_the_position() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.BUY, "1.10000", trail=100))
    book.on_quote("EURUSD", D("1.10300"), D("1.10310"))  # SL -> 1.10200

    assert tick(book, "1.10250", "1.10260") == []  # price falls back: the SL stays
    held = book.position(PositionId(1))
    assert held is not None
    assert held.stop_loss == D("1.10200")
    assert tick(book, "1.10200", "1.10210") == [("stop_loss", 1)]


def test_sell_trailing_stop_follows_the_ask_down() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.SELL, "1.10000", trail=50, step=10))

    fired = book.on_quote("EURUSD", D("1.09930"), D("1.09940"))  # 60 points in profit
    assert [f.stop_loss for f in fired] == [D("1.09990")]
    assert tick(book, "1.09925", "1.09935") == []  # 5 points better: below the step
    fired = book.on_quote("EURUSD", D("1.09910"), D("1.09920"))
    assert [f.stop_loss for f in fired] == [D("1.09970")]
    assert tick(book, "1.09960", "1.09970") == [("stop_loss", 1)]


def test_position_closing_on_its_stop_does_not_trail_in_the_same_tick() -> None:
    book = TriggerBook()
    book.upsert_position(position(1, Side.BUY, "1.10000", sl="1.09900", tp="1.10050", trail=40))

    assert tick(book, "1.10060", "1.10070") == [("take_profit", 1)]
    assert book.position(PositionId(1)) is None
    assert len(book) == 0


# --- expiry --------------------------------------------------------------------------------------


def test_gtd_order_expires_at_its_time_and_not_before() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.BUY, OrderType.LIMIT, "1.09000", expire_at=T0))
    book.upsert_order(order(2, Side.BUY, OrderType.LIMIT, "1.09000", expire_at=T0 + timedelta(1)))

    assert book.pop_expired(T0 - timedelta(seconds=1)) == []
    fired = book.pop_expired(T0)

    assert [(f.kind, f.ref, f.at) for f in fired] == [(FiredKind.EXPIRE, 1, T0)]
    assert tick(book, "1.08000", "1.08010") == [("order", 2)]  # the expired one is gone
    assert book.next_expiry() is None  # a triggered order no longer waits for its expiry


# --- margin thresholds ---------------------------------------------------------------------------


def test_long_threshold_fires_on_the_bid_and_short_threshold_on_the_ask() -> None:
    book = TriggerBook()
    book.set_thresholds(
        AccountId(1), TriggerKind.STOP_OUT, [Threshold("EURUSD", Side.BUY, D("1.08000"))]
    )
    book.set_thresholds(
        AccountId(2), TriggerKind.STOP_OUT, [Threshold("EURUSD", Side.SELL, D("1.12000"))]
    )

    assert tick(book, "1.08001", "1.11999") == []
    assert tick(book, "1.07000", "1.07010") == [("risk_check", 1)]  # a gap far past it
    assert tick(book, "1.11990", "1.12000") == [("risk_check", 2)]


def test_first_crossed_threshold_of_an_account_disarms_all_of_them_for_one_check() -> None:
    book = TriggerBook()
    book.set_thresholds(
        ACC,
        TriggerKind.STOP_OUT,
        [Threshold("EURUSD", Side.BUY, D("1.08000")), Threshold("GBPUSD", Side.BUY, D("1.2"))],
    )
    book.set_thresholds(ACC, TriggerKind.MARGIN_CALL, [Threshold("EURUSD", Side.BUY, D("1.09"))])

    assert tick(book, "1.07000", "1.07010") == [("risk_check", 7)]
    assert tick(book, "1.10000", "1.10010", symbol="GBPUSD") == []
    assert len(book) == 0


def test_recomputed_thresholds_replace_the_old_ones() -> None:
    book = TriggerBook()
    book.set_thresholds(ACC, TriggerKind.STOP_OUT, [Threshold("EURUSD", Side.BUY, D("1.08"))])
    book.set_thresholds(ACC, TriggerKind.STOP_OUT, [Threshold("EURUSD", Side.BUY, D("1.05"))])

    assert tick(book, "1.07000", "1.07010") == []
    assert book.thresholds_of(ACC, TriggerKind.STOP_OUT) == [
        Threshold("EURUSD", Side.BUY, D("1.05"))
    ]


def test_book_sizes_are_counted_by_kind() -> None:
    book = TriggerBook()
    book.upsert_order(order(1, Side.BUY, OrderType.LIMIT, "1.09", expire_at=T0))
    book.upsert_position(position(1, Side.BUY, "1.1", sl="1.09", tp="1.11", trail=10))
    book.set_thresholds(ACC, TriggerKind.MARGIN_CALL, [Threshold("EURUSD", Side.BUY, D("1.0"))])

    sizes = book.sizes()

    assert sizes[TriggerKind.ORDER] == 1
    assert sizes[TriggerKind.STOP_LOSS] == sizes[TriggerKind.TAKE_PROFIT] == 1
    assert sizes[TriggerKind.TRAILING] == 1
    assert sizes[TriggerKind.MARGIN_CALL] == 1
    assert sizes[TriggerKind.STOP_OUT] == 0
    assert sizes[TriggerKind.EXPIRY] == 1


def test_one_tick_fires_in_the_order_the_price_meets_them_and_equal_prices_first_come_first() -> (
    None
):
    book = TriggerBook()
    book.upsert_order(order(1, Side.BUY, OrderType.LIMIT, "1.09990"))
    book.upsert_order(order(2, Side.BUY, OrderType.LIMIT, "1.10000"))
    book.upsert_order(order(3, Side.BUY, OrderType.LIMIT, "1.10000"))
    book.upsert_order(order(4, Side.BUY, OrderType.STOP, "1.10200"))
    book.upsert_order(order(5, Side.BUY, OrderType.STOP, "1.10100"))

    assert [ref for _, ref in tick(book, "1.09970", "1.09980")] == [2, 3, 1]
    assert [ref for _, ref in tick(book, "1.10290", "1.10300")] == [5, 4]
