"""Process wiring: one AdminService (over oms, fixgw and router) behind the gRPC AdminService
and the REST app; system health also asks quotes, edge, Redis and RabbitMQ."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import redis.asyncio as aioredis

from admin.config import AdminSettings
from admin.rest.app import create_app
from admin.service import AdminService
from admin.servicer import AdminServicer
from admin.system import AmqpCheck, default_probes
from fxmesh.db import create_pool
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.http import HttpServing, http_server
from fxmesh.v1 import admin_pb2_grpc, fixgw_pb2_grpc, oms_pb2_grpc, quotes_pb2_grpc, router_pb2_grpc


class AdminApp:
    """Everything admin runs: ``start`` returns the bound REST port (``grpc_port`` is the gRPC
    one), ``stop`` undoes it in reverse order: REST, gRPC, then the clients and the pool."""

    def __init__(
        self, settings: AdminSettings, *, on_exit: Callable[[], object] | None = None
    ) -> None:
        self.settings = settings
        self.on_exit = on_exit
        self.service: AdminService | None = None
        self.grpc_port = 0
        self.http_port = 0
        self._opened = contextlib.AsyncExitStack()

    async def start(self) -> int:
        s = self.settings
        pool = await create_pool(s.postgres_dsn, "admin")
        self._opened.push_async_callback(pool.close)
        channels = {
            name: open_channel(addr)
            for name, addr in (
                ("oms", s.oms_addr),
                ("fixgw", s.fixgw_addr),
                ("router", s.router_addr),
                ("quotes", s.quotes_addr),
            )
        }
        for channel in channels.values():
            self._opened.push_async_callback(channel.close)
        redis = aioredis.Redis.from_url(s.redis_url)
        self._opened.push_async_callback(redis.aclose)
        amqp = AmqpCheck(s.amqp_url)
        self._opened.push_async_callback(amqp.close)
        self.service = AdminService(
            s,
            pool,
            oms_pb2_grpc.OmsServiceStub(channels["oms"]),
            fixgw_pb2_grpc.FixGatewayServiceStub(channels["fixgw"]),
            router_pb2_grpc.RouterServiceStub(channels["router"]),
            quotes=quotes_pb2_grpc.QuotesServiceStub(channels["quotes"]),
            probes=default_probes(
                timeout=s.admin_health_timeout_seconds,
                pool=pool,
                redis=redis,
                amqp=amqp,
                channels=channels,
                edge_http_addr=s.edge_http_addr,
            ),
        )

        grpc_server = GrpcServer("admin", s.admin_grpc_addr)
        grpc_server.add(
            admin_pb2_grpc.add_AdminServiceServicer_to_server,
            AdminServicer(self.service),
            "fxmesh.v1.AdminService",
        )
        self.grpc_port = await grpc_server.start()
        self._opened.push_async_callback(grpc_server.stop, s.shutdown_grace_seconds)

        http = HttpServing(
            http_server(create_app(self.service), s.admin_http_addr, lifespan="off"),
            "admin-http",
            on_exit=self.on_exit,
        )
        self._opened.push_async_callback(http.stop)
        self.http_port = await http.start()
        return self.http_port

    async def stop(self) -> None:
        await self._opened.aclose()
