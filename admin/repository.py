"""admin SQL (asyncpg). Functions take a pool or a connection, so seed and service share them.

JSON goes in and out as text (``$n::text::jsonb`` / ``::text``) so the statements work on a pool
with the jsonb codec and on a bare connection alike.
"""

from __future__ import annotations

import json
from typing import Any

from admin.domain import AdminUser, AuditEntry, AuditRecord, Role


async def fetch_user(db: Any, username: str) -> AdminUser | None:
    row = await db.fetchrow(
        "SELECT username, password_hash, role, disabled, created_at FROM admin.users "
        "WHERE username = $1",
        username,
    )
    if row is None:
        return None
    return AdminUser(
        row["username"], row["password_hash"], Role(row["role"]), row["disabled"], row["created_at"]
    )


async def upsert_user(db: Any, username: str, password_hash: str, role: Role) -> None:
    """Create the user, or set its password and role and enable it."""
    await db.execute(
        "INSERT INTO admin.users (username, password_hash, role) VALUES ($1, $2, $3) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
        "role = EXCLUDED.role, disabled = false",
        username,
        password_hash,
        role.value,
    )


async def set_password_hash(db: Any, username: str, password_hash: str) -> None:
    await db.execute(
        "UPDATE admin.users SET password_hash = $2 WHERE username = $1", username, password_hash
    )


def _doc(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


async def append_audit(db: Any, record: AuditRecord) -> int:
    """Append one entry; returns its audit_id."""
    audit_id: int = await db.fetchval(
        "INSERT INTO admin.audit_log (actor, action, target, before, after, trace_id) "
        "VALUES ($1, $2, $3, $4::text::jsonb, $5::text::jsonb, $6) RETURNING audit_id",
        record.actor,
        record.action,
        record.target,
        _doc(record.before),
        _doc(record.after),
        record.trace_id,
    )
    return audit_id


async def list_audit(db: Any, limit: int) -> list[AuditEntry]:
    """Newest first."""
    rows = await db.fetch(
        "SELECT audit_id, actor, action, target, before::text AS before_json, "
        "after::text AS after_json, trace_id, created_at FROM admin.audit_log "
        "ORDER BY audit_id DESC LIMIT $1",
        limit,
    )
    return [
        AuditEntry(
            audit_id=r["audit_id"],
            actor=r["actor"],
            action=r["action"],
            target=r["target"],
            before_json=r["before_json"] or "",
            after_json=r["after_json"] or "",
            trace_id=r["trace_id"] or "",
            created_at=r["created_at"],
        )
        for r in rows
    ]
