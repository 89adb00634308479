"""Admin use cases, shared by the gRPC servicer and the REST routes.

``AdminService`` authenticates (login, tokens) and holds the desks: ``accounts`` (client accounts
and money, over oms), ``withdrawals`` (withdrawals awaiting four-eyes approval, funds held in oms), ``liquidity`` (LPs, FIX sessions, exposure, over fixgw and router), ``users``
(admin users), ``system`` (health, metrics, restart), ``symbols`` (symbol and risk settings, over
oms), ``execution`` (routing configuration in router, the book split in oms) and the audit log
reads. Every operation runs
through ``gate`` (one role check, one audit row). The desks take and answer admin's domain types
(``admin.domain``); the other services' stubs are wrapped here in ``admin.clients``, the one place
their protobuf replies are read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter

from admin import audit, repository
from admin.accounts import AccountsDesk, page_size
from admin.clients import FixgwClient, OmsClient, QuotesClient, RouterClient
from admin.config import AdminSettings
from admin.domain import (
    AdminUser,
    AuditEntry,
    AuditRecord,
    Outcome,
    Principal,
    RequestContext,
    Role,
)
from admin.execution import ExecutionDesk
from admin.execution_clients import ExecutionClients
from admin.gate import Gate
from admin.liquidity import LiquidityDesk
from admin.logins import LoginThrottle, LoginThrottled, ip_key, user_key
from admin.markups import MarkupsDesk
from admin.markups_clients import QuotesMarkups
from admin.permissions import Op
from admin.symbols import SymbolsDesk
from admin.system import Probe, SystemDesk
from admin.tokens import issue_admin_token, token_version
from admin.users import UsersDesk
from admin.withdrawals import WithdrawalsDesk
from fxmesh import passwords
from fxmesh.auth import verify_token
from fxmesh.errors import Unauthenticated
from fxmesh.tracing import current_trace_id

if TYPE_CHECKING:
    from admin.clients import FixgwStub, OmsStub, QuotesStub, RouterStub

log = structlog.stdlib.get_logger(__name__)
LOGINS = Counter("fxmesh_admin_logins_total", "Admin login attempts, by outcome.", ["outcome"])
ACTOR_MAX = 64


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class LoginResult:
    access_token: str
    role: Role
    expires_at: datetime


class AdminService:
    """The back office: login, tokens, and the role-guarded, audited desks."""

    def __init__(
        self,
        settings: AdminSettings,
        db: Any,
        oms: OmsStub,
        fixgw: FixgwStub,
        router: RouterStub,
        *,
        quotes: QuotesStub | None = None,
        probes: Sequence[Probe] = (),
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._db = db
        self._now = now
        self.gate = Gate(db)
        deadline = settings.grpc_deadline_seconds
        oms_client = OmsClient(oms, deadline)
        fixgw_client = FixgwClient(fixgw, deadline)
        router_client = RouterClient(router, deadline)
        self.withdrawals = WithdrawalsDesk(
            self.gate, db, oms_client, settings.admin_withdrawal_approval_above, now
        )
        self.accounts = AccountsDesk(self.gate, oms_client, self.withdrawals)
        self.liquidity = LiquidityDesk(
            self.gate,
            fixgw_client,
            router_client,
            QuotesClient(quotes, deadline) if quotes is not None else None,
        )
        self._throttle = LoginThrottle(
            db,
            max_failures=settings.admin_login_max_failures,
            max_failures_per_ip=settings.admin_login_max_failures_per_ip,
            window=timedelta(seconds=settings.admin_login_window_seconds),
            lockout=timedelta(seconds=settings.admin_login_lockout_seconds),
        )
        self.users = UsersDesk(self.gate, db, self._throttle, now)
        self.symbols = SymbolsDesk(self.gate, oms_client)
        self.system = SystemDesk(
            self.gate,
            db,
            oms_client,
            fixgw_client,
            router_client,
            probes,
            probe_timeout=settings.admin_health_timeout_seconds,
            now=now,
        )
        self.execution = ExecutionDesk(self.gate, ExecutionClients(router, oms, deadline))
        self.markups = MarkupsDesk(self.gate, QuotesMarkups(quotes, deadline))

    # --- login and tokens ------------------------------------------------------------------------

    async def login(
        self, username: str, password: str, *, source_ip: str = "", user_agent: str = ""
    ) -> LoginResult:
        """Check credentials and issue an admin token; audit the attempt (never the password).

        A locked username or source address is refused (LOGIN_THROTTLED) before anything else;
        a failure counts against both, known username or not.
        """
        actor = username[:ACTOR_MAX]
        keys = [user_key(username), ip_key(source_ip)]
        record = AuditRecord(
            actor=actor,
            action="admin.login_failed",
            target=f"admin_user:{actor}",
            trace_id=current_trace_id(),
            source_ip=source_ip,
            user_agent=user_agent[:512],
            outcome=Outcome.DENIED,
        )
        now = self._now()
        try:
            await self._throttle.check(keys, now)
        except LoginThrottled as exc:
            record.error_code, record.after = exc.reason, {"cause": "THROTTLED"}
            await audit.append(self._db, record)
            LOGINS.labels("throttled").inc()
            raise
        user = await repository.fetch_user(self._db, username)
        ok = await passwords.verify_password(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            cause = "UNKNOWN_USER" if user is None else "BAD_PASSWORD" if not ok else "DISABLED"
            await self._throttle.failed(keys, now)
            record.error_code, record.after = "INVALID_CREDENTIALS", {"cause": cause}
            if user is not None:
                record.role = user.role.value
            await audit.append(self._db, record)
            LOGINS.labels("failure").inc()
            raise Unauthenticated("username or password is wrong", reason="INVALID_CREDENTIALS")
        await self._throttle.succeeded(username)
        if passwords.needs_rehash(user.password_hash):
            await repository.set_password_hash(
                self._db, user.username, passwords.hash_password(password)
            )
        result = self.issue(user)
        record.action, record.actor, record.role = "admin.login", user.username, user.role.value
        record.target, record.outcome = f"admin_user:{user.username}", Outcome.ALLOWED
        record.after = {"role": user.role.value}
        await audit.append(self._db, record)
        LOGINS.labels("success").inc()
        return result

    def issue(self, user: AdminUser) -> LoginResult:
        """A fresh token for ``user`` at its current token version."""
        token, claims = issue_admin_token(
            self._settings.jwt_secret,
            username=user.username,
            role=user.role.value,
            version=user.token_version,
            ttl=timedelta(seconds=self._settings.admin_token_ttl_seconds),
        )
        return LoginResult(token, user.role, claims.expires_at)

    async def authenticate(self, token: str) -> Principal:
        """The admin an admin token names. Client tokens and bad tokens are Unauthenticated, and
        so is the token of a user disabled (cause USER_DISABLED), removed, or whose role or
        password changed since it was issued (cause TOKEN_REVOKED): one primary-key read per
        request, no cache, so a change holds at once on every replica."""
        claims = verify_token(self._settings.jwt_secret, token, expected_type="admin")
        holder = await repository.token_holder(self._db, claims.subject)
        if holder is not None and holder.disabled:
            raise Unauthenticated("admin user is disabled", metadata={"cause": "USER_DISABLED"})
        if holder is None or holder.token_version != token_version(token):
            raise Unauthenticated("token was revoked", metadata={"cause": "TOKEN_REVOKED"})
        return Principal(claims.subject, holder.role)

    async def change_own_password(
        self, ctx: RequestContext, current_password: str, new_password: str
    ) -> tuple[AdminUser, LoginResult]:
        """Change the caller's password; their other tokens stop, this answer carries a new one."""
        user = await self.users.change_own_password(ctx, current_password, new_password)
        return user, self.issue(user)

    # --- audit log -------------------------------------------------------------------------------

    async def list_audit(
        self, ctx: RequestContext, f: audit.AuditFilter, requested: int, page_token: str
    ) -> tuple[list[AuditEntry], str]:
        async with self.gate.guard(ctx, Op.AUDIT_LIST):
            return await audit.search(self._db, f, page_size(requested), page_token)

    async def export_audit(self, ctx: RequestContext, f: audit.AuditFilter) -> tuple[str, int]:
        async with self.gate.guard(ctx, Op.AUDIT_EXPORT):
            return await audit.export_csv(self._db, f)

    async def verify_audit(self, ctx: RequestContext) -> audit.Verification:
        async with self.gate.guard(ctx, Op.AUDIT_VERIFY):
            return await audit.verify(self._db)

    async def ready(self) -> bool:
        try:
            return bool(await self._db.fetchval("SELECT 1") == 1)
        except Exception:
            return False
