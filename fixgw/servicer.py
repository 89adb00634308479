"""grpc.aio servicer of FixGatewayService: convert -> gateway -> convert."""

from __future__ import annotations

import grpc

from fixgw.convert import session_to_proto
from fixgw.service import Gateway
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc


class FixGatewayServicer(fixgw_pb2_grpc.FixGatewayServiceServicer):
    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway

    async def ListSessions(
        self,
        request: fixgw_pb2.ListSessionsRequest,
        context: grpc.aio.ServicerContext[
            fixgw_pb2.ListSessionsRequest, fixgw_pb2.ListSessionsResponse
        ],
    ) -> fixgw_pb2.ListSessionsResponse:
        return fixgw_pb2.ListSessionsResponse(
            sessions=[
                session_to_proto(
                    name=name,
                    session_id=s.session_id,
                    logged_on=s.logged_on,
                    subscribed=sorted(s.subscribed),
                    last_message_time=s.last_message_time,
                    ticks_received=s.ticks_received,
                )
                for name, s in self._gateway.lps.items()
            ]
        )
