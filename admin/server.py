"""Process wiring: one AdminService (over oms, fixgw and router) behind the gRPC AdminService
and the REST app; system health also asks quotes, edge, Redis and RabbitMQ."""

from __future__ import annotations

import redis.asyncio as aioredis

from admin.config import AdminSettings
from admin.rest.app import create_app
from admin.service import AdminService
from admin.servicer import AdminServicer
from admin.system import AmqpCheck, default_probes
from fxmesh.config import load_settings
from fxmesh.db import create_pool
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.http import http_server, serve_http
from fxmesh.lifecycle import ServiceRuntime
from fxmesh.v1 import admin_pb2_grpc, fixgw_pb2_grpc, oms_pb2_grpc, router_pb2_grpc


async def main() -> None:
    settings = load_settings(AdminSettings)
    runtime = ServiceRuntime("admin", settings, settings.metrics_port)
    pool = await create_pool(settings.postgres_dsn, "admin")
    runtime.on_stop(pool.close)
    channels = {
        name: open_channel(addr)
        for name, addr in (
            ("oms", settings.oms_addr),
            ("fixgw", settings.fixgw_addr),
            ("router", settings.router_addr),
            ("quotes", settings.quotes_addr),
        )
    }
    for channel in channels.values():
        runtime.on_stop(channel.close)
    redis = aioredis.Redis.from_url(settings.redis_url)
    runtime.on_stop(redis.aclose)
    amqp = AmqpCheck(settings.amqp_url)
    runtime.on_stop(amqp.close)
    service = AdminService(
        settings,
        pool,
        oms_pb2_grpc.OmsServiceStub(channels["oms"]),
        fixgw_pb2_grpc.FixGatewayServiceStub(channels["fixgw"]),
        router_pb2_grpc.RouterServiceStub(channels["router"]),
        probes=default_probes(
            timeout=settings.admin_health_timeout_seconds,
            pool=pool,
            redis=redis,
            amqp=amqp,
            channels=channels,
            edge_http_addr=settings.edge_http_addr,
        ),
    )

    grpc_server = GrpcServer("admin", settings.admin_grpc_addr)
    grpc_server.add(
        admin_pb2_grpc.add_AdminServiceServicer_to_server,
        AdminServicer(service),
        "fxmesh.v1.AdminService",
    )
    await grpc_server.start()
    runtime.on_stop(lambda: grpc_server.stop(settings.shutdown_grace_seconds))

    http = http_server(create_app(service), settings.admin_http_addr, lifespan="off")
    serve_http(runtime, http, "admin-http")
    await runtime.run_until_stopped()
