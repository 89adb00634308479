"""The Redis documents of client prices, formatted without ``json``: byte for byte what
``ClientQuote.to_json`` writes for the same quote (readers parse either)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fxmesh.quotecache import ClientQuote
from quotes.domain import PricedQuote
from quotes.quotewriter import client_quote, document

D = Decimal

QUOTES = [
    PricedQuote(
        "EURUSD", D("1.09995"), D("1.10007"), 1_700_000_000_123, "LP1", D("0.00005"), D("0")
    ),
    PricedQuote(
        "USDJPY", D("149.120"), D("149.135"), 1, "LP1,LP2", D("0.005"), D("0.006"), group="vip"
    ),
    PricedQuote("XAUUSD", D("2000.10"), D("2000.90"), 0, "", D("0E-2"), D("-0.01"), group="g-1"),
    PricedQuote("BTCUSD", D("1E+2"), D("100.5"), 5, "LP", D("0"), D("0.5"), group='odd "grüppe"\\'),
    PricedQuote(
        "EURUSD",
        D("1.1"),
        D("1.2"),
        7,
        "LP1",
        D("0.1"),
        D("0.1"),
        ((D("1.1"), D("100000")), (D("1.0"), D("2E+5"))),
        ((D("1.2"), D("50000")),),
        "depth",
    ),
]


@pytest.mark.parametrize("quote", QUOTES, ids=lambda q: f"{q.symbol}-{q.group or 'default'}")
def test_document_is_to_json(quote: PricedQuote) -> None:
    expected = ClientQuote(
        quote.symbol,
        quote.bid,
        quote.ask,
        quote.ts_ms,
        markup_bid=quote.markup_bid,
        markup_ask=quote.markup_ask,
        bids=quote.bids,
        asks=quote.asks,
        group=quote.group,
    )
    assert client_quote(quote) == expected
    assert document(quote) == expected.to_json()
    assert ClientQuote.from_json(document(quote), depth=True) == expected
