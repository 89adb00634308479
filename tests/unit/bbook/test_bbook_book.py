"""The house book: exposure, average price, realized/unrealized P&L and USD notional."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bbook.book import BookFill, HouseBook, Side, SymbolPosition

D = Decimal
_ids = itertools.count(1)


def fill(
    side: Side,
    volume: str,
    price: str,
    symbol: str = "EURUSD",
    contract_size: str = "100000",
    rate: str = "1",
) -> BookFill:
    n = next(_ids)
    return BookFill(
        fill_id=f"f{n}",
        order_id=f"o{n}",
        account_id="1001",
        symbol=symbol,
        client_side=side,
        volume=D(volume),
        price=D(price),
        contract_size=D(contract_size),
        quote_to_usd_rate=D(rate),
        filled_at=datetime(2025, 1, 6, 12, 0, tzinfo=UTC),
    )


def test_apply_when_client_buys_then_house_is_short_at_the_fill_price() -> None:
    book = HouseBook()

    book.apply(fill(Side.BUY, "1.50", "1.08450"))

    position = book.position("EURUSD")
    assert position.net_lots == D("-1.50")
    assert position.avg_price == D("1.08450")
    assert position.realized_pnl_usd == 0


def test_apply_when_clients_buy_and_sell_then_house_net_is_the_opposite_sum() -> None:
    book = HouseBook()

    book.apply(fill(Side.BUY, "2", "1.1000"))
    book.apply(fill(Side.SELL, "0.5", "1.1010"))
    book.apply(fill(Side.SELL, "3", "1.0990", symbol="GBPUSD"))

    assert book.net_lots("EURUSD") == D("-1.5")
    assert book.net_lots("GBPUSD") == D("3")
    assert book.net_lots("USDJPY") == 0
    assert book.symbols() == ["EURUSD", "GBPUSD"]


def test_apply_when_house_adds_to_position_then_average_price_is_volume_weighted() -> None:
    book = HouseBook()

    book.apply(fill(Side.SELL, "1", "1.1000"))
    book.apply(fill(Side.SELL, "3", "1.1040"))

    assert book.position("EURUSD").avg_price == D("1.1030")
    assert book.position("EURUSD").net_lots == D(4)


def test_apply_when_client_partially_reduces_then_house_realizes_pnl_and_keeps_average() -> None:
    book = HouseBook()
    book.apply(fill(Side.BUY, "2", "1.1000"))  # house short 2 @ 1.1000

    realized = book.apply(fill(Side.SELL, "0.5", "1.0980"))  # house buys 0.5 back 20 pips lower

    position = book.position("EURUSD")
    assert realized == D("100")  # 0.5 lot x 100000 x 0.0020
    assert position.realized_pnl_usd == D("100")
    assert position.net_lots == D("-1.5")
    assert position.avg_price == D("1.1000")


def test_apply_when_client_reverses_then_remainder_opens_at_fill_price() -> None:
    book = HouseBook()
    book.apply(fill(Side.SELL, "1", "1.1000"))  # house long 1 @ 1.1000

    realized = book.apply(fill(Side.BUY, "3", "1.0950"))  # house sells 3: closes 1, short 2

    position = book.position("EURUSD")
    assert realized == D("-500")  # long 1 lot closed 50 pips lower
    assert position.net_lots == D(-2)
    assert position.avg_price == D("1.0950")


def test_apply_when_client_flattens_then_position_is_flat_without_negative_zero() -> None:
    book = HouseBook()
    book.apply(fill(Side.BUY, "0.10", "1.1000"))

    book.apply(fill(Side.SELL, "0.10", "1.1000"))

    position = book.position("EURUSD")
    assert position.net_lots == 0
    assert str(position.net_lots) == "0"
    assert position.avg_price == 0


def test_apply_when_quote_currency_is_not_usd_then_realized_pnl_is_converted() -> None:
    book = HouseBook()
    book.apply(fill(Side.BUY, "1", "150.00", symbol="USDJPY", rate="0.0066"))

    realized = book.apply(fill(Side.SELL, "1", "149.00", symbol="USDJPY", rate="0.0066"))

    assert realized == D("660.0000")  # 1 lot x 100000 x 1.00 JPY x 0.0066 USD/JPY


def test_apply_when_fill_id_repeats_then_rejects_it() -> None:
    book = HouseBook()
    first = fill(Side.BUY, "1", "1.1")
    book.apply(first)

    with pytest.raises(ValueError, match="already applied"):
        book.apply(first)
    assert book.net_lots("EURUSD") == D(-1)


def test_unrealized_pnl_when_house_is_short_then_marks_at_the_ask() -> None:
    position = SymbolPosition("EURUSD")
    position.apply(fill(Side.BUY, "1", "1.1000"))

    assert position.unrealized_pnl_usd(bid=D("1.0990"), ask=D("1.0992")) == D("80.0000")


def test_unrealized_pnl_when_house_is_long_then_marks_at_the_bid() -> None:
    position = SymbolPosition("XAUUSD")
    position.apply(fill(Side.SELL, "2", "2650.00", symbol="XAUUSD", contract_size="100"))

    assert position.unrealized_pnl_usd(bid=D("2649.00"), ask=D("2649.50")) == D("-200.00")


def test_notional_usd_when_house_holds_jpy_pair_then_converts_at_the_usd_rate() -> None:
    position = SymbolPosition("USDJPY")
    position.apply(fill(Side.BUY, "2", "150.000", symbol="USDJPY", rate="0.00666667"))

    # |-2| x 100000 x 150.000 x 0.00666667 USD per JPY
    assert position.notional_usd(D("150.000")) == D("200000.10")


def test_notional_usd_when_flat_then_zero() -> None:
    assert SymbolPosition("EURUSD").notional_usd(D("1.1")) == D("0.00")
