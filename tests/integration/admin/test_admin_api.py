"""admin REST and gRPC against real PostgreSQL: logins audited, roles, token kinds."""

from __future__ import annotations

import json

import asyncpg
import grpc
import pytest

from fxmesh.grpcclient import open_channel
from fxmesh.v1 import admin_pb2, admin_pb2_grpc


async def test_login_when_password_right_then_token_with_role_and_success_audited(admin):
    async with admin.http() as http:
        response = await http.post(
            "/admin/login", json={"username": "root", "password": "root-password"}
        )

    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "SUPER_ADMIN"
    assert body["tokenType"] == "Bearer"
    rows = await admin.audit_rows("admin.login", "root")
    assert rows
    assert rows[-1]["target"] == "admin_user:root"
    assert rows[-1]["after"] == {"role": "SUPER_ADMIN"}
    assert rows[-1]["trace_id"] == response.headers["x-trace-id"]


async def test_login_when_password_wrong_then_401_and_failure_audited_without_password(admin):
    async with admin.http() as http:
        response = await http.post(
            "/admin/login", json={"username": "helpdesk", "password": "guess-123456"}
        )

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"
    rows = await admin.audit_rows("admin.login_failed", "helpdesk")
    assert rows[-1]["after"] == {"cause": "BAD_PASSWORD"}
    dump = await admin.pool.fetchval(
        "SELECT string_agg(row_to_json(a)::text, '') FROM admin.audit_log a"
    )
    assert "guess-123456" not in dump


async def test_login_when_user_unknown_then_401_and_audited_as_unknown_user(admin):
    async with admin.http() as http:
        response = await http.post(
            "/admin/login", json={"username": "mallory", "password": "whatever-1"}
        )

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"
    rows = await admin.audit_rows("admin.login_failed", "mallory")
    assert rows[-1]["after"] == {"cause": "UNKNOWN_USER"}


async def test_admin_routes_when_client_token_then_401_unauthenticated(admin, client_token):
    async with admin.http(client_token) as http:
        accounts = await http.get("/admin/accounts")
        audit = await http.get("/admin/audit")

    for response in (accounts, audit):
        assert response.status_code == 401
        assert response.json()["code"] == "UNAUTHENTICATED"
        assert response.json()["details"] == {"cause": "WRONG_TOKEN_TYPE"}


async def test_list_accounts_when_support_role_then_read_allowed(admin):
    token = await admin.login("helpdesk")
    async with admin.http(token) as http:
        response = await http.get("/admin/accounts", params={"pageSize": 10})

    assert response.status_code == 200
    account = response.json()["accounts"][0]
    assert account["accountId"] == "1001"
    assert account["balance"] == "10000.00"
    assert account["marginMode"] == "HEDGING"


async def test_list_audit_when_admin_token_then_newest_first(admin):
    token = await admin.login("risky")
    async with admin.http(token) as http:
        response = await http.get("/admin/audit", params={"pageSize": 5})

    assert response.status_code == 200
    entries = response.json()["entries"]
    assert 1 <= len(entries) <= 5
    assert entries[0]["action"] == "admin.login"
    assert entries[0]["actor"] == "risky"
    ids = [int(e["auditId"]) for e in entries]
    assert ids == sorted(ids, reverse=True)


async def test_audit_log_when_update_or_delete_attempted_then_refused(admin):
    await admin.login("root")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await admin.pool.execute("UPDATE admin.audit_log SET actor = 'someone-else'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await admin.pool.execute("DELETE FROM admin.audit_log")


async def test_grpc_when_logged_in_then_lists_audit_and_client_token_refused(admin, client_token):
    channel = open_channel(admin.grpc_target)
    stub = admin_pb2_grpc.AdminServiceStub(channel)
    try:
        login = await stub.Login(
            admin_pb2.LoginRequest(username="helpdesk", password="helpdesk-password"), timeout=10
        )
        entries = await stub.ListAuditEntries(
            admin_pb2.ListAuditEntriesRequest(page_size=3),
            metadata=[("authorization", f"Bearer {login.access_token}")],
            timeout=10,
        )
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.ListClientAccounts(
                admin_pb2.ListClientAccountsRequest(),
                metadata=[("authorization", f"Bearer {client_token}")],
                timeout=10,
            )
    finally:
        await channel.close()

    assert login.role == admin_pb2.ADMIN_ROLE_SUPPORT
    assert entries.entries[0].action == "admin.login"
    assert json.loads(entries.entries[0].after_json) == {"role": "SUPPORT"}
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
