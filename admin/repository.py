"""admin users SQL (asyncpg). Functions take a pool or a connection, so seed and service share
them. The audit log's SQL lives in ``admin.audit``."""

from __future__ import annotations

from typing import Any

import asyncpg

from admin.domain import AdminUser, Role, TokenHolder
from fxmesh.errors import AlreadyExists

_USER_COLUMNS = (
    "username, password_hash, role, disabled, created_at, token_version, updated_at, "
    "password_changed_at"
)


def _user(row: Any) -> AdminUser:
    return AdminUser(
        row["username"],
        row["password_hash"],
        Role(row["role"]),
        row["disabled"],
        row["created_at"],
        row["token_version"],
        row["updated_at"],
        row["password_changed_at"],
    )


async def fetch_user(db: Any, username: str, *, for_update: bool = False) -> AdminUser | None:
    """One user; ``for_update`` locks its row until the caller's transaction ends."""
    row = await db.fetchrow(
        f"SELECT {_USER_COLUMNS} FROM admin.users WHERE username = $1"
        + (" FOR UPDATE" if for_update else ""),
        username,
    )
    return None if row is None else _user(row)


async def list_users(db: Any) -> list[AdminUser]:
    rows = await db.fetch(f"SELECT {_USER_COLUMNS} FROM admin.users ORDER BY username")
    return [_user(r) for r in rows]


async def token_holder(db: Any, username: str) -> TokenHolder | None:
    """Role, status and token version of a user: the per-request check of an admin token."""
    row = await db.fetchrow(
        "SELECT role, disabled, token_version FROM admin.users WHERE username = $1", username
    )
    if row is None:
        return None
    return TokenHolder(Role(row["role"]), row["disabled"], row["token_version"])


async def insert_user(db: Any, username: str, password_hash: str, role: Role) -> AdminUser:
    """Create a user; AlreadyExists USERNAME_TAKEN when the username is in use."""
    try:
        row = await db.fetchrow(
            "INSERT INTO admin.users (username, password_hash, role) VALUES ($1, $2, $3) "
            f"RETURNING {_USER_COLUMNS}",
            username,
            password_hash,
            role.value,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(
            f"admin user {username!r} exists",
            reason="USERNAME_TAKEN",
            metadata={"username": username},
        ) from None
    return _user(row)


async def upsert_user(db: Any, username: str, password_hash: str, role: Role) -> None:
    """Create the user, or set its password and role and enable it (its old tokens stop)."""
    await db.execute(
        "INSERT INTO admin.users (username, password_hash, role) VALUES ($1, $2, $3) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash, "
        "role = EXCLUDED.role, disabled = false, "
        "token_version = admin.users.token_version + 1, updated_at = now(), "
        "password_changed_at = now()",
        username,
        password_hash,
        role.value,
    )


async def set_password_hash(db: Any, username: str, password_hash: str) -> None:
    """Store a re-hash of the same password (its tokens stay valid)."""
    await db.execute(
        "UPDATE admin.users SET password_hash = $2 WHERE username = $1", username, password_hash
    )


async def lock_active_super_admins(db: Any) -> list[str]:
    """Lock the rows of every enabled SUPER_ADMIN (in the caller's transaction), so two changes
    that would each leave one of them cannot both pass the last-SUPER_ADMIN check."""
    rows = await db.fetch(
        "SELECT username FROM admin.users WHERE role = 'SUPER_ADMIN' AND NOT disabled "
        "ORDER BY username FOR UPDATE"
    )
    return [r["username"] for r in rows]


async def change_user(db: Any, username: str, role: Role, disabled: bool) -> AdminUser:
    """Set role and status; revoke the user's tokens when either changed."""
    row = await db.fetchrow(
        "UPDATE admin.users SET role = $2, disabled = $3, updated_at = now(), "
        "token_version = token_version + CASE WHEN role <> $2 OR disabled <> $3 THEN 1 ELSE 0 END "
        f"WHERE username = $1 RETURNING {_USER_COLUMNS}",
        username,
        role.value,
        disabled,
    )
    return _user(row)


async def replace_password(db: Any, username: str, password_hash: str) -> AdminUser:
    """Set a new password and revoke the user's tokens."""
    row = await db.fetchrow(
        "UPDATE admin.users SET password_hash = $2, token_version = token_version + 1, "
        f"updated_at = now(), password_changed_at = now() WHERE username = $1 "
        f"RETURNING {_USER_COLUMNS}",
        username,
        password_hash,
    )
    return _user(row)
