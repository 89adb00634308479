"""grpc.aio AdminService: metadata token -> principal -> service -> proto. Nothing else."""

from __future__ import annotations

from typing import Any

import grpc

from admin.convert import audit_to_proto, role_to_proto, timestamp
from admin.domain import Principal
from admin.service import AdminService
from fxmesh.auth import bearer_token
from fxmesh.v1 import admin_pb2, admin_pb2_grpc


def token_from_metadata(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The bearer token of the ``authorization`` metadata ('' when absent)."""
    for key, value in context.invocation_metadata() or ():
        if key == "authorization":
            return bearer_token(value if isinstance(value, str) else value.decode())
    return ""


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, service: AdminService) -> None:
        self._service = service

    def _principal(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        return self._service.authenticate(token_from_metadata(context))

    async def Login(
        self, request: admin_pb2.LoginRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> admin_pb2.LoginResponse:
        result = await self._service.login(request.username, request.password)
        return admin_pb2.LoginResponse(
            access_token=result.access_token,
            role=role_to_proto(result.role),
            expire_time=timestamp(result.expires_at),
        )

    async def ListClientAccounts(
        self,
        request: admin_pb2.ListClientAccountsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> admin_pb2.ListClientAccountsResponse:
        accounts = await self._service.list_client_accounts(
            self._principal(context), request.page_size
        )
        return admin_pb2.ListClientAccountsResponse(accounts=accounts)

    async def ListAuditEntries(
        self,
        request: admin_pb2.ListAuditEntriesRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> admin_pb2.ListAuditEntriesResponse:
        entries = await self._service.list_audit_entries(
            self._principal(context), request.page_size
        )
        return admin_pb2.ListAuditEntriesResponse(entries=[audit_to_proto(e) for e in entries])
