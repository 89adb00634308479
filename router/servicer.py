"""grpc.aio servicer for fxmesh.v1.RouterService: convert -> service -> convert."""

from __future__ import annotations

import grpc
from opentelemetry import trace

from fxmesh.v1 import router_pb2, router_pb2_grpc
from router import config_convert, convert
from router.service import RouterService


def _trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


class RouterServicer(router_pb2_grpc.RouterServiceServicer):
    def __init__(self, service: RouterService) -> None:
        self._service = service

    async def Execute(
        self,
        request: router_pb2.ExecuteRequest,
        context: grpc.aio.ServicerContext[router_pb2.ExecuteRequest, router_pb2.ExecuteResponse],
    ) -> router_pb2.ExecuteResponse:
        self._service.require_serving()
        command = convert.execute_command(request, _trace_id())
        result = await self._service.execute(command, context.time_remaining())
        return convert.execute_response(result)

    async def ReconcileExecution(
        self,
        request: router_pb2.ReconcileExecutionRequest,
        context: grpc.aio.ServicerContext[
            router_pb2.ReconcileExecutionRequest, router_pb2.ReconcileExecutionResponse
        ],
    ) -> router_pb2.ReconcileExecutionResponse:
        self._service.require_serving()
        command = convert.reconcile_command(request, _trace_id())
        result = await self._service.reconcile(command, context.time_remaining())
        return convert.reconcile_response(result)

    async def GetHouseExposure(
        self,
        request: router_pb2.GetHouseExposureRequest,
        context: grpc.aio.ServicerContext[
            router_pb2.GetHouseExposureRequest, router_pb2.GetHouseExposureResponse
        ],
    ) -> router_pb2.GetHouseExposureResponse:
        self._service.require_serving()
        return convert.exposure_response(*await self._service.house_exposure())

    async def Explain(
        self,
        request: router_pb2.ExplainRequest,
        context: grpc.aio.ServicerContext[router_pb2.ExplainRequest, router_pb2.ExplainResponse],
    ) -> router_pb2.ExplainResponse:
        self._service.require_serving()
        explained = await self._service.explain(convert.explain_order_id(request))
        return convert.explain_response(explained)

    async def GetRoutingConfig(
        self,
        request: router_pb2.GetRoutingConfigRequest,
        context: grpc.aio.ServicerContext[
            router_pb2.GetRoutingConfigRequest, router_pb2.GetRoutingConfigResponse
        ],
    ) -> router_pb2.GetRoutingConfigResponse:
        config = await self._service.routing_config()
        return router_pb2.GetRoutingConfigResponse(config=config_convert.config_message(config))

    async def ChangeRoutingConfig(
        self,
        request: router_pb2.ChangeRoutingConfigRequest,
        context: grpc.aio.ServicerContext[
            router_pb2.ChangeRoutingConfigRequest, router_pb2.ChangeRoutingConfigResponse
        ],
    ) -> router_pb2.ChangeRoutingConfigResponse:
        result = await self._service.change_config(config_convert.change_request(request))
        return config_convert.change_response(result)
