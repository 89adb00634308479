"""Where the B-book fills a client order: pure checks on the current client quote.

Depth: when the quote carries levels (``ClientQuote.bids`` / ``asks``) and the order is larger
than the best level, it fills at the volume-weighted price of the levels it would take, best
first; what exceeds the whole depth shown is priced at the last level (the book shows no better),
and the price is rounded against the client to the quote's decimals. A quote without depth, or an
order the best level covers, fills at the top of book as before. The limit price and the client's
allowed deviation are checked against that price: the price the client gets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from bbook.book import Side
from fxmesh.money import fmt
from fxmesh.quotecache import ClientQuote, PriceLevel
from fxmesh.reasons import Reason


@dataclass(frozen=True, slots=True)
class Rejection:
    """A business reject: UPPER_SNAKE reason and a message for the client."""

    reason: str
    message: str


def fill_price(
    quote: ClientQuote | None,
    symbol: str,
    side: Side,
    *,
    now_ms: int,
    max_quote_age_ms: int,
    requested_price: Decimal | None = None,
    max_deviation: Decimal | None = None,
    limit_price: Decimal | None = None,
    units: Decimal | None = None,
) -> Decimal | Rejection:
    """The client price to fill at (BUY at the ask, SELL at the bid) or why not.

    ``units`` (lots x contract size) sizes the order against the quote's depth (module doc).
    Never fills on a missing or stale quote; with a limit price, never fills a BUY above it or a
    SELL below it (a better price goes to the client); with a requested price and a maximum
    deviation, a fill further away than the deviation is a requote naming the current price.
    """
    if quote is None:
        return Rejection(Reason.NO_QUOTE, f"no price for {symbol}")
    age = quote.age_ms(now_ms)
    if age > max_quote_age_ms:
        return Rejection(
            Reason.QUOTE_STALE, f"price for {symbol} is {age} ms old (limit {max_quote_age_ms} ms)"
        )
    price = quote.ask if side is Side.BUY else quote.bid
    levels = quote.asks if side is Side.BUY else quote.bids
    if units is not None and levels and units > levels[0][1]:
        price = depth_price(levels, units, side)
    if limit_price is not None and (
        price > limit_price if side is Side.BUY else price < limit_price
    ):
        where = "ask" if side is Side.BUY else "bid"
        beyond = "above" if side is Side.BUY else "below"
        return Rejection(
            Reason.LIMIT_NOT_REACHED,
            f"{symbol} {side.value} {where} {fmt(price)} is {beyond} the limit {fmt(limit_price)}",
        )
    if (
        requested_price is not None
        and max_deviation is not None
        and abs(price - requested_price) > max_deviation
    ):
        return Rejection(
            Reason.PRICE_DEVIATION_EXCEEDED,
            f"requote: {symbol} {side.value} is now {fmt(price)} "
            f"(requested {fmt(requested_price)}, max deviation {fmt(max_deviation)})",
        )
    return price


def depth_price(levels: Sequence[PriceLevel], units: Decimal, side: Side) -> Decimal:
    """The volume-weighted price of ``units`` taken from ``levels`` (best first), rounded against
    the client (a BUY up, a SELL down) to the levels' decimals."""
    left, cost = units, Decimal(0)
    price = levels[0][0]
    for price, size in levels:
        take = min(left, size)
        cost += take * price
        left -= take
        if left <= 0:
            break
    cost += left * price  # beyond the depth shown: the last level's price
    exponent = min(p.as_tuple().exponent for p, _ in levels)
    assert isinstance(exponent, int)
    quantum = Decimal(1).scaleb(exponent)
    rounding = ROUND_CEILING if side is Side.BUY else ROUND_FLOOR
    return (cost / units).quantize(quantum, rounding=rounding)
