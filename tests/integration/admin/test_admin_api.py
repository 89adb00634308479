"""admin login and tokens against real PostgreSQL: audited logins, throttling that does not tell
known from unknown usernames, short-lived admin tokens never interchangeable with client ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import grpc
import pytest
from conftest import JWT_SECRET, LOCK_AFTER, bearer

from admin.logins import LoginThrottled
from admin.service import AdminService
from fxmesh.auth import issue_token, verify_token
from fxmesh.errors import Unauthenticated
from fxmesh.v1 import admin_pb2


async def test_login_when_password_right_then_short_lived_token_with_role_and_audited(admin):
    async with admin.http(**{"User-Agent": "desk/1.0"}) as http:
        response = await http.post(
            "/admin/login", json={"username": "root", "password": "root-password"}
        )

    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "SUPER_ADMIN"
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert expires - datetime.now(UTC) <= timedelta(hours=1)
    row = (await admin.audit_rows("admin.login", "root"))[-1]
    assert (row["target"], row["outcome"], row["role"]) == (
        "admin_user:root",
        "ALLOWED",
        "SUPER_ADMIN",
    )
    assert (row["source_ip"], row["user_agent"]) == ("127.0.0.1", "desk/1.0")
    assert row["trace_id"] == response.headers["x-trace-id"]


async def test_login_when_password_wrong_then_401_and_denied_row_without_password(admin):
    async with admin.http() as http:
        response = await http.post(
            "/admin/login", json={"username": "helpdesk", "password": "guess-123456"}
        )

    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"
    row = (await admin.audit_rows("admin.login_failed", "helpdesk"))[-1]
    assert (row["outcome"], row["error_code"]) == ("DENIED", "INVALID_CREDENTIALS")
    dump = await admin.pool.fetchval(
        "SELECT string_agg(row_to_json(a)::text, '') FROM admin.audit_log a"
    )
    assert "guess-123456" not in dump


async def test_login_when_failures_repeat_then_known_and_unknown_users_locked_alike(admin):
    known, unknown = "boss", "nobody-at-all"
    answers = {}
    for username in (known, unknown):
        async with admin.http() as http:
            for _ in range(LOCK_AFTER):
                failed = await http.post(
                    "/admin/login", json={"username": username, "password": "wrong-password"}
                )
                assert failed.status_code == 401
            locked = await http.post(
                "/admin/login", json={"username": username, "password": "wrong-password"}
            )
            right = await http.post(
                "/admin/login", json={"username": username, "password": "boss-password"}
            )
        answers[username] = (locked, right)

    for locked, right in answers.values():
        for response in (locked, right):
            assert response.status_code == 429
            assert response.json()["code"] == "LOGIN_THROTTLED"
            assert 0 < int(response.headers["retry-after"]) <= 900
    known_body, unknown_body = (answers[u][0].json() for u in (known, unknown))
    assert known_body == unknown_body
    row = (await admin.audit_rows("admin.login_failed", known))[-1]
    assert (row["outcome"], row["error_code"]) == ("DENIED", "LOGIN_THROTTLED")
    await admin.pool.execute("DELETE FROM admin.login_failures WHERE key = 'user:boss'")


async def test_login_when_one_address_fails_too_often_then_throttled_for_every_username(admin):
    settings = admin.settings.model_copy(update={"admin_login_max_failures_per_ip": 2})
    service = AdminService(settings, admin.pool, admin.oms, None, None)  # type: ignore[arg-type]
    ip = "203.0.113.9"
    for name in ("a-user", "b-user"):
        with pytest.raises(Unauthenticated):
            await service.login(name, "wrong-password", source_ip=ip)

    with pytest.raises(LoginThrottled) as throttled:
        await service.login("root", "root-password", source_ip=ip)

    assert throttled.value.reason == "LOGIN_THROTTLED"
    assert (await service.login("root", "root-password", source_ip="203.0.113.10")).access_token


async def test_admin_routes_when_client_token_then_401_wrong_token_type(admin, client_token):
    async with admin.http(client_token) as http:
        responses = [await http.get(p) for p in ("/admin/accounts", "/admin/audit", "/admin/lps")]

    for response in responses:
        assert response.status_code == 401
        assert response.json()["details"] == {"cause": "WRONG_TOKEN_TYPE"}


async def test_admin_token_when_presented_as_client_token_then_refused(admin):
    token = await admin.login("root")

    with pytest.raises(Unauthenticated) as err:
        verify_token(JWT_SECRET, token, expected_type="client")

    assert err.value.metadata == {"cause": "WRONG_TOKEN_TYPE"}


async def test_grpc_when_client_token_then_unauthenticated(admin, admin_stub, client_token):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await admin_stub.ListClientAccounts(
            admin_pb2.ListClientAccountsRequest(), metadata=bearer(client_token), timeout=10
        )

    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_grpc_login_when_right_then_token_works_and_role_returned(admin, admin_stub):
    login = await admin_stub.Login(
        admin_pb2.LoginRequest(username="helpdesk", password="helpdesk-password"), timeout=10
    )
    entries = await admin_stub.ListAuditEntries(
        admin_pb2.ListAuditEntriesRequest(
            page_size=3, filter=admin_pb2.AuditFilter(action="admin.login", actor="helpdesk")
        ),
        metadata=bearer(login.access_token),
        timeout=10,
    )

    assert login.role == admin_pb2.ADMIN_ROLE_SUPPORT
    assert entries.entries[0].outcome == admin_pb2.AUDIT_OUTCOME_ALLOWED
    assert entries.entries[0].source_ip == "127.0.0.1"


async def test_token_when_client_kind_signed_with_admin_typ_but_client_audience_then_refused():
    import jwt

    from fxmesh.auth import signing_key

    now = int(datetime.now(UTC).timestamp())
    forged = jwt.encode(
        {
            "iss": "fxmesh",
            "sub": "x",
            "typ": "admin",
            "aud": "fxmesh-client",
            "role": "SUPER_ADMIN",
            "iat": now,
            "exp": now + 60,
        },
        signing_key(JWT_SECRET),
        algorithm="HS256",
    )
    token, _ = issue_token(JWT_SECRET, subject="1", token_type="client", ttl=timedelta(minutes=1))

    for value in (forged, token):
        with pytest.raises(Unauthenticated) as err:
            verify_token(JWT_SECRET, value, expected_type="admin")
        assert err.value.metadata == {"cause": "WRONG_TOKEN_TYPE"}


async def test_audit_log_when_update_or_delete_attempted_then_refused(admin):
    await admin.login("root")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await admin.pool.execute("UPDATE admin.audit_log SET actor = 'someone-else'")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await admin.pool.execute("DELETE FROM admin.audit_log")
