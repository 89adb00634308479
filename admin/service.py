"""Admin use cases, shared by the gRPC servicer and the REST routes.

Every operation takes the caller's ``Principal`` and names the permission it needs (the role guard
lives in ``domain.authorize``); logins, successful or not, are written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import grpc
import structlog
from prometheus_client import Counter

from admin import repository
from admin.config import AdminSettings
from admin.domain import AuditEntry, AuditRecord, Permission, Principal, Role, authorize
from fxmesh import passwords
from fxmesh.auth import issue_token, verify_token
from fxmesh.errors import Unauthenticated, from_rpc_error
from fxmesh.tracing import current_trace_id
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2

log = structlog.stdlib.get_logger(__name__)
LOGINS = Counter("fxmesh_admin_logins_total", "Admin login attempts, by outcome.", ["outcome"])
DEFAULT_PAGE, MAX_PAGE = 100, 1000
ACTOR_MAX = 64


@dataclass(frozen=True, slots=True)
class LoginResult:
    access_token: str
    role: Role
    expires_at: datetime


def page_size(requested: int) -> int:
    return DEFAULT_PAGE if requested <= 0 else min(requested, MAX_PAGE)


class AdminService:
    """The back office: login, role-guarded reads, and (later) audited configuration changes."""

    def __init__(
        self, settings: AdminSettings, db: Any, oms: oms_pb2_grpc.OmsServiceAsyncStub
    ) -> None:
        self._settings = settings
        self._db = db
        self._oms = oms

    async def login(self, username: str, password: str) -> LoginResult:
        """Check credentials and issue an admin token; audit the attempt (never the password)."""
        user = await repository.fetch_user(self._db, username)
        ok = await passwords.verify_password(user.password_hash if user else None, password)
        actor = username[:ACTOR_MAX]
        if user is None or not ok or user.disabled:
            cause = "UNKNOWN_USER" if user is None else "BAD_PASSWORD" if not ok else "DISABLED"
            await self._audit(actor, "admin.login_failed", f"admin_user:{actor}", {"cause": cause})
            LOGINS.labels("failure").inc()
            raise Unauthenticated("username or password is wrong", reason="INVALID_CREDENTIALS")
        if passwords.needs_rehash(user.password_hash):
            await repository.set_password_hash(
                self._db, user.username, passwords.hash_password(password)
            )
        token, claims = issue_token(
            self._settings.jwt_secret,
            subject=user.username,
            token_type="admin",
            ttl=timedelta(seconds=self._settings.admin_token_ttl_seconds),
            role=user.role.value,
        )
        await self._audit(
            user.username, "admin.login", f"admin_user:{user.username}", {"role": user.role.value}
        )
        LOGINS.labels("success").inc()
        return LoginResult(token, user.role, claims.expires_at)

    def authenticate(self, token: str) -> Principal:
        """The admin an admin token names; client tokens and bad tokens are Unauthenticated."""
        claims = verify_token(self._settings.jwt_secret, token, expected_type="admin")
        try:
            role = Role(claims.role or "")
        except ValueError:
            raise Unauthenticated(
                "token has no valid role", metadata={"cause": "TOKEN_INVALID"}
            ) from None
        return Principal(claims.subject, role)

    async def list_client_accounts(
        self, principal: Principal, requested_page_size: int
    ) -> list[types_pb2.AccountInfo]:
        authorize(principal, Permission.READ)
        try:
            reply = await self._oms.ListAccounts(
                oms_pb2.ListAccountsRequest(page_size=page_size(requested_page_size)),
                timeout=self._settings.grpc_deadline_seconds,
            )
        except grpc.aio.AioRpcError as exc:
            raise from_rpc_error(exc) from exc
        return list(reply.accounts)

    async def list_audit_entries(
        self, principal: Principal, requested_page_size: int
    ) -> list[AuditEntry]:
        authorize(principal, Permission.READ)
        return await repository.list_audit(self._db, page_size(requested_page_size))

    async def ready(self) -> bool:
        try:
            return bool(await self._db.fetchval("SELECT 1") == 1)
        except Exception:
            return False

    async def _audit(
        self, actor: str, action: str, target: str, after: dict[str, Any] | None
    ) -> None:
        await repository.append_audit(
            self._db,
            AuditRecord(
                actor=actor, action=action, target=target, after=after, trace_id=current_trace_id()
            ),
        )
