"""Where the B-book fills (client quote checks) and when it asks for a hedge."""

from __future__ import annotations

from decimal import Decimal

from bbook.book import Side
from bbook.limits import HedgeRequest, check_limit
from bbook.pricing import Rejection, fill_price
from fxmesh.quotecache import ClientQuote

D = Decimal
NOW = 1_736_164_800_000
QUOTE = ClientQuote("EURUSD", D("1.08440"), D("1.08460"), NOW - 100)


def price(side: Side, quote: ClientQuote | None = QUOTE, **kw: Decimal) -> Decimal | Rejection:
    return fill_price(quote, "EURUSD", side, now_ms=NOW, max_quote_age_ms=5000, **kw)


def test_fill_price_when_client_buys_then_fills_at_the_ask() -> None:
    assert price(Side.BUY) == D("1.08460")


def test_fill_price_when_client_sells_then_fills_at_the_bid() -> None:
    assert price(Side.SELL) == D("1.08440")


def test_fill_price_when_no_quote_then_rejects_no_quote() -> None:
    result = price(Side.BUY, None)

    assert isinstance(result, Rejection)
    assert result.reason == "NO_QUOTE"


def test_fill_price_when_quote_older_than_limit_then_rejects_quote_stale() -> None:
    stale = ClientQuote("EURUSD", D("1.08440"), D("1.08460"), NOW - 5001)

    result = price(Side.BUY, stale)

    assert isinstance(result, Rejection)
    assert result.reason == "QUOTE_STALE"


def test_fill_price_when_price_moved_beyond_deviation_then_requotes_with_current_price() -> None:
    result = price(Side.BUY, requested_price=D("1.08400"), max_deviation=D("0.00050"))

    assert isinstance(result, Rejection)
    assert result.reason == "PRICE_DEVIATION_EXCEEDED"
    assert "1.08460" in result.message


def test_fill_price_when_price_moved_within_deviation_then_fills() -> None:
    assert price(Side.SELL, requested_price=D("1.08400"), max_deviation=D("0.00040")) == D(
        "1.08440"
    )


def test_fill_price_when_no_deviation_given_then_accepts_any_price() -> None:
    assert price(Side.BUY, requested_price=D("1.00000")) == D("1.08460")


def test_fill_price_when_ask_at_or_below_buy_limit_then_fills_at_the_ask() -> None:
    assert price(Side.BUY, limit_price=D("1.08500")) == D("1.08460")
    assert price(Side.BUY, limit_price=D("1.08460")) == D("1.08460")


def test_fill_price_when_ask_above_buy_limit_then_limit_not_reached_naming_both_prices() -> None:
    result = price(Side.BUY, limit_price=D("1.08450"))

    assert isinstance(result, Rejection)
    assert result.reason == "LIMIT_NOT_REACHED"
    assert "1.08460" in result.message
    assert "1.08450" in result.message


def test_fill_price_when_bid_below_sell_limit_then_limit_not_reached() -> None:
    result = price(Side.SELL, limit_price=D("1.08441"))

    assert isinstance(result, Rejection)
    assert result.reason == "LIMIT_NOT_REACHED"
    assert price(Side.SELL, limit_price=D("1.08000")) == D("1.08440")


def test_fill_price_when_limit_given_on_stale_quote_then_still_quote_stale() -> None:
    stale = ClientQuote("EURUSD", D("1.08440"), D("1.08460"), NOW - 5001)

    result = price(Side.BUY, stale, limit_price=D("2"))

    assert isinstance(result, Rejection)
    assert result.reason == "QUOTE_STALE"


def test_check_limit_when_fill_grows_net_beyond_limit_then_requests_hedge_of_excess() -> None:
    request = check_limit({"EURUSD": D(10)}, "EURUSD", D(-9), D(-12), "f1")

    assert request == HedgeRequest("EURUSD", D(-12), D(10), D(-2), "f1")


def test_check_limit_when_fill_reduces_net_still_beyond_limit_then_no_hedge() -> None:
    assert check_limit({"EURUSD": D(10)}, "EURUSD", D(15), D(12), "f1") is None


def test_check_limit_when_within_limit_or_no_limit_then_no_hedge() -> None:
    assert check_limit({"EURUSD": D(10)}, "EURUSD", D(9), D(10), "f1") is None
    assert check_limit({}, "EURUSD", D(0), D(1000), "f1") is None
