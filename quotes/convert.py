"""The only place protobuf and the quotes domain meet."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.errors import InvalidArgument
from fxmesh.quotecache import ClientQuote
from fxmesh.v1 import quotes_markups_pb2, quotes_pb2, types_pb2
from quotes.candles import Candle, Timeframe
from quotes.domain import GroupMarkup, MarkupUnit, RawTick
from quotes.lpstats import FeedStatistics
from quotes.markups import GroupMarkupEntry, markup_of
from quotes.repository import KIND_CLIENT, KIND_RAW, TickRow, ms_datetime


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
        bid_levels=tuple((level.price, level.size) for level in quote.bid_levels),
        ask_levels=tuple((level.price, level.size) for level in quote.ask_levels),
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


_TIMEFRAMES: dict[int, Timeframe] = {
    quotes_pb2.TIMEFRAME_M1: Timeframe.M1,
    quotes_pb2.TIMEFRAME_M5: Timeframe.M5,
    quotes_pb2.TIMEFRAME_M15: Timeframe.M15,
    quotes_pb2.TIMEFRAME_M30: Timeframe.M30,
    quotes_pb2.TIMEFRAME_H1: Timeframe.H1,
    quotes_pb2.TIMEFRAME_H4: Timeframe.H4,
    quotes_pb2.TIMEFRAME_D1: Timeframe.D1,
    quotes_pb2.TIMEFRAME_W1: Timeframe.W1,
}
_KINDS: dict[int, str] = {
    quotes_pb2.TICK_KIND_UNSPECIFIED: KIND_CLIENT,
    quotes_pb2.TICK_KIND_CLIENT: KIND_CLIENT,
    quotes_pb2.TICK_KIND_RAW: KIND_RAW,
}
_KIND_PB = {KIND_CLIENT: quotes_pb2.TICK_KIND_CLIENT, KIND_RAW: quotes_pb2.TICK_KIND_RAW}


def timeframe(value: int) -> Timeframe | None:
    """The domain timeframe of a proto value (None for UNSPECIFIED or an unknown number)."""
    return _TIMEFRAMES.get(value)


def tick_kind(value: int) -> str:
    """The stored kind of a proto TickKind; an unknown number is INVALID_ARGUMENT."""
    kind = _KINDS.get(value)
    if kind is None:
        raise InvalidArgument(
            f"unknown tick kind {value}", reason="INVALID_TICK_KIND", metadata={"field": "kind"}
        )
    return kind


def optional_time(message: Any, field: str) -> datetime | None:
    """A Timestamp field as an aware UTC datetime, None when unset."""
    if not message.HasField(field):
        return None
    stamp: Timestamp = getattr(message, field)
    return ms_datetime(stamp.seconds * 1000 + stamp.nanos // 1_000_000)


def _timestamp(moment: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(moment)
    return ts


def tick(row: TickRow) -> quotes_pb2.Tick:
    moment, _symbol, kind, source, bid, ask, _group = row
    return quotes_pb2.Tick(
        tick_time=_timestamp(moment),
        bid=format(bid, "f"),
        ask=format(ask, "f"),
        source=source,
        kind=_KIND_PB[kind],
    )


def candle(bar: Candle) -> quotes_pb2.Candle:
    ts = Timestamp()
    ts.FromMilliseconds(bar.start_ms)
    return quotes_pb2.Candle(
        open_time=ts,
        open=format(bar.open, "f"),
        high=format(bar.high, "f"),
        low=format(bar.low, "f"),
        close=format(bar.close, "f"),
        tick_volume=bar.tick_volume,
        spread=bar.spread,
    )


def _ms_timestamp(ms: int | None) -> Timestamp | None:
    if ms is None:
        return None
    ts = Timestamp()
    ts.FromMilliseconds(ms)
    return ts


def lp_statistics(feeds: list[FeedStatistics], now_ms: int) -> quotes_pb2.ListLpStatisticsResponse:
    """LP statistics for admin's LP board."""
    return quotes_pb2.ListLpStatisticsResponse(
        feeds=[
            quotes_pb2.LpFeedStatistics(
                lp=f.lp,
                symbol=f.symbol,
                ticks_last_minute=f.ticks_last_minute,
                ticks_total=f.ticks_total,
                dropped_by_reason=f.dropped,
                dropped_total=sum(f.dropped.values()),
                latency_p50_ms=f.latency_p50_ms,
                latency_p99_ms=f.latency_p99_ms,
                last_tick_time=_ms_timestamp(f.last_tick_ms),
                streaming_since=_ms_timestamp(f.streaming_since_ms),
            )
            for f in feeds
        ],
        as_of=_ms_timestamp(now_ms),
    )


_UNITS: dict[quotes_markups_pb2.MarkupUnit.ValueType, MarkupUnit] = {
    quotes_markups_pb2.MARKUP_UNIT_POINTS: MarkupUnit.POINTS,
    quotes_markups_pb2.MARKUP_UNIT_PERCENT: MarkupUnit.PERCENT,
}
_UNIT_PB = {unit: pb for pb, unit in _UNITS.items()}


def group_markup_in(message: quotes_markups_pb2.GroupMarkup) -> GroupMarkup:
    """A validated group markup from its message (``quotes.markups.markup_of``)."""
    return markup_of(
        _UNITS.get(message.unit),
        message.markup_bid,
        message.markup_ask,
        message.min_spread_points,
    )


def group_markup(entry: GroupMarkupEntry) -> quotes_markups_pb2.GroupMarkup:
    stamp = Timestamp()
    stamp.FromDatetime(entry.updated_at)
    markup = entry.markup
    return quotes_markups_pb2.GroupMarkup(
        client_group=entry.client_group,
        symbol=entry.symbol,
        unit=_UNIT_PB[markup.unit],
        markup_bid=format(markup.bid.normalize(), "f"),
        markup_ask=format(markup.ask.normalize(), "f"),
        min_spread_points=markup.min_spread_points,
        update_time=stamp,
    )
