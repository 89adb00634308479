"""Admin users over REST and gRPC: creation with the password policy, role and status changes that
revoke live tokens, the last SUPER_ADMIN, own password changes and resets, and their audit rows."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from conftest import bearer

from admin.domain import Role
from fxmesh.v1 import admin_pb2

PASSWORD = "Correct-horse-42"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _create(admin, username: str, role: str, password: str = PASSWORD) -> None:
    async with admin.http(await admin.login("root")) as http:
        response = await http.post(
            "/admin/users", json={"username": username, "password": password, "role": role}
        )
    assert response.status_code == 201, response.text


async def _token(admin, username: str, password: str = PASSWORD) -> str:
    return (await admin.service.login(username, password)).access_token


@pytest.fixture
async def sole_super_admin(admin) -> AsyncIterator[None]:
    """Every enabled SUPER_ADMIN but the ones a test creates is disabled for the test (by SQL:
    their token versions stay, so their tokens work again afterwards)."""
    others = await admin.pool.fetch(
        "UPDATE admin.users SET disabled = true WHERE role = 'SUPER_ADMIN' AND NOT disabled "
        "RETURNING username"
    )
    yield
    await admin.pool.execute(
        "UPDATE admin.users SET disabled = false WHERE username = ANY($1::text[])",
        [r["username"] for r in others],
    )


async def test_create_user_when_super_admin_creates_then_user_logs_in_and_audit_has_no_password(
    admin,
):
    username = _name("ops")

    await _create(admin, username, "RISK_MANAGER")
    login = await admin.service.login(username, PASSWORD)

    assert login.role is Role.RISK_MANAGER
    row = await admin.last_audit("users.create")
    assert row["target"] == f"admin_user:{username}"
    assert row["outcome"] == "ALLOWED"
    assert row["after"] == {
        "username": username,
        "role": "RISK_MANAGER",
        "disabled": False,
    }
    assert PASSWORD not in json.dumps([str(v) for v in row.values()])
    async with admin.http(await admin.login("root")) as http:
        listed = (await http.get("/admin/users")).json()["users"]
    assert {"id": username, "role": "RISK_MANAGER", "disabled": False}.items() <= next(
        u for u in listed if u["username"] == username
    ).items()


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Short-1", "LENGTH"),
        ("onlylettershere", "LETTERS_AND_NON_LETTERS"),
        ("123456789012345", "LETTERS_AND_NON_LETTERS"),
        ("weakling-{user}-1", "CONTAINS_USERNAME"),
        ("ab1ab1ab1ab1ab1", "TOO_FEW_DISTINCT_CHARACTERS"),
    ],
)
async def test_create_user_when_password_is_weak_then_400_and_failed_audit_row(
    admin, password, rule
):
    username = _name("weak")
    async with admin.http(await admin.login("root")) as http:
        response = await http.post(
            "/admin/users",
            json={
                "username": username,
                "password": password.format(user=username),
                "role": "SUPPORT",
            },
        )

    assert response.status_code == 400
    assert response.json()["code"] == "PASSWORD_TOO_WEAK"
    assert response.json()["details"]["rule"] == rule
    assert (
        await admin.pool.fetchval("SELECT count(*) FROM admin.users WHERE username = $1", username)
        == 0
    )
    row = await admin.last_audit("users.create")
    assert (row["outcome"], row["error_code"]) == ("FAILED", "PASSWORD_TOO_WEAK")


async def test_create_user_when_username_taken_or_reserved_then_409_or_400(admin):
    username = _name("dup")
    await _create(admin, username, "SUPPORT")
    async with admin.http(await admin.login("root")) as http:
        taken = await http.post(
            "/admin/users", json={"username": username, "password": PASSWORD, "role": "ADMIN"}
        )
        reserved = await http.post(
            "/admin/users", json={"username": "me", "password": PASSWORD, "role": "ADMIN"}
        )
        bad_role = await http.post(
            "/admin/users", json={"username": _name("x"), "password": PASSWORD, "role": "GOD"}
        )

    assert (taken.status_code, taken.json()["code"]) == (409, "USERNAME_TAKEN")
    assert (reserved.status_code, reserved.json()["code"]) == (400, "USERNAME_RESERVED")
    assert (bad_role.status_code, bad_role.json()["code"]) == (422, "VALIDATION_ERROR")


async def test_update_user_when_disabled_then_live_token_refused_and_login_refused(admin):
    username = _name("gone")
    await _create(admin, username, "ADMIN")
    token = await _token(admin, username)
    async with admin.http(token) as http:
        assert (await http.get("/admin/accounts")).status_code == 200

    async with admin.http(await admin.login("root")) as http:
        response = await http.put(f"/admin/users/{username}", json={"disabled": True})
    async with admin.http(token) as http:
        refused = await http.get("/admin/accounts")

    assert response.status_code == 200
    assert response.json()["tokensRevoked"] is True
    assert response.json()["user"]["disabled"] is True
    assert refused.status_code == 401
    assert refused.json()["details"]["cause"] == "USER_DISABLED"
    async with admin.http() as http:
        login = await http.post("/admin/login", json={"username": username, "password": PASSWORD})
    assert (login.status_code, login.json()["code"]) == (401, "INVALID_CREDENTIALS")
    row = await admin.last_audit("users.update")
    assert row["before"]["disabled"] is False
    assert row["after"] == {
        "username": username,
        "role": "ADMIN",
        "disabled": True,
        "tokensRevoked": True,
    }


async def test_update_user_when_re_enabled_then_old_token_stays_revoked_and_new_login_works(admin):
    username = _name("back")
    await _create(admin, username, "SUPPORT")
    old = await _token(admin, username)
    async with admin.http(await admin.login("root")) as http:
        await http.put(f"/admin/users/{username}", json={"disabled": True})
        await http.put(f"/admin/users/{username}", json={"disabled": False})

    async with admin.http(old) as http:
        refused = await http.get("/admin/accounts")
    async with admin.http(await _token(admin, username)) as http:
        allowed = await http.get("/admin/accounts")

    assert (refused.status_code, refused.json()["details"]["cause"]) == (401, "TOKEN_REVOKED")
    assert allowed.status_code == 200


async def test_update_user_when_role_changes_then_old_token_revoked_and_new_role_applies(admin):
    username = _name("promo")
    await _create(admin, username, "SUPPORT")
    old = await _token(admin, username)

    async with admin.http(await admin.login("root")) as http:
        response = await http.put(f"/admin/users/{username}", json={"role": "RISK_MANAGER"})
    new = await admin.service.login(username, PASSWORD)

    assert response.json()["user"]["role"] == "RISK_MANAGER"
    async with admin.http(old) as http:
        assert (await http.get("/admin/accounts")).status_code == 401
    assert new.role is Role.RISK_MANAGER


async def test_update_user_when_nothing_or_unknown_then_400_or_404(admin):
    async with admin.http(await admin.login("root")) as http:
        empty = await http.put("/admin/users/root", json={})
        unknown = await http.put("/admin/users/nosuchuser", json={"role": "ADMIN"})
        extra = await http.put("/admin/users/root", json={"password": "x"})

    assert (empty.status_code, empty.json()["code"]) == (400, "NO_CHANGES")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "ADMIN_USER_NOT_FOUND")
    assert (extra.status_code, extra.json()["code"]) == (422, "UNKNOWN_FIELD")


async def test_update_user_when_last_super_admin_demotes_or_disables_self_then_409(
    admin, sole_super_admin
):
    username = _name("solo")
    await admin.pool.execute(
        "INSERT INTO admin.users (username, password_hash, role) "
        "SELECT $1, password_hash, 'SUPER_ADMIN' FROM admin.users WHERE username = 'root'",
        username,
    )
    token = await _token(admin, username, "root-password")

    async with admin.http(token) as http:
        demote = await http.put(f"/admin/users/{username}", json={"role": "ADMIN"})
        disable = await http.put(f"/admin/users/{username}", json={"disabled": True})
        still = await http.get("/admin/users")

    for response in (demote, disable):
        assert response.status_code == 409
        assert response.json()["code"] == "LAST_SUPER_ADMIN"
    assert still.status_code == 200
    row = await admin.last_audit("users.update")
    assert (row["outcome"], row["error_code"], row["actor"]) == (
        "FAILED",
        "LAST_SUPER_ADMIN",
        username,
    )


async def test_update_user_when_two_super_admins_demote_themselves_at_once_then_one_remains(
    admin, admin_stub, sole_super_admin
):
    names = [_name("twin"), _name("twin")]
    for name in names:
        await admin.pool.execute(
            "INSERT INTO admin.users (username, password_hash, role) "
            "SELECT $1, password_hash, 'SUPER_ADMIN' FROM admin.users WHERE username = 'root'",
            name,
        )
    tokens = [await _token(admin, name, "root-password") for name in names]

    async def demote_self(name: str, token: str) -> grpc.StatusCode:
        try:
            await admin_stub.UpdateAdminUser(
                admin_pb2.UpdateAdminUserRequest(username=name, role=admin_pb2.ADMIN_ROLE_ADMIN),
                metadata=bearer(token),
                timeout=10,
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    codes = await asyncio.gather(*(demote_self(n, t) for n, t in zip(names, tokens, strict=True)))

    assert sorted(c.name for c in codes) == ["FAILED_PRECONDITION", "OK"]
    supers = await admin.pool.fetchval(
        "SELECT count(*) FROM admin.users WHERE role = 'SUPER_ADMIN' AND NOT disabled"
    )
    assert supers == 1


async def test_change_own_password_when_current_is_right_then_new_token_and_old_revoked(admin):
    username = _name("self")
    await _create(admin, username, "SUPPORT")
    old = await _token(admin, username)
    new_password = "Another-horse-77"

    async with admin.http(old) as http:
        wrong = await http.post(
            "/admin/users/me/password",
            json={"currentPassword": "nope-nope-1", "newPassword": new_password},
        )
        weak = await http.post(
            "/admin/users/me/password", json={"currentPassword": PASSWORD, "newPassword": "short"}
        )
        same = await http.post(
            "/admin/users/me/password", json={"currentPassword": PASSWORD, "newPassword": PASSWORD}
        )
        done = await http.post(
            "/admin/users/me/password",
            json={"currentPassword": PASSWORD, "newPassword": new_password},
        )
        after_old = await http.get("/admin/accounts")

    assert (wrong.status_code, wrong.json()["code"]) == (400, "CURRENT_PASSWORD_WRONG")
    assert (weak.status_code, weak.json()["code"]) == (400, "PASSWORD_TOO_WEAK")
    assert (same.status_code, same.json()["code"]) == (400, "PASSWORD_UNCHANGED")
    assert done.status_code == 200, done.text
    assert after_old.status_code == 401
    async with admin.http(done.json()["accessToken"]) as http:
        assert (await http.get("/admin/accounts")).status_code == 200
    assert (await admin.service.login(username, new_password)).role is Role.SUPPORT
    row = await admin.last_audit("users.change_own_password")
    assert row["outcome"] == "ALLOWED"
    assert row["after"]["passwordChanged"] is True
    assert new_password not in json.dumps(row["after"])


async def test_change_own_password_when_current_guessed_repeatedly_then_throttled(admin):
    username = _name("guess")
    await _create(admin, username, "SUPPORT")
    token = await _token(admin, username)

    async with admin.http(token) as http:
        answers = [
            await http.post(
                "/admin/users/me/password",
                json={"currentPassword": f"guess-{i}-xyz", "newPassword": "Another-horse-77"},
            )
            for i in range(4)
        ]

    assert [a.status_code for a in answers] == [400, 400, 400, 429]
    assert answers[-1].json()["code"] == "LOGIN_THROTTLED"
    assert "Retry-After" in answers[-1].headers


async def test_reset_password_when_super_admin_resets_other_then_their_tokens_stop(admin):
    username = _name("reset")
    await _create(admin, username, "ADMIN")
    old = await _token(admin, username)
    fresh = "Reset-horse-2024"

    async with admin.http(await admin.login("root")) as http:
        response = await http.post(f"/admin/users/{username}/password", json={"newPassword": fresh})
        own = await http.post("/admin/users/root/password", json={"newPassword": fresh})
        unknown = await http.post("/admin/users/nosuchuser/password", json={"newPassword": fresh})

    assert response.status_code == 200
    assert (own.status_code, own.json()["code"]) == (400, "OWN_PASSWORD_NEEDS_CURRENT")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "ADMIN_USER_NOT_FOUND")
    async with admin.http(old) as http:
        assert (await http.get("/admin/accounts")).status_code == 401
    assert (await admin.service.login(username, fresh)).role is Role.ADMIN
    rows = await admin.audit_rows("users.reset_password", "root")
    done = next(r for r in rows if r["target"] == f"admin_user:{username}")
    assert (done["outcome"], done["after"]["tokensRevoked"]) == ("ALLOWED", True)
    assert fresh not in json.dumps(done["after"])


async def test_grpc_users_when_created_updated_listed_then_same_semantics_as_rest(
    admin, admin_stub
):
    root = bearer(await admin.login("root"))
    username = _name("grpc")

    created = await admin_stub.CreateAdminUser(
        admin_pb2.CreateAdminUserRequest(
            username=username, password=PASSWORD, role=admin_pb2.ADMIN_ROLE_SUPPORT
        ),
        metadata=root,
        timeout=10,
    )
    updated = await admin_stub.UpdateAdminUser(
        admin_pb2.UpdateAdminUserRequest(username=username, disabled=True),
        metadata=root,
        timeout=10,
    )
    listed = await admin_stub.ListAdminUsers(
        admin_pb2.ListAdminUsersRequest(), metadata=root, timeout=10
    )
    with pytest.raises(grpc.aio.AioRpcError) as weak:
        await admin_stub.CreateAdminUser(
            admin_pb2.CreateAdminUserRequest(
                username=_name("grpc"), password="short", role=admin_pb2.ADMIN_ROLE_SUPPORT
            ),
            metadata=root,
            timeout=10,
        )

    assert created.user.role == admin_pb2.ADMIN_ROLE_SUPPORT
    assert updated.user.disabled
    assert updated.tokens_revoked
    assert any(u.username == username and u.disabled for u in listed.users)
    assert weak.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_grpc_change_own_password_when_done_then_answers_a_working_token(admin, admin_stub):
    username = _name("grpcself")
    await _create(admin, username, "SUPPORT")
    token = await _token(admin, username)

    reply = await admin_stub.ChangeOwnAdminPassword(
        admin_pb2.ChangeOwnAdminPasswordRequest(
            current_password=PASSWORD, new_password="Grpc-horse-2025"
        ),
        metadata=bearer(token),
        timeout=10,
    )
    with pytest.raises(grpc.aio.AioRpcError) as old:
        await admin_stub.GetExposure(
            admin_pb2.GetExposureRequest(), metadata=bearer(token), timeout=10
        )
    await admin_stub.GetExposure(
        admin_pb2.GetExposureRequest(), metadata=bearer(reply.access_token), timeout=10
    )

    assert reply.user.username == username
    assert old.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_dealer_when_created_then_reads_the_desk_but_changes_no_money_nor_risk_settings(
    admin, admin_stub
):
    username = _name("dealer")
    await _create(admin, username, "DEALER")
    token = await _token(admin, username)

    async with admin.http(token) as http:
        deposit = await http.post(
            "/admin/deposit",
            json={"accountId": "987654321", "amount": "10.00", "method": "BANK_TRANSFER"},
        )
        risk = await http.put("/admin/risk-settings", json={"stopOutLevel": "90"})
        board = await http.get("/admin/lps/statistics")
    listed = await admin_stub.ListAdminUsers(
        admin_pb2.ListAdminUsersRequest(), metadata=bearer(await admin.login("root")), timeout=10
    )

    assert (deposit.status_code, deposit.json()["code"]) == (403, "ROLE_NOT_PERMITTED")
    assert (risk.status_code, risk.json()["code"]) == (403, "ROLE_NOT_PERMITTED")
    assert board.status_code == 200
    [mine] = [u for u in listed.users if u.username == username]
    assert mine.role == admin_pb2.ADMIN_ROLE_DEALER
