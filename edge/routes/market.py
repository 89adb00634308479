"""Market data for clients: the symbol catalogue (from oms, with the current quote from Redis),
and client ticks and candles (OHLC) from quotes over gRPC.

``GET /api/symbols`` and ``GET /api/symbols/{symbol}``: oms owns the contract specifications
(``oms.symbols``), so edge asks oms's ListSymbols and adds the current client quote of the
caller's client group read straight from Redis (``fxmesh.quotecache``, one MGET: the group's own
price where it has one, else the default; ``edge.groups``), as every client of the price does. Every symbol is
listed, disabled ones with ``enabled: false`` (a client may still hold a position in one); a
symbol without a current quote (none yet, expired, or Redis unreachable) has ``bid`` / ``ask`` /
``spread`` / ``quoteTime`` null. Unknown symbol: 404 ``UNKNOWN_SYMBOL``.

Any authenticated client may read any symbol's history, of its own client group's price: quotes
answers the group's ticks and candles where the group has its own markup on the symbol, else the
default price's (docs/ARCHITECTURE.md, "Client group prices"). Prices are decimal strings, times ISO-8601 UTC, windows
``[from, to)``; ``limit`` (default 500) takes the newest of the window and a limit over 5000 is a
422 ``LIMIT_OUT_OF_RANGE`` rather than a silently shorter answer. Ticks are newest first; candles
oldest first (chart order), the last one possibly the current candle, live. Unknown symbol: 404
``UNKNOWN_SYMBOL``; unknown timeframe: 422 ``INVALID_TIMEFRAME`` naming the valid ones; ``from``
not before ``to``: 422 ``INVALID_TIME_RANGE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Query
from google.protobuf.timestamp_pb2 import Timestamp
from redis.exceptions import RedisError

from edge.calls import call
from edge.convert import timestamp_json, timestamp_pb
from edge.deps import Client, Resources
from edge.openapi import OhlcResponse, SymbolJson, SymbolsResponse, TicksResponse, responses
from edge.schemas import OhlcQuery, SymbolPath, TicksQuery
from fxmesh.quotecache import ClientQuote, read_quotes
from fxmesh.v1 import oms_pb2, quotes_pb2

log = structlog.stdlib.get_logger(__name__)
router = APIRouter(prefix="/api", tags=["market"])
WEEKDAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
"""ISO weekday 1..7 by name."""
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
    """The newest ``limit`` client ticks of ``symbol`` in [from, to), newest first, of the
    caller's group's price."""
    request = quotes_pb2.GetTicksRequest(
        symbol=query.symbol,
        limit=query.limit,
        kind=quotes_pb2.TICK_KIND_CLIENT,
        client_group=await res.groups.of(client.subject),
        **_window(query),
    )
    reply = await call(res, res.quotes.GetTicks, request)
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
    (bucket start, UTC; weeks start Sunday 00:00 UTC), open/high/low/close of the client bid of
    the caller's group's price,
    tickVolume, spread (smallest of the bucket, points)."""
    request = quotes_pb2.GetCandlesRequest(
        symbol=query.symbol,
        timeframe=TIMEFRAMES_PB[query.timeframe],
        limit=query.limit,
        client_group=await res.groups.of(client.subject),
        **_window(query),
    )
    reply = await call(res, res.quotes.GetCandles, request)
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


# --- symbols ---------------------------------------------------------------------------------


def _weekday(iso: int) -> str | None:
    return WEEKDAYS[iso - 1] if 1 <= iso <= 7 else None


def _clock(minute: int) -> str:
    """Minutes of the day as ``HH:MM`` (1440 is ``24:00``, the end of the day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def symbol_json(spec: oms_pb2.SymbolSpecification, quote: ClientQuote | None) -> dict[str, Any]:
    """A symbol's contract specification (from oms) and current client quote (or nulls)."""
    spread: int | None = None
    if quote is not None and spec.point:
        spread = int((quote.ask - quote.bid) / Decimal(spec.point))
    return {
        "symbol": spec.symbol,
        "description": spec.description,
        "type": oms_pb2.AssetClass.Name(spec.asset_class).removeprefix("ASSET_CLASS_"),
        "baseCurrency": spec.base_currency,
        "quoteCurrency": spec.quote_currency,
        "digits": spec.digits,
        "point": spec.point,
        "pipSize": spec.pip_size,
        "contractSize": spec.contract_size,
        "volumeMin": spec.volume_min,
        "volumeMax": spec.volume_max,
        "volumeStep": spec.volume_step,
        "marginPercent": spec.margin_percent,
        "commissionPerLot": spec.commission_per_lot,
        "commissionCurrency": spec.commission_currency,
        "swapLongPoints": spec.swap_long_points,
        "swapShortPoints": spec.swap_short_points,
        "swapTripleDay": _weekday(spec.swap_triple_weekday),
        "stopsLevelPoints": spec.stops_level_points,
        "defaultDeviationPoints": spec.default_deviation_points,
        "sessions": [
            {
                "day": _weekday(s.weekday),
                "from": _clock(s.start_minute),
                "to": _clock(s.end_minute),
            }
            for s in spec.sessions
        ],
        "sessionOpen": spec.session_open,
        "enabled": spec.enabled,
        "bid": str(quote.bid) if quote is not None else None,
        "ask": str(quote.ask) if quote is not None else None,
        "spread": spread,
        "quoteTime": _ms_json(quote.ts_ms) if quote is not None else None,
    }


def _ms_json(ts_ms: int) -> str | None:
    stamp = Timestamp()
    stamp.FromMilliseconds(ts_ms)
    return timestamp_json(stamp)


async def _quotes(
    res: Resources, symbols: Sequence[str], account_id: str
) -> dict[str, ClientQuote]:
    """Current client quotes of the account's group; none when Redis cannot be read (the
    catalogue still answers)."""
    group = await res.groups.of(account_id)
    try:
        return await read_quotes(res.redis, symbols, group)
    except RedisError as exc:
        log.warning("symbol_quotes_unavailable", error=str(exc))
        return {}


@router.get(
    "/symbols",
    summary="Symbols and their contract specifications",
    response_model=None,
    responses=responses(SymbolsResponse),
)
async def symbols(client: Client, res: Resources) -> dict[str, Any]:
    """Every symbol (by name) with its contract specification, trading sessions (open now?) and
    current client bid / ask."""
    reply = await call(res, res.oms.ListSymbols, oms_pb2.ListSymbolsRequest())
    quotes = await _quotes(res, [s.symbol for s in reply.symbols], client.subject)
    return {"symbols": [symbol_json(s, quotes.get(s.symbol)) for s in reply.symbols]}


@router.get(
    "/symbols/{symbol}",
    summary="One symbol's contract specification",
    response_model=None,
    responses=responses(SymbolJson),
)
async def symbol(symbol: SymbolPath, client: Client, res: Resources) -> dict[str, Any]:
    """One symbol as in ``GET /api/symbols``; 404 ``UNKNOWN_SYMBOL`` when there is none."""
    reply = await call(res, res.oms.ListSymbols, oms_pb2.ListSymbolsRequest(symbol=symbol))
    (spec,) = reply.symbols
    quotes = await _quotes(res, [spec.symbol], client.subject)
    return symbol_json(spec, quotes.get(spec.symbol))
