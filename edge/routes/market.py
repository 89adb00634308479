"""Market history for charts: client ticks and candles (OHLC), from quotes over gRPC.

Any authenticated client may read any symbol's history (it is the same for every account until
client groups get their own markup). Prices are decimal strings, times ISO-8601 UTC, windows
``[from, to)``; ``limit`` (default 500) takes the newest of the window and a limit over 5000 is a
422 ``LIMIT_OUT_OF_RANGE`` rather than a silently shorter answer. Ticks are newest first; candles
oldest first (chart order), the last one possibly the current candle, live. Unknown symbol: 404
``UNKNOWN_SYMBOL``; unknown timeframe: 422 ``INVALID_TIMEFRAME`` naming the valid ones; ``from``
not before ``to``: 422 ``INVALID_TIME_RANGE``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from edge.convert import timestamp_json, timestamp_pb
from edge.deps import Client, Resources
from edge.openapi import OhlcResponse, TicksResponse, responses
from edge.schemas import OhlcQuery, TicksQuery
from fxmesh.v1 import quotes_pb2

router = APIRouter(prefix="/api", tags=["market"])
TIMEFRAMES_PB = {
    "1m": quotes_pb2.TIMEFRAME_M1,
    "5m": quotes_pb2.TIMEFRAME_M5,
    "15m": quotes_pb2.TIMEFRAME_M15,
    "30m": quotes_pb2.TIMEFRAME_M30,
    "1h": quotes_pb2.TIMEFRAME_H1,
    "4h": quotes_pb2.TIMEFRAME_H4,
    "1d": quotes_pb2.TIMEFRAME_D1,
    "1w": quotes_pb2.TIMEFRAME_W1,
}


def _window(query: TicksQuery) -> dict[str, Any]:
    window: dict[str, Any] = {}
    if query.from_time is not None:
        window["from_time"] = timestamp_pb(query.from_time)
    if query.to_time is not None:
        window["to_time"] = timestamp_pb(query.to_time)
    return window


@router.get(
    "/ticks",
    summary="Tick history",
    response_model=None,
    responses=responses(TicksResponse),
)
async def ticks(
    query: Annotated[TicksQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """The newest ``limit`` client ticks of ``symbol`` in [from, to), newest first."""
    reply = await res.quotes.GetTicks(
        quotes_pb2.GetTicksRequest(
            symbol=query.symbol,
            limit=query.limit,
            kind=quotes_pb2.TICK_KIND_CLIENT,
            **_window(query),
        ),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return {
        "symbol": reply.symbol,
        "ticks": [
            {"time": timestamp_json(t.tick_time), "bid": t.bid, "ask": t.ask} for t in reply.ticks
        ],
    }


@router.get(
    "/ohlc",
    summary="Candles (OHLC)",
    response_model=None,
    responses=responses(OhlcResponse),
)
async def ohlc(
    query: Annotated[OhlcQuery, Query()], client: Client, res: Resources
) -> dict[str, Any]:
    """The newest ``limit`` candles of ``symbol`` starting in [from, to), oldest first: time
    (bucket start, UTC; weeks start Sunday 00:00 UTC), open/high/low/close of the client bid,
    tickVolume, spread (smallest of the bucket, points)."""
    reply = await res.quotes.GetCandles(
        quotes_pb2.GetCandlesRequest(
            symbol=query.symbol,
            timeframe=TIMEFRAMES_PB[query.timeframe],
            limit=query.limit,
            **_window(query),
        ),
        timeout=res.settings.grpc_deadline_seconds,
    )
    return {
        "symbol": reply.symbol,
        "timeframe": query.timeframe,
        "candles": [
            {
                "time": timestamp_json(c.open_time),
                "open": c.open,
                "high": c.high,
                "low": c.low,
                "close": c.close,
                "tickVolume": c.tick_volume,
                "spread": c.spread,
            }
            for c in reply.candles
        ],
    }
