"""Router instances on 127.0.0.1:0 over the session's real PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import grpc
import pytest
from router_harness import Stub, settings

from router.server import RouterApp, start_router


@pytest.fixture
async def start(pg_dsn: str, redis_url: str) -> AsyncIterator[Callable[[], Awaitable[RouterApp]]]:
    """Start router instances on the test database; all are stopped after the test."""
    apps: list[RouterApp] = []

    async def _start() -> RouterApp:
        app = await start_router(settings(pg_dsn, redis_url))
        apps.append(app)
        return app

    yield _start
    for app in apps:
        await app.stop()


@pytest.fixture
async def router(start: Callable[[], Awaitable[RouterApp]]) -> RouterApp:
    return await start()


@pytest.fixture
async def stub(router: RouterApp) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{router.server.port}") as channel:
        yield Stub(channel)


@pytest.fixture
async def db(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_dsn)
    yield conn
    await conn.close()
