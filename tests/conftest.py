"""Fixtures shared by every test: real PostgreSQL, Redis and RabbitMQ on loopback, isolated per run.

Each test session gets its own freshly migrated database, its own Redis logical database and its own
AMQP exchange name, so tests never see a developer's running stack (or another test run).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import aio_pika
import asyncpg
import pytest
import redis
import redis.asyncio as aioredis

from fxmesh.migrations import migrate_all

PG_SERVER = os.environ.get("FXMESH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REDIS_SERVER = os.environ.get("FXMESH_TEST_REDIS_SERVER", "redis://127.0.0.1:6379")
# Private stacks claim logical databases 1-13 (devstack.supervisor.claim_redis_db); test runs
# take 14 or 15, so two runs (or a run next to a benchmark) never flush each other's quotes.
TEST_REDIS_DBS = (14, 15)
AMQP_URL = os.environ.get("FXMESH_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/")
RUN_ID = uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
async def pg_dsn() -> AsyncIterator[str]:
    """DSN of a new database with every service's migrations applied; dropped afterwards."""
    dsn = f"{PG_SERVER}/fxmesh_test_{RUN_ID}"
    await migrate_all(dsn)
    yield dsn
    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "fxmesh_test_{RUN_ID}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """This run's Redis logical database (FXMESH_TEST_REDIS names one outright)."""
    if url := os.environ.get("FXMESH_TEST_REDIS"):
        yield url
        return
    claims = redis.Redis.from_url(f"{REDIS_SERVER}/0")
    try:
        for db in TEST_REDIS_DBS:
            # The claim lives in db 0: tests flush their own database before each test.
            if claims.set(f"fxmesh:test-run:{db}", RUN_ID, nx=True, ex=3 * 3600):
                break
        else:
            pytest.exit(f"Redis databases {TEST_REDIS_DBS} are both taken by other test runs")
        try:
            yield f"{REDIS_SERVER}/{db}"
        finally:
            claims.delete(f"fxmesh:test-run:{db}")
    finally:
        claims.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client on the test Redis database, emptied before each test."""
    client = aioredis.Redis.from_url(redis_url, decode_responses=True)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return AMQP_URL


@pytest.fixture(scope="session")
async def events_exchange(amqp_url: str) -> AsyncIterator[str]:
    """An exchange name private to this test run, deleted from the broker afterwards (with the
    router's durable flow queue on it, ``<exchange>.router-flow``)."""
    name = f"fxmesh.events.test.{RUN_ID}"
    yield name
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(f"{name}.router-flow")
        await channel.exchange_delete(name)
    finally:
        await connection.close()
