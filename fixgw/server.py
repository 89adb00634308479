"""Wiring of the fixgw process: QuickFIX initiator, order flow, tick forwarder and the gRPC server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixgw.config import FixgwSettings
from fixgw.forwarder import TickForwarder
from fixgw.lphealth import HealthSettings, LpHealth
from fixgw.lps import LpRegistry
from fixgw.orders.manager import OrderManager, OrderSettings
from fixgw.service import Gateway
from fixgw.servicer import FixGatewayServicer
from fxmesh.db import create_pool
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import fixgw_pb2_grpc, quotes_pb2_grpc


class FixgwApp:
    """The gateway's parts, started and stopped in order (usable in-process by tests)."""

    def __init__(self, settings: FixgwSettings) -> None:
        self.settings = settings
        self.channel = open_channel(settings.quotes_addr)
        stub = quotes_pb2_grpc.QuotesServiceStub(self.channel)
        self.forwarder = TickForwarder(
            lambda: stub, backoff_max=settings.fixgw_forward_backoff_max_seconds
        )
        self.health = LpHealth(
            HealthSettings(
                window_seconds=settings.fixgw_health_window_seconds,
                min_outcomes=settings.fixgw_health_min_outcomes,
                reject_ratio=settings.fixgw_health_reject_ratio,
                latency_seconds=settings.fixgw_health_latency_seconds,
            )
        )
        self.gateway = Gateway(
            settings.lps(),
            settings.symbols(),
            Path(settings.run_dir),
            self.forwarder.submit,
            heartbeat_seconds=settings.fixgw_heartbeat_seconds,
            reconnect_seconds=settings.fixgw_reconnect_seconds,
            message_log=settings.fixgw_fix_message_log,
            symbol_lps=settings.fixgw_symbol_lps,
            reconnect_max_seconds=settings.fixgw_reconnect_max_seconds,
            stable_logon_seconds=settings.fixgw_stable_logon_seconds,
            test_request_seconds=settings.fixgw_test_request_seconds,
            stop_grace_seconds=settings.fixgw_stop_grace_seconds,
            health=self.health,
        )
        self.lps = LpRegistry(self.gateway, settings.lps())
        self.orders = OrderManager(
            self.gateway,
            OrderSettings(
                cl_ord_id_prefix=settings.fixgw_cl_ord_id_prefix,
                reconcile_seconds=settings.fixgw_reconcile_seconds,
            ),
            health=self.health,
        )
        self.pool: Any = None
        self.server = GrpcServer("fixgw", settings.fixgw_addr)
        self.grpc_port = 0
        self.server.add(
            fixgw_pb2_grpc.add_FixGatewayServiceServicer_to_server,
            FixGatewayServicer(self.gateway, self.orders, self.lps),
            "fxmesh.v1.FixGatewayService",
        )

    async def start(self) -> int:
        """Start forwarding, the order book, serving and the LP sessions; returns the gRPC port.

        The order flow loads its unresolved orders before any LP logs on, so each LP with one is
        reconciling (no new flow) from its first logon until they are resolved.
        """
        self.forwarder.start()
        self.pool = await create_pool(self.settings.postgres_dsn, "fixgw")
        await self.lps.load(self.pool)  # the stored LPs (seeded from the settings)
        await self.orders.start(self.pool)
        self.gateway.set_order_flow(self.orders)
        self.grpc_port = await self.server.start()
        await self.gateway.start()
        return self.grpc_port

    async def stop(self) -> None:
        await self.server.stop(self.settings.shutdown_grace_seconds)
        await self.gateway.stop()
        self.gateway.set_order_flow(None)
        await self.orders.stop()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None
        await self.forwarder.stop()
        await self.channel.close()
