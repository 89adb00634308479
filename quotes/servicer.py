"""grpc.aio servicer of fxmesh.v1.QuotesService: convert, call the service, convert back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc
from quotes import convert
from quotes.history import MarketHistory
from quotes.service import QuotesService


class QuotesServicer(quotes_pb2_grpc.QuotesServiceServicer):
    def __init__(self, service: QuotesService, history: MarketHistory) -> None:
        self._service = service
        self._history = history

    async def PublishTicks(
        self,
        request_iterator: AsyncIterator[quotes_pb2.PublishTicksRequest],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> quotes_pb2.PublishTicksResponse:
        accepted = dropped = 0
        async for request in request_iterator:
            a, d = await self._service.publish(convert.raw_tick(q) for q in request.ticks)
            accepted += a
            dropped += d
        return quotes_pb2.PublishTicksResponse(accepted=accepted, dropped=dropped)

    async def GetQuote(
        self, request: quotes_pb2.GetQuoteRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> quotes_pb2.GetQuoteResponse:
        quote = await self._service.get_quote(request.symbol)
        return quotes_pb2.GetQuoteResponse(quote=convert.client_quote(quote))

    async def GetTicks(
        self, request: quotes_pb2.GetTicksRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> quotes_pb2.GetTicksResponse:
        rows = await self._history.ticks(
            request.symbol,
            kind=convert.tick_kind(request.kind),
            start=convert.optional_time(request, "from_time"),
            end=convert.optional_time(request, "to_time"),
            limit=request.limit,
        )
        return quotes_pb2.GetTicksResponse(
            symbol=request.symbol.strip().upper(), ticks=[convert.tick(r) for r in rows]
        )

    async def GetCandles(
        self, request: quotes_pb2.GetCandlesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> quotes_pb2.GetCandlesResponse:
        candles = await self._history.candles(
            request.symbol,
            convert.timeframe(request.timeframe),
            start=convert.optional_time(request, "from_time"),
            end=convert.optional_time(request, "to_time"),
            limit=request.limit,
        )
        return quotes_pb2.GetCandlesResponse(
            symbol=request.symbol.strip().upper(),
            timeframe=request.timeframe,
            candles=[convert.candle(c) for c in candles],
        )

    async def StreamQuotes(
        self, request: quotes_pb2.StreamQuotesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[quotes_pb2.StreamQuotesResponse]:
        async for quote in self._service.stream_quotes(request.symbols):
            yield quotes_pb2.StreamQuotesResponse(quote=convert.client_quote(quote))

    async def ListLpStatistics(
        self,
        request: quotes_pb2.ListLpStatisticsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> quotes_pb2.ListLpStatisticsResponse:
        feeds = self._service.lp_feeds(request.lp, request.symbol)
        return convert.lp_statistics(feeds, self._service.now_ms())
