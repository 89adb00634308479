"""The B-book prices an order larger than the best level across the quote's depth (VWAP)."""

from __future__ import annotations

from decimal import Decimal

from bbook.book import Side
from bbook.pricing import Rejection, depth_price, fill_price
from fxmesh.quotecache import ClientQuote

D = Decimal
NOW = 1_736_164_800_000
LOT = D(100_000)
# A three-level book: 1, 5 and 20 lots on each side.
BIDS = ((D("1.08440"), 1 * LOT), (D("1.08435"), 5 * LOT), (D("1.08425"), 20 * LOT))
ASKS = ((D("1.08460"), 1 * LOT), (D("1.08465"), 5 * LOT), (D("1.08480"), 20 * LOT))
DEEP = ClientQuote("EURUSD", D("1.08440"), D("1.08460"), NOW - 100, bids=BIDS, asks=ASKS)


def price(side: Side, lots: str, quote: ClientQuote = DEEP, **kw: Decimal) -> Decimal | Rejection:
    return fill_price(
        quote, "EURUSD", side, now_ms=NOW, max_quote_age_ms=5000, units=D(lots) * LOT, **kw
    )


def test_order_within_the_best_level_fills_at_the_top() -> None:
    assert price(Side.BUY, "1") == D("1.08460")
    assert price(Side.SELL, "0.5") == D("1.08440")


def test_twenty_lot_buy_fills_at_the_vwap_of_the_three_levels_rounded_up() -> None:
    # 1 x 1.08460 + 5 x 1.08465 + 14 x 1.08480 = 21.69505 over 20 lots = 1.0847525 -> 1.08476
    assert price(Side.BUY, "20") == D("1.08476")


def test_twenty_lot_sell_fills_at_the_vwap_rounded_down() -> None:
    # 1 x 1.08440 + 5 x 1.08435 + 14 x 1.08425 = 21.68565 over 20 = 1.0842825 -> 1.08428
    assert price(Side.SELL, "20") == D("1.08428")


def test_beyond_the_whole_depth_the_rest_is_priced_at_the_last_level() -> None:
    # 26 lots shown; 30 lots: 1 x 1.08460 + 5 x 1.08465 + 24 x 1.08480 = 32.54305 / 30
    assert depth_price(ASKS, 30 * LOT, Side.BUY) == D("1.08477")


def test_deviation_is_checked_against_the_depth_price() -> None:
    within = price(Side.BUY, "20", requested_price=D("1.08460"), max_deviation=D("0.00020"))
    beyond = price(Side.BUY, "20", requested_price=D("1.08460"), max_deviation=D("0.00010"))

    assert within == D("1.08476")
    assert isinstance(beyond, Rejection)
    assert beyond.reason == "PRICE_DEVIATION_EXCEEDED"
    assert "1.08476" in beyond.message


def test_limit_is_checked_against_the_depth_price() -> None:
    result = price(Side.BUY, "20", limit_price=D("1.08470"))

    assert isinstance(result, Rejection)
    assert result.reason == "LIMIT_NOT_REACHED"


def test_quote_without_depth_fills_any_size_at_the_top() -> None:
    top_only = ClientQuote("EURUSD", D("1.08440"), D("1.08460"), NOW - 100)

    assert price(Side.BUY, "20", top_only) == D("1.08460")


def test_quote_document_when_read_for_pricing_then_levels_come_back_exactly() -> None:
    again = ClientQuote.from_json(DEEP.to_json(), depth=True)

    assert again == DEEP
    assert price(Side.BUY, "20", again) == D("1.08476")


def test_quote_document_when_read_by_a_tick_subscriber_then_levels_are_skipped() -> None:
    # edge, oms triggers and router flow parse every tick and never price from depth.
    again = ClientQuote.from_json(DEEP.to_json())

    assert (again.bid, again.ask, again.bids, again.asks) == (DEEP.bid, DEEP.ask, (), ())
