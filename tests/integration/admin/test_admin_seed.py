"""admin.seed: the first SUPER_ADMIN, idempotent, demo password refused outside local."""

from __future__ import annotations

import asyncpg
import pytest

from admin.seed import SeedError, seed


@pytest.fixture
async def conn(pg_dsn):
    connection = await asyncpg.connect(pg_dsn)
    yield connection
    await connection.close()


async def test_seed_when_local_profile_then_super_admin_and_credentials_line(conn, monkeypatch):
    monkeypatch.setenv("FXMESH_PROFILE", "local")
    monkeypatch.setenv("FXMESH_ADMIN_USERNAME", "seeded")
    monkeypatch.delenv("FXMESH_ADMIN_PASSWORD", raising=False)

    lines = await seed(conn)
    audits_after_first = await conn.fetchval(
        "SELECT count(*) FROM admin.audit_log WHERE target = 'admin_user:seeded'"
    )
    again = await seed(conn)
    audits_after_second = await conn.fetchval(
        "SELECT count(*) FROM admin.audit_log WHERE target = 'admin_user:seeded'"
    )

    row = await conn.fetchrow("SELECT role, disabled FROM admin.users WHERE username = 'seeded'")
    assert (row["role"], row["disabled"]) == ("SUPER_ADMIN", False)
    assert "seeded / admin1234" in lines[0]
    assert again == lines
    assert audits_after_first == audits_after_second == 1


async def test_seed_when_production_with_default_password_then_refused(conn, monkeypatch):
    monkeypatch.setenv("FXMESH_PROFILE", "production")
    monkeypatch.delenv("FXMESH_ADMIN_PASSWORD", raising=False)

    with pytest.raises(SeedError, match="FXMESH_ADMIN_PASSWORD"):
        await seed(conn)


async def test_seed_when_production_with_real_password_then_no_credentials_printed(
    conn, monkeypatch
):
    monkeypatch.setenv("FXMESH_PROFILE", "production")
    monkeypatch.setenv("FXMESH_ADMIN_USERNAME", "prodadmin")
    monkeypatch.setenv("FXMESH_ADMIN_PASSWORD", "a-long-real-password")

    assert await seed(conn) == []
    assert await conn.fetchval("SELECT role FROM admin.users WHERE username = 'prodadmin'") == (
        "SUPER_ADMIN"
    )
