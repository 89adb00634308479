"""grpc.aio servicer of fxmesh.v1.QuotesService: convert, call the service, convert back."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc
from quotes import convert
from quotes.service import QuotesService


class QuotesServicer(quotes_pb2_grpc.QuotesServiceServicer):
    def __init__(self, service: QuotesService) -> None:
        self._service = service

    async def PublishTicks(
        self,
        request_iterator: AsyncIterator[quotes_pb2.PublishTicksRequest],
        context: grpc.aio.ServicerContext,
    ) -> quotes_pb2.PublishTicksResponse:
        accepted = dropped = 0
        async for request in request_iterator:
            a, d = await self._service.publish(convert.raw_tick(q) for q in request.ticks)
            accepted += a
            dropped += d
        return quotes_pb2.PublishTicksResponse(accepted=accepted, dropped=dropped)

    async def GetQuote(
        self, request: quotes_pb2.GetQuoteRequest, context: grpc.aio.ServicerContext
    ) -> quotes_pb2.GetQuoteResponse:
        quote = await self._service.get_quote(request.symbol)
        return quotes_pb2.GetQuoteResponse(quote=convert.client_quote(quote))
