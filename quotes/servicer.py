"""grpc.aio servicer of fxmesh.v1.QuotesService: convert, call the service, convert back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc

from fxmesh.v1 import quotes_markups_pb2, quotes_pb2, quotes_pb2_grpc
from quotes import convert
from quotes.history import MarketHistory
from quotes.markups import GroupMarkups
from quotes.repository import KIND_CLIENT
from quotes.service import QuotesService


class QuotesServicer(quotes_pb2_grpc.QuotesServiceServicer):
    def __init__(
        self, service: QuotesService, history: MarketHistory, markups: GroupMarkups
    ) -> None:
        self._service = service
        self._history = history
        self._markups = markups

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
        symbol = request.symbol.strip().upper()
        kind = convert.tick_kind(request.kind)
        # RAW ticks are the LPs' prices: one series whatever the group.
        group = self._history.price_of(symbol, request.client_group) if kind == KIND_CLIENT else ""
        rows = await self._history.ticks(
            request.symbol,
            kind=kind,
            group=group,
            start=convert.optional_time(request, "from_time"),
            end=convert.optional_time(request, "to_time"),
            limit=request.limit,
        )
        return quotes_pb2.GetTicksResponse(
            symbol=symbol,
            ticks=[convert.tick(r) for r in rows],
            client_group=group,
        )

    async def GetCandles(
        self, request: quotes_pb2.GetCandlesRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> quotes_pb2.GetCandlesResponse:
        symbol = request.symbol.strip().upper()
        group = self._history.price_of(symbol, request.client_group)
        candles = await self._history.candles(
            request.symbol,
            convert.timeframe(request.timeframe),
            group=group,
            start=convert.optional_time(request, "from_time"),
            end=convert.optional_time(request, "to_time"),
            limit=request.limit,
        )
        return quotes_pb2.GetCandlesResponse(
            symbol=symbol,
            timeframe=request.timeframe,
            candles=[convert.candle(c) for c in candles],
            client_group=group,
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

    async def ListGroupMarkups(
        self,
        request: quotes_markups_pb2.ListGroupMarkupsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> quotes_markups_pb2.ListGroupMarkupsResponse:
        entries = await self._markups.list(request.client_group, request.symbol)
        return quotes_markups_pb2.ListGroupMarkupsResponse(
            markups=[convert.group_markup(e) for e in entries]
        )

    async def SetGroupMarkup(
        self,
        request: quotes_markups_pb2.SetGroupMarkupRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> quotes_markups_pb2.SetGroupMarkupResponse:
        markup = convert.group_markup_in(request.markup)
        before, after = await self._markups.set(
            request.markup.client_group, request.markup.symbol, markup
        )
        reply = quotes_markups_pb2.SetGroupMarkupResponse(markup=convert.group_markup(after))
        if before is not None:
            reply.before.CopyFrom(convert.group_markup(before))
        return reply

    async def DeleteGroupMarkup(
        self,
        request: quotes_markups_pb2.DeleteGroupMarkupRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> quotes_markups_pb2.DeleteGroupMarkupResponse:
        entry = await self._markups.delete(request.client_group, request.symbol)
        return quotes_markups_pb2.DeleteGroupMarkupResponse(markup=convert.group_markup(entry))
