"""grpc.aio servicer of FixGatewayService: convert -> gateway -> convert."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc

from fixgw import convert
from fixgw.lps import LpRegistry
from fixgw.orders import convert as orders_convert
from fixgw.orders.manager import OrderManager
from fixgw.service import Gateway, SessionView
from fxmesh.errors import Unavailable
from fxmesh.reasons import Reason
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc

# Without a client deadline an order call waits at most this long for its outcome.
DEFAULT_ORDER_DEADLINE_SECONDS = 30.0
# Answer this much before the client's deadline, so the answer still reaches it.
DEADLINE_MARGIN_SECONDS = 0.02


def _deadline(context: grpc.aio.ServicerContext[Any, Any]) -> float:
    """The call's deadline on the event loop's clock."""
    remaining = context.time_remaining()
    seconds = DEFAULT_ORDER_DEADLINE_SECONDS if remaining is None else remaining
    return asyncio.get_running_loop().time() + max(seconds - DEADLINE_MARGIN_SECONDS, 0.0)


class FixGatewayServicer(fixgw_pb2_grpc.FixGatewayServiceServicer):
    def __init__(
        self,
        gateway: Gateway,
        orders: OrderManager | None = None,
        lps: LpRegistry | None = None,
    ) -> None:
        self._gateway = gateway
        self._orders = orders
        self._lps = lps

    def _view(self, view: SessionView) -> fixgw_pb2.LpSession:
        return convert.session_to_proto(view, self._gateway.health.settings.window_seconds)

    def _registry(self) -> LpRegistry:
        if self._lps is None:
            raise Unavailable("LP administration is not enabled")
        return self._lps

    # -- LP sessions (an unknown LP name raises UnknownLp: NOT_FOUND, reason LP_NOT_FOUND) --------

    async def ListSessions(
        self,
        request: fixgw_pb2.ListSessionsRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.ListSessionsRequest, fixgw_pb2.ListSessionsResponse
        ],
    ) -> fixgw_pb2.ListSessionsResponse:
        return fixgw_pb2.ListSessionsResponse(
            sessions=[self._view(view) for view in self._gateway.views()]
        )

    async def GetSession(
        self,
        request: fixgw_pb2.GetSessionRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.GetSessionRequest, fixgw_pb2.GetSessionResponse
        ],
    ) -> fixgw_pb2.GetSessionResponse:
        return fixgw_pb2.GetSessionResponse(session=self._view(self._gateway.view(request.name)))

    async def Connect(
        self,
        request: fixgw_pb2.ConnectRequest,
        context: grpc.aio.ServicerContext[fixgw_pb2.ConnectRequest, fixgw_pb2.ConnectResponse],
    ) -> fixgw_pb2.ConnectResponse:
        self._gateway.connect(request.name)
        return fixgw_pb2.ConnectResponse(session=self._view(self._gateway.view(request.name)))

    async def Disconnect(
        self,
        request: fixgw_pb2.DisconnectRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.DisconnectRequest, fixgw_pb2.DisconnectResponse
        ],
    ) -> fixgw_pb2.DisconnectResponse:
        self._gateway.disconnect(request.name)
        return fixgw_pb2.DisconnectResponse(session=self._view(self._gateway.view(request.name)))

    async def Reconnect(
        self,
        request: fixgw_pb2.ReconnectRequest,
        context: grpc.aio.ServicerContext[fixgw_pb2.ReconnectRequest, fixgw_pb2.ReconnectResponse],
    ) -> fixgw_pb2.ReconnectResponse:
        self._gateway.reconnect(request.name)
        return fixgw_pb2.ReconnectResponse(session=self._view(self._gateway.view(request.name)))

    # -- A-book orders ---------------------------------------------------------------------------

    def _order_flow(self) -> OrderManager:
        if self._orders is None:
            raise Unavailable("order execution is not enabled", reason=Reason.ORDERS_DISABLED)
        return self._orders

    async def ExecuteOrder(
        self,
        request: fixgw_pb2.ExecuteOrderRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.ExecuteOrderRequest, fixgw_pb2.ExecuteOrderResponse
        ],
    ) -> fixgw_pb2.ExecuteOrderResponse:
        cmd = orders_convert.execute_command(request)
        view = await self._order_flow().execute(cmd, _deadline(context))
        return fixgw_pb2.ExecuteOrderResponse(execution=orders_convert.execution(view))

    async def GetOrderStatus(
        self,
        request: fixgw_pb2.GetOrderStatusRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.GetOrderStatusRequest, fixgw_pb2.GetOrderStatusResponse
        ],
    ) -> fixgw_pb2.GetOrderStatusResponse:
        order_id = orders_convert.order_id(request.order_id)
        view = await self._order_flow().status(order_id, _deadline(context))
        return fixgw_pb2.GetOrderStatusResponse(execution=orders_convert.execution(view))

    async def CancelLpOrder(
        self,
        request: fixgw_pb2.CancelLpOrderRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.CancelLpOrderRequest, fixgw_pb2.CancelLpOrderResponse
        ],
    ) -> fixgw_pb2.CancelLpOrderResponse:
        order_id = orders_convert.order_id(request.order_id)
        view = await self._order_flow().cancel(order_id, _deadline(context))
        return fixgw_pb2.CancelLpOrderResponse(execution=orders_convert.execution(view))

    # -- LP administration --------------------------------------------------------------------

    async def CreateLp(
        self,
        request: fixgw_pb2.CreateLpRequest,
        context: grpc.aio.ServicerContext[fixgw_pb2.CreateLpRequest, fixgw_pb2.CreateLpResponse],
    ) -> fixgw_pb2.CreateLpResponse:
        config = convert.lp_config_from_proto(request.lp)
        view = await self._registry().create(config, request.enabled)
        return fixgw_pb2.CreateLpResponse(session=self._view(view))

    async def UpdateLp(
        self,
        request: fixgw_pb2.UpdateLpRequest,
        context: grpc.aio.ServicerContext[fixgw_pb2.UpdateLpRequest, fixgw_pb2.UpdateLpResponse],
    ) -> fixgw_pb2.UpdateLpResponse:
        current = self._gateway.config(request.lp.name)
        config = convert.lp_config_from_proto(request.lp, current)
        view = await self._registry().update(config)
        return fixgw_pb2.UpdateLpResponse(session=self._view(view))

    async def DeleteLp(
        self,
        request: fixgw_pb2.DeleteLpRequest,
        context: grpc.aio.ServicerContext[fixgw_pb2.DeleteLpRequest, fixgw_pb2.DeleteLpResponse],
    ) -> fixgw_pb2.DeleteLpResponse:
        view = await self._registry().delete(request.name)
        return fixgw_pb2.DeleteLpResponse(session=self._view(view))

    async def SetLpEnabled(
        self,
        request: fixgw_pb2.SetLpEnabledRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.SetLpEnabledRequest, fixgw_pb2.SetLpEnabledResponse
        ],
    ) -> fixgw_pb2.SetLpEnabledResponse:
        view = await self._registry().set_enabled(request.name, request.enabled)
        return fixgw_pb2.SetLpEnabledResponse(session=self._view(view))
