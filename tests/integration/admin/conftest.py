"""admin against the real PostgreSQL (pg_dsn) and a small in-test OmsService."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc
import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from admin import repository
from admin.config import AdminSettings
from admin.domain import Role
from admin.rest.app import create_app
from admin.service import AdminService
from admin.servicer import AdminServicer
from fxmesh import passwords
from fxmesh.db import create_pool
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import admin_pb2_grpc, oms_pb2, oms_pb2_grpc, types_pb2

JWT_SECRET = "admin-test-secret-0123456789"
USERS = {
    "root": ("root-password", Role.SUPER_ADMIN),
    "helpdesk": ("helpdesk-password", Role.SUPPORT),
    "risky": ("risky-password", Role.RISK_MANAGER),
}


class FakeOms(oms_pb2_grpc.OmsServiceServicer):
    async def ListAccounts(
        self, request: oms_pb2.ListAccountsRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListAccountsResponse:
        return oms_pb2.ListAccountsResponse(
            accounts=[
                types_pb2.AccountInfo(
                    account_id="1001",
                    login="demo",
                    currency="USD",
                    leverage=100,
                    type=types_pb2.ACCOUNT_TYPE_DEMO,
                    status=types_pb2.ACCOUNT_STATUS_ACTIVE,
                    margin_mode=types_pb2.MARGIN_MODE_HEDGING,
                    client_group="standard",
                    balance="10000.00",
                )
            ][: request.page_size or 100]
        )


@dataclass
class AdminUnderTest:
    pool: Any
    service: AdminService
    settings: AdminSettings
    grpc_target: str

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.service)),
            base_url="http://admin",
            headers=headers,
        )

    async def login(self, username: str) -> str:
        result = await self.service.login(username, USERS[username][0])
        return result.access_token

    async def audit_rows(self, action: str, actor: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT actor, action, target, before, after, trace_id FROM admin.audit_log "
            "WHERE action = $1 AND actor = $2 ORDER BY audit_id",
            action,
            actor,
        )
        return [dict(r) for r in rows]


@pytest.fixture(scope="session")
async def admin(pg_dsn: str) -> AsyncIterator[AdminUnderTest]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    pool = await create_pool(pg_dsn, "admin-test")
    for username, (password, role) in USERS.items():
        await repository.upsert_user(pool, username, passwords.hash_password(password), role)

    oms_server = GrpcServer("admintestoms", "127.0.0.1:0")
    oms_server.add(oms_pb2_grpc.add_OmsServiceServicer_to_server, FakeOms(), "fxmesh.v1.OmsService")
    oms_port = await oms_server.start()
    settings = AdminSettings(jwt_secret=JWT_SECRET, oms_addr=f"127.0.0.1:{oms_port}")
    channel = open_channel(settings.oms_addr)
    service = AdminService(settings, pool, oms_pb2_grpc.OmsServiceStub(channel))

    admin_server = GrpcServer("admintest", "127.0.0.1:0")
    admin_server.add(
        admin_pb2_grpc.add_AdminServiceServicer_to_server,
        AdminServicer(service),
        "fxmesh.v1.AdminService",
    )
    admin_port = await admin_server.start()
    yield AdminUnderTest(pool, service, settings, f"127.0.0.1:{admin_port}")
    await admin_server.stop(0)
    await channel.close()
    await oms_server.stop(0)
    await pool.close()


@pytest.fixture
def client_token(admin: AdminUnderTest) -> str:
    from fxmesh.auth import issue_token

    token, _ = issue_token(
        JWT_SECRET, subject="1001", token_type="client", ttl=timedelta(hours=1), login="demo"
    )
    return token
