"""grpc.aio servicer of fxmesh.v1.OmsService: convert, call the service, convert back."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc

from fxmesh.v1 import oms_pb2, oms_pb2_grpc
from oms import convert
from oms.service import OmsService


class OmsServicer(oms_pb2_grpc.OmsServiceServicer):
    def __init__(self, service: OmsService) -> None:
        self._service = service

    async def PlaceOrder(
        self, request: oms_pb2.PlaceOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.PlaceOrderResponse:
        result = await self._service.place_order(convert.parse_place_order(request))
        return oms_pb2.PlaceOrderResponse(
            order=convert.order_to_proto(result.order),
            fills=[convert.fill_to_proto(f) for f in result.fills],
            positions=[convert.position_to_proto(p) for p in result.positions],
            replayed=result.replayed,
        )

    async def GetOrder(
        self, request: oms_pb2.GetOrderRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.GetOrderResponse:
        order = await self._service.get_order(
            convert.parse_account_id(request.account_id), convert.parse_order_id(request.order_id)
        )
        return oms_pb2.GetOrderResponse(order=convert.order_to_proto(order))

    async def GetAccountSummary(
        self, request: oms_pb2.GetAccountSummaryRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.GetAccountSummaryResponse:
        summary = await self._service.account_summary(convert.parse_account_id(request.account_id))
        return convert.account_summary_to_proto(summary.account, summary.figures, datetime.now(UTC))

    async def ListPositions(
        self, request: oms_pb2.ListPositionsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListPositionsResponse:
        views = await self._service.list_positions(convert.parse_account_id(request.account_id))
        return oms_pb2.ListPositionsResponse(
            positions=[convert.position_to_proto(v) for v in views]
        )

    async def AuthenticateClient(
        self,
        request: oms_pb2.AuthenticateClientRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> oms_pb2.AuthenticateClientResponse:
        account_id, login = await self._service.authenticate(request.login, request.password)
        return oms_pb2.AuthenticateClientResponse(account_id=str(account_id), login=login)

    async def ListAccounts(
        self, request: oms_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> oms_pb2.ListAccountsResponse:
        accounts = await self._service.list_accounts(request.page_size)
        return oms_pb2.ListAccountsResponse(
            accounts=[convert.account_to_proto(a) for a in accounts]
        )
