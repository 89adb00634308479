"""The role guard: which role may do what, in the domain and as a REST dependency."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx
import pytest
from fastapi import Depends, FastAPI

from admin.config import AdminSettings
from admin.domain import ROLE_PERMISSIONS, Permission, Principal, Role, authorize
from admin.rest.deps import require
from admin.service import AdminService
from fxmesh.auth import issue_token
from fxmesh.errors import PermissionDenied
from fxmesh.http import install_error_handlers

SECRET = "admin-unit-secret-0123456789"
require_dep = Depends(require(Permission.RISK_WRITE))


@pytest.mark.parametrize("role", list(Role))
def test_authorize_when_reading_then_every_role_may(role):
    authorize(Principal("u", role), Permission.READ)


@pytest.mark.parametrize(
    "permission", [Permission.RISK_WRITE, Permission.CONFIG_WRITE, Permission.USERS_WRITE]
)
def test_authorize_when_support_writes_then_permission_denied(permission):
    with pytest.raises(PermissionDenied) as err:
        authorize(Principal("s", Role.SUPPORT), permission)

    assert err.value.reason == "ROLE_NOT_PERMITTED"
    assert err.value.metadata == {"role": "SUPPORT", "permission": permission.value}


def test_role_permissions_when_compared_then_each_role_is_a_superset_of_the_next():
    ordered = [Role.SUPER_ADMIN, Role.ADMIN, Role.RISK_MANAGER, Role.SUPPORT]
    for stronger, weaker in itertools.pairwise(ordered):
        assert ROLE_PERMISSIONS[stronger] > ROLE_PERMISSIONS[weaker]
    assert Permission.USERS_WRITE not in ROLE_PERMISSIONS[Role.ADMIN]
    assert Permission.CONFIG_WRITE not in ROLE_PERMISSIONS[Role.RISK_MANAGER]


def guarded_app() -> FastAPI:
    settings = AdminSettings(jwt_secret=SECRET)
    app = FastAPI()
    app.state.service = AdminService(settings, db=None, oms=None)  # type: ignore[arg-type]
    install_error_handlers(app)

    @app.post("/admin/risk-thing")
    async def risk_thing(admin: Principal = require_dep) -> dict[str, str]:
        return {"by": admin.username}

    return app


def token(role: str, token_type: str = "admin") -> str:
    value, _ = issue_token(
        SECRET, subject=f"user-{role}", token_type=token_type, ttl=timedelta(hours=1), role=role
    )
    return value


async def call(app: FastAPI, bearer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://admin"
    ) as http:
        return await http.post("/admin/risk-thing", headers=headers)


@pytest.mark.parametrize(
    ("role", "status"),
    [("SUPER_ADMIN", 200), ("ADMIN", 200), ("RISK_MANAGER", 200), ("SUPPORT", 403)],
)
async def test_require_when_role_checked_then_allowed_or_403(role, status):
    response = await call(guarded_app(), token(role))

    assert response.status_code == status
    if status == 403:
        assert response.json()["code"] == "ROLE_NOT_PERMITTED"
    else:
        assert response.json() == {"by": f"user-{role}"}


async def test_require_when_client_token_or_none_then_401():
    app = guarded_app()

    assert (await call(app, token("SUPER_ADMIN", "client"))).status_code == 401
    assert (await call(app, None)).json()["code"] == "UNAUTHENTICATED"


async def test_require_when_admin_token_has_unknown_role_then_401():
    response = await call(guarded_app(), token("GOD"))

    assert response.status_code == 401
