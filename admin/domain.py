"""Admin roles, principals, request context and audit records (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """Admin roles, from most to least powerful (what each may do: ``admin.permissions``)."""

    SUPER_ADMIN = "SUPER_ADMIN"
    ADMIN = "ADMIN"
    RISK_MANAGER = "RISK_MANAGER"
    SUPPORT = "SUPPORT"


class Outcome(StrEnum):
    """What became of an audited call."""

    ALLOWED = "ALLOWED"
    DENIED = "DENIED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated admin behind a request."""

    username: str
    role: Role


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who calls, from where, under which request id: what every audit row records."""

    principal: Principal
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    """The caller's request id (``X-Request-Id`` / ``Idempotency-Key`` / a request field)."""

    def with_request_id(self, request_id: str) -> RequestContext:
        """This context with the operation's own request id (a body field wins over a header)."""
        if not request_id or request_id == self.request_id:
            return self
        return RequestContext(self.principal, self.source_ip, self.user_agent, request_id)


@dataclass(frozen=True, slots=True)
class AdminUser:
    """An admin user; its username is its id (``admin_user:<username>`` in the audit log)."""

    username: str
    password_hash: str
    role: Role
    disabled: bool
    created_at: datetime
    token_version: int = 1
    """Carried by the user's tokens; bumped on disable, role or password change (revokes them)."""
    updated_at: datetime | None = None
    password_changed_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """What an audit row keeps of the user (never the password hash)."""
        return {"username": self.username, "role": self.role.value, "disabled": self.disabled}


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """What a request checks of the user behind a token: one primary-key read."""

    role: Role
    disabled: bool
    token_version: int


@dataclass(slots=True)
class AuditRecord:
    """One audit entry to append. before/after are JSON documents of str/int/bool/None/list/dict
    only (decimals as strings), so their canonical encoding is stable through jsonb."""

    actor: str
    action: str
    target: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    trace_id: str | None = None
    role: str = ""
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    outcome: Outcome = Outcome.ALLOWED
    error_code: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored audit entry; before/after as JSON text ('' when absent)."""

    audit_id: int
    actor: str
    action: str
    target: str
    before_json: str
    after_json: str
    trace_id: str
    created_at: datetime
    role: str = ""
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    outcome: str = "ALLOWED"
    error_code: str = ""
    prev_hash: str = ""
    row_hash: str = ""
