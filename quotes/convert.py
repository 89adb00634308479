"""The only place protobuf and the quotes domain meet."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.quotecache import ClientQuote
from fxmesh.v1 import types_pb2
from quotes.domain import RawTick


def raw_tick(quote: types_pb2.Quote) -> RawTick:
    """An LP tick from the gateway; an unset quote_time means "now" (the receipt time)."""
    ts_ms: int | None = None
    if quote.HasField("quote_time"):
        ts_ms = quote.quote_time.seconds * 1000 + quote.quote_time.nanos // 1_000_000
    return RawTick(
        symbol=quote.symbol.strip().upper(),
        bid=quote.bid,
        ask=quote.ask,
        ts_ms=ts_ms,
        source=quote.source,
    )


def client_quote(quote: ClientQuote) -> types_pb2.Quote:
    ts = Timestamp()
    ts.FromMilliseconds(quote.ts_ms)
    return types_pb2.Quote(
        symbol=quote.symbol,
        bid=format(quote.bid, "f"),
        ask=format(quote.ask, "f"),
        quote_time=ts,
        source=quote.source,
    )
