"""Seed the first admin user (idempotent).

FXMESH_ADMIN_USERNAME (default ``admin``) / FXMESH_ADMIN_PASSWORD (default ``admin1234``) become a
SUPER_ADMIN. The credentials line is returned only in the local profile; outside it the default
password is refused.
"""

from __future__ import annotations

import os

from admin import audit, repository
from admin.domain import AuditRecord, Role
from fxmesh import passwords
from fxmesh.db import Conn

DEFAULT_USERNAME = "admin"
DEFAULT_PASSWORD = "admin1234"


class SeedError(RuntimeError):
    """The seed configuration is unsafe or invalid."""


async def seed(conn: Conn) -> list[str]:
    """Create or update the configured admin user; return human lines (local profile only)."""
    profile = os.environ.get("FXMESH_PROFILE", "local")
    username = os.environ.get("FXMESH_ADMIN_USERNAME", DEFAULT_USERNAME)
    password = os.environ.get("FXMESH_ADMIN_PASSWORD", DEFAULT_PASSWORD)
    if profile != "local" and password == DEFAULT_PASSWORD:
        raise SeedError(
            f"FXMESH_ADMIN_PASSWORD is the demo default; set a real password for the {profile!r} "
            "profile before seeding the admin user"
        )
    if len(password) < 8:
        raise SeedError("FXMESH_ADMIN_PASSWORD must have at least 8 characters")
    existing = await repository.fetch_user(conn, username)
    unchanged = (
        existing is not None
        and existing.role is Role.SUPER_ADMIN
        and not existing.disabled
        and passwords.verify_password_sync(existing.password_hash, password)
    )
    if not unchanged:
        async with conn.transaction():
            await repository.upsert_user(
                conn, username, passwords.hash_password(password), Role.SUPER_ADMIN
            )
            await audit.append(
                conn,
                AuditRecord(
                    actor="system:seed",
                    action="admin.user_seeded",
                    target=f"admin_user:{username}",
                    before=None if existing is None else {"role": existing.role.value},
                    after={"role": Role.SUPER_ADMIN.value},
                ),
            )
    if profile != "local":
        return []
    rest = os.environ.get("FXMESH_ADMIN_HTTP_ADDR", "127.0.0.1:8081")
    grpc_addr = os.environ.get("FXMESH_ADMIN_GRPC_ADDR", "127.0.0.1:50055")
    return [f"admin: {username} / {password} (SUPER_ADMIN) - http://{rest}/admin, gRPC {grpc_addr}"]
