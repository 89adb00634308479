"""Where the B-book fills a client order: pure checks on the current client quote."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from bbook.book import Side
from fxmesh.money import fmt
from fxmesh.quotecache import ClientQuote
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
) -> Decimal | Rejection:
    """The client price to fill at (BUY at the ask, SELL at the bid) or why not.

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
