"""Wiring of the oms process: pool, Redis, router channel, gRPC server and the outbox relay."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from fxmesh.db import create_pool
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import oms_pb2_grpc
from oms.config import OmsSettings
from oms.outbox import OutboxRelay
from oms.router_client import RouterClient
from oms.service import OmsService
from oms.servicer import OmsServicer


class OmsApp:
    """Everything oms runs; ``start`` returns the bound gRPC port, ``stop`` undoes it in order."""

    def __init__(self, settings: OmsSettings, *, run_relay: bool = True) -> None:
        self.settings = settings
        self.run_relay = run_relay
        self.pool: Any = None
        self.redis: Any = None
        self.channel: Any = None
        self.server: GrpcServer | None = None
        self.relay: OutboxRelay | None = None
        self.service: OmsService | None = None

    async def start(self) -> int:
        s = self.settings
        self.pool = await create_pool(s.postgres_dsn, "oms")
        self.redis = aioredis.Redis.from_url(s.redis_url, decode_responses=True)
        self.channel = open_channel(s.router_addr)
        router = RouterClient(self.channel, s.grpc_deadline_seconds)
        self.service = OmsService(
            self.pool, self.redis, router, symbols_cache_seconds=s.symbols_cache_seconds
        )
        if self.run_relay:
            self.relay = OutboxRelay(
                self.pool, s.amqp_url, s.events_exchange, poll_seconds=s.outbox_poll_seconds
            )
            self.relay.start()
        self.server = GrpcServer("oms", s.oms_addr)
        self.server.add(
            oms_pb2_grpc.add_OmsServiceServicer_to_server,
            OmsServicer(self.service),
            "fxmesh.v1.OmsService",
        )
        return await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(self.settings.shutdown_grace_seconds)
        if self.relay is not None:
            await self.relay.stop()
        if self.channel is not None:
            await self.channel.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self.pool is not None:
            await self.pool.close()
