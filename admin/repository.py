"""admin users SQL (asyncpg). Functions take a pool or a connection, so seed and service share
them. The audit log's SQL lives in ``admin.audit``."""

from __future__ import annotations

from typing import Any

from admin.domain import AdminUser, Role


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
