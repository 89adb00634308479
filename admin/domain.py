"""Roles, permissions and the role guard (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from fxmesh.errors import PermissionDenied


class Role(StrEnum):
    """Admin roles, from most to least powerful."""

    SUPER_ADMIN = "SUPER_ADMIN"
    ADMIN = "ADMIN"
    RISK_MANAGER = "RISK_MANAGER"
    SUPPORT = "SUPPORT"


class Permission(StrEnum):
    """What an operation needs; each admin operation names exactly one."""

    READ = "READ"
    """Read accounts, orders, configuration and the audit log."""
    RISK_WRITE = "RISK_WRITE"
    """Change risk settings, execution modes, LP switches; act on client accounts."""
    CONFIG_WRITE = "CONFIG_WRITE"
    """Change symbols, groups, markups and other broker configuration."""
    USERS_WRITE = "USERS_WRITE"
    """Create, change and disable admin users."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SUPER_ADMIN: frozenset(Permission),
    Role.ADMIN: frozenset({Permission.READ, Permission.RISK_WRITE, Permission.CONFIG_WRITE}),
    Role.RISK_MANAGER: frozenset({Permission.READ, Permission.RISK_WRITE}),
    Role.SUPPORT: frozenset({Permission.READ}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated admin behind a request."""

    username: str
    role: Role


def authorize(principal: Principal, permission: Permission) -> None:
    """The role guard: raise PermissionDenied unless the principal's role grants ``permission``."""
    if permission not in ROLE_PERMISSIONS[principal.role]:
        raise PermissionDenied(
            f"role {principal.role} may not {permission}",
            reason="ROLE_NOT_PERMITTED",
            metadata={"role": principal.role.value, "permission": permission.value},
        )


@dataclass(frozen=True, slots=True)
class AdminUser:
    username: str
    password_hash: str
    role: Role
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One audit entry to append (before/after are JSON-able documents)."""

    actor: str
    action: str
    target: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    trace_id: str | None = None


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
