"""Infrastructure bring-up: reuse what runs, start what is installed, explain what is missing.

The machine's own servers are never stopped here; "start" is exercised on private instances
(free ports, temporary data directories) that the tests stop again.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from devstack.infra import (
    InfraError,
    InfraTarget,
    ensure_infra,
    ensure_postgres,
    ensure_rabbitmq,
    ensure_redis,
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def run_dir() -> Iterator[Path]:
    # Not pytest's tmp_path: that is mode 0700, and PostgreSQL runs as another user under root.
    path = Path(tempfile.mkdtemp(prefix="fxmesh-infra-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def nothing_installed(run_dir: Path, **ports: int) -> InfraTarget:
    empty = run_dir / "empty-bin"
    empty.mkdir(exist_ok=True)
    return InfraTarget(
        postgres_port=ports.get("postgres_port", free_port()),
        redis_port=ports.get("redis_port", free_port()),
        amqp_port=ports.get("amqp_port", free_port()),
        run_dir=run_dir,
        path=str(empty),
        postgres_bin_glob=str(run_dir / "no-postgresql" / "*" / "bin"),
        allow_install=False,
    )


async def test_ensure_redis_when_not_installed_then_says_what_to_install(run_dir: Path) -> None:
    target = nothing_installed(run_dir)

    with pytest.raises(InfraError) as err:
        await ensure_redis(target, say=lambda _: None)

    assert "redis-server not found" in str(err.value)
    assert "apt-get install -y redis-server" in str(err.value)


async def test_ensure_rabbitmq_when_not_installed_then_says_what_to_install(run_dir: Path) -> None:
    target = nothing_installed(run_dir)

    with pytest.raises(InfraError) as err:
        await ensure_rabbitmq(target, say=lambda _: None)

    assert "rabbitmq-server not found" in str(err.value)
    assert "apt-get install -y rabbitmq-server" in str(err.value)


async def test_ensure_postgres_when_not_installed_then_says_what_to_install(run_dir: Path) -> None:
    target = nothing_installed(run_dir)

    with pytest.raises(InfraError) as err:
        await ensure_postgres(target, say=lambda _: None)

    assert "initdb/pg_ctl not found" in str(err.value)
    assert "apt-get install -y postgresql" in str(err.value)


async def test_ensure_infra_when_nothing_installed_then_lists_every_missing_server(
    run_dir: Path,
) -> None:
    target = nothing_installed(run_dir)

    with pytest.raises(InfraError) as err:
        await ensure_infra(target, say=lambda _: None)

    message = str(err.value)
    for package in ("postgresql", "redis-server", "rabbitmq-server"):
        assert f"apt-get install -y {package}" in message


async def test_ensure_infra_when_all_running_then_uses_them_and_starts_nothing(
    run_dir: Path,
) -> None:
    # The machine's servers on the default ports: found, used, never recorded as ours to stop.
    target = InfraTarget(run_dir=run_dir, allow_install=False)

    report = await ensure_infra(target, say=lambda _: None)

    assert report.status == {"postgresql": "running", "redis": "running", "rabbitmq": "running"}
    assert report.stop_commands == {}
    assert not (run_dir / "infra.json").exists()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
async def test_ensure_redis_when_installed_but_stopped_then_starts_it_under_run_dir(
    run_dir: Path,
) -> None:
    target = InfraTarget(redis_port=free_port(), run_dir=run_dir, allow_install=False)

    status, stop = await ensure_redis(target, say=lambda _: None)
    try:
        client = aioredis.Redis.from_url(f"{target.redis_url}/0")
        try:
            assert await client.ping()
        finally:
            await client.aclose()
        assert status == "started"
        assert (run_dir / "redis" / "redis.pid").exists()
        # A second ensure finds it running and leaves it alone.
        assert await ensure_redis(target, say=lambda _: None) == ("running", [])
    finally:
        await asyncio.to_thread(subprocess.run, stop, check=True, capture_output=True)


@pytest.mark.skipif(
    not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")) and shutil.which("initdb") is None,
    reason="PostgreSQL server not installed",
)
async def test_ensure_postgres_when_installed_but_stopped_then_initdbs_and_starts_it(
    run_dir: Path,
) -> None:
    target = InfraTarget(postgres_port=free_port(), run_dir=run_dir, allow_install=False)

    status, stop = await ensure_postgres(target, say=lambda _: None)
    try:
        conn = await asyncpg.connect(target.postgres_dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
        finally:
            await conn.close()
        assert status == "started"
        assert (run_dir / "postgres" / "data" / "PG_VERSION").exists()
    finally:
        await asyncio.to_thread(subprocess.run, stop, check=True, capture_output=True)
