"""The outbox relay against real PostgreSQL and RabbitMQ, on a database of its own (the oms server
of the other tests runs a relay on theirs): one message per account and trace, and a broker that
refuses one message leaves it and everything after it for the next pass, in order."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aio_pika
import asyncpg
import pytest

from fxmesh.background import BackgroundLoop
from fxmesh.db import Pool, create_pool
from fxmesh.events import declare_exchange
from fxmesh.eventtypes import EventType
from oms.store import outbox
from oms.store.outbox import OutboxPruner, OutboxRelay

_UNPUBLISHED = "SELECT count(*) FROM oms.outbox WHERE published_at IS NULL"


async def _account(conn: asyncpg.Connection) -> int:
    account_id: int = await conn.fetchval(
        "INSERT INTO oms.accounts (login, password_hash, type, currency, leverage, status, "
        "client_group, margin_mode, margin_call_level, stop_out_level) "
        "VALUES ($1, 'x', 'DEMO', 'USD', 100, 'ACTIVE', 'retail', 'HEDGING', 100, 50) "
        "RETURNING account_id",
        f"relay-{uuid.uuid4().hex[:8]}",
    )
    return account_id


async def _raise(conn: Any, account_id: int, n: int, trace: str) -> list[str]:
    """``n`` events of one account in one transaction and trace context; their ids."""
    raised = [
        outbox.new_event(EventType.ORDER_UPDATE, account_id, {"n": i}, {"traceparent": trace})  # type: ignore[arg-type]
        for i in range(n)
    ]
    async with conn.transaction():
        await outbox.write(conn, raised)
    return [e.envelope["eventId"] for e in raised]


async def _drain(queue: aio_pika.abc.AbstractQueue) -> list[list[dict[str, Any]]]:
    bodies = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        bodies.append(json.loads(message.body))
    return bodies


@contextlib.asynccontextmanager
async def _outbox_and_broker(
    dsn: str, amqp_url: str
) -> AsyncIterator[tuple[str, Pool, aio_pika.abc.AbstractRobustConnection]]:
    """A pool on the test's database, a broker connection and an exchange name of its own."""
    pool = await create_pool(dsn, "oms")
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        yield f"fxmesh.test.relay.{uuid.uuid4().hex[:8]}", pool, connection
    finally:
        await connection.close()
        await pool.close()


async def _watch(
    connection: aio_pika.abc.AbstractConnection, exchange_name: str
) -> aio_pika.abc.AbstractQueue:
    """A queue bound to every account's events on the exchange."""
    channel = await connection.channel()
    exchange = await declare_exchange(channel, exchange_name)
    watch = await channel.declare_queue(exclusive=True)
    await watch.bind(exchange, routing_key="events.#")
    return watch


async def _next_message(queue: aio_pika.abc.AbstractQueue) -> list[dict[str, Any]]:
    for _ in range(100):
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            body: list[dict[str, Any]] = json.loads(message.body)
            return body
        await asyncio.sleep(0.1)
    raise AssertionError("nothing was published within 10 s")


async def _relay_watched(
    pool: Pool, amqp_url: str, exchange_name: str, connection: aio_pika.abc.AbstractConnection
) -> tuple[OutboxRelay, aio_pika.abc.AbstractExchange, aio_pika.abc.AbstractQueue]:
    """A relay, the exchange it publishes to (on a confirming channel, as its own) and a queue
    bound to every account's events."""
    watch = await _watch(connection, exchange_name)
    confirming = await connection.channel(publisher_confirms=True)
    target = await declare_exchange(confirming, exchange_name)
    return OutboxRelay(pool, amqp_url, exchange_name), target, watch


async def test_relay_when_broker_refuses_one_message_then_it_and_later_ones_go_next_pass_in_order(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    async with _outbox_and_broker(empty_oms_dsn, amqp_url) as (exchange_name, pool, connection):
        async with pool.acquire() as conn:
            first, second = await _account(conn), await _account(conn)
            a1 = await _raise(conn, first, 3, "t1")
            b1 = await _raise(conn, second, 1, "t2")
            a2 = await _raise(conn, first, 2, "t3")
        channel = await connection.channel()
        exchange = await declare_exchange(channel, exchange_name)
        watch = await channel.declare_queue(exclusive=True)
        await watch.bind(exchange, routing_key=f"events.{first}")
        # A queue that refuses every message: the broker nacks whatever is routed to it.
        full = await channel.declare_queue(
            exclusive=True, arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
        )
        await full.bind(exchange, routing_key=f"events.{second}")

        relay = OutboxRelay(pool, amqp_url, exchange_name)
        confirming = await connection.channel(publisher_confirms=True)
        target = await declare_exchange(confirming, exchange_name)
        with pytest.raises(aio_pika.exceptions.DeliveryError):  # the broker's nack
            await relay.relay_once(target)

        async with pool.acquire() as conn:
            unpublished = await conn.fetch(
                "SELECT payload->>'eventId' AS id FROM oms.outbox WHERE published_at IS NULL "
                "ORDER BY outbox_id"
            )
        # The first account's first transaction went out as one message and stays marked;
        # the refused message and the one after it (confirmed or not) go again.
        assert [r["id"] for r in unpublished] == b1 + a2

        await full.unbind(exchange, routing_key=f"events.{second}")
        assert await relay.relay_once(target) == 3
        await asyncio.sleep(0.2)
        received = await _drain(watch)
        ids = [[e["eventId"] for e in body] for body in received]
        # a2 may arrive twice (it was confirmed in the failed pass): at least once, and never
        # before a1.
        assert ids[0] == a1
        assert all(batch == a2 for batch in ids[1:])
        assert len(ids) in (2, 3)
        async with pool.acquire() as conn:
            # Published, marked by the next pass (or at the relay's stop).
            assert await conn.fetchval(_UNPUBLISHED) == 3
        assert await relay.relay_once(target) == 0
        async with pool.acquire() as conn:
            left = await conn.fetchval(_UNPUBLISHED)
        assert left == 0


async def test_relay_when_the_lease_holder_dies_then_another_takes_over_after_it_in_order(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    async with _outbox_and_broker(empty_oms_dsn, amqp_url) as (exchange_name, pool, connection):
        async with pool.acquire() as conn:
            first, second = await _account(conn), await _account(conn)
            a1 = await _raise(conn, first, 2, "t1")
            # A relay (another oms process) took the lease for a second, read a1 and died before
            # publishing it.
            dead = uuid.uuid4()
            read = await outbox.next_rows(conn, dead, outbox.BATCH, timedelta(seconds=1))
            assert [r["event_id"] for r in read] == a1
            b1 = await _raise(conn, second, 1, "t2")
            a2 = await _raise(conn, first, 1, "t3")
        relay, target, watch = await _relay_watched(pool, amqp_url, exchange_name, connection)

        assert await relay.relay_once(target) == 0  # the dead relay's lease still runs
        await asyncio.sleep(1.2)
        assert await relay.relay_once(target) == 4
        # Now it holds the lease: the dead one, back, gets nothing while it does.
        async with pool.acquire() as conn:
            assert await outbox.next_rows(conn, dead, outbox.BATCH, timedelta(seconds=1)) == []
        await asyncio.sleep(0.2)
        ids = [[e["eventId"] for e in body] for body in await _drain(watch)]
        assert ids == [a1, b1, a2]
        await relay.stop()  # marks what it published and gives the lease up
        async with pool.acquire() as conn:
            assert await conn.fetchval(_UNPUBLISHED) == 0
            assert await outbox.next_rows(conn, dead, outbox.BATCH, timedelta(seconds=1)) == []
            c1 = await _raise(conn, second, 1, "t4")
            again = await outbox.next_rows(conn, dead, outbox.BATCH, timedelta(seconds=1))
            assert [r["event_id"] for r in again] == c1


async def test_relay_when_the_lease_holders_process_is_killed_then_another_takes_over_at_once(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    async with _outbox_and_broker(empty_oms_dsn, amqp_url) as (exchange_name, pool, connection):
        async with pool.acquire() as conn:
            account = await _account(conn)
            a1 = await _raise(conn, account, 2, "t1")
        # An oms process took the lease for ten minutes and read a1 on its own session.
        killed = await asyncpg.connect(empty_oms_dsn)
        read = await outbox.next_rows(killed, uuid.uuid4(), outbox.BATCH, timedelta(minutes=10))
        assert [r["event_id"] for r in read] == a1
        relay, target, watch = await _relay_watched(pool, amqp_url, exchange_name, connection)
        assert await relay.relay_once(target) == 0  # alive: its lease holds

        # Act: the process dies (kill -9): its socket closes without a goodbye.
        killed.terminate()

        # Assert: PostgreSQL ends the session a moment later; the lease is free from then on, not
        # ten minutes later.
        for _ in range(600):  # 30 s at most, far short of the ten minutes
            published = await relay.relay_once(target)
            if published:
                break
            await asyncio.sleep(0.05)
        assert published == 2
        await asyncio.sleep(0.2)
        assert [[e["eventId"] for e in body] for body in await _drain(watch)] == [a1]
        await relay.stop()


async def test_relay_when_woken_then_it_publishes_without_waiting_for_its_poll(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    async with _outbox_and_broker(empty_oms_dsn, amqp_url) as (exchange_name, pool, connection):
        relay = OutboxRelay(pool, amqp_url, exchange_name, poll_seconds=600)
        try:
            watch = await _watch(connection, exchange_name)
            relay.start()
            async with pool.acquire() as conn:
                account = await _account(conn)
                await asyncio.sleep(0.5)  # the relay's first pass has found nothing
                raised = await _raise(conn, account, 2, "t1")
            relay.wake()
            assert [e["eventId"] for e in await _next_message(watch)] == raised
        finally:
            await relay.stop()
    # Stopping marked what it published.
    conn = await asyncpg.connect(empty_oms_dsn)
    try:
        assert await conn.fetchval(_UNPUBLISHED) == 0
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def _started_relay(
    dsn: str, amqp_url: str, execution_wait_seconds: float
) -> AsyncIterator[tuple[OutboxRelay, Any, aio_pika.abc.AbstractQueue]]:
    """A relay that only commits and its execution wait wake (its poll is 600 s), started and
    past its first pass; a connection on its database; a queue bound to its exchange."""
    async with _outbox_and_broker(dsn, amqp_url) as (exchange_name, pool, connection):
        relay = OutboxRelay(
            pool,
            amqp_url,
            exchange_name,
            poll_seconds=600,
            execution_wait_seconds=execution_wait_seconds,
        )
        try:
            watch = await _watch(connection, exchange_name)
            relay.start()
            async with pool.acquire() as conn:
                await asyncio.sleep(0.5)  # the relay's first pass has found nothing
                yield relay, conn, watch
        finally:
            await relay.stop()


def _ids(message: list[dict[str, Any]]) -> list[str]:
    return [e["eventId"] for e in message]


async def test_relay_when_the_execution_commits_after_the_acceptance_then_one_message_has_both(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    async with _started_relay(empty_oms_dsn, amqp_url, 600) as (relay, conn, watch):
        account = await _account(conn)
        accepted = await _raise(conn, account, 1, "t1")
        relay.written(execution_follows=True)
        await asyncio.sleep(0.5)
        assert await watch.get(no_ack=True, fail=False) is None  # it waits for the fill
        filled = await _raise(conn, account, 3, "t1")
        relay.written(execution_follows=False)

        assert _ids(await _next_message(watch)) == accepted + filled
        await asyncio.sleep(0.3)
        assert await watch.get(no_ack=True, fail=False) is None


async def test_relay_when_other_accounts_commit_meanwhile_then_they_go_and_the_acceptance_waits(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    # Under load other accounts' commits wake the relay every few ms: each pass publishes theirs
    # and leaves an account whose order is being executed for the pass after its fill.
    async with _started_relay(empty_oms_dsn, amqp_url, 600) as (relay, conn, watch):
        trader, other = await _account(conn), await _account(conn)
        accepted = await _raise(conn, trader, 1, "t1")
        relay.written(True, [trader])
        others = await _raise(conn, other, 2, "t2")
        relay.written(False, [other])
        assert _ids(await _next_message(watch)) == others
        await asyncio.sleep(0.3)
        assert await watch.get(no_ack=True, fail=False) is None  # still held
        more = await _raise(conn, other, 1, "t3")
        relay.written(False, [other])
        assert _ids(await _next_message(watch)) == more
        filled = await _raise(conn, trader, 3, "t1")
        relay.written(False, [trader])

        assert _ids(await _next_message(watch)) == accepted + filled
        await asyncio.sleep(0.3)
        assert await watch.get(no_ack=True, fail=False) is None


async def test_relay_when_a_held_account_s_execution_never_commits_then_it_goes_after_the_wait(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    async with _started_relay(empty_oms_dsn, amqp_url, 0.5) as (relay, conn, watch):
        trader, other = await _account(conn), await _account(conn)
        accepted = await _raise(conn, trader, 1, "t1")
        relay.written(True, [trader])
        others = await _raise(conn, other, 1, "t2")
        relay.written(False, [other])
        assert _ids(await _next_message(watch)) == others

        # No commit wakes it again (its poll is 600 s): the held account's wait runs out.
        assert _ids(await _next_message(watch)) == accepted


async def test_relay_when_the_execution_does_not_commit_then_the_acceptance_goes_after_the_wait(
    empty_oms_dsn: str, amqp_url: str
) -> None:
    async with _started_relay(empty_oms_dsn, amqp_url, 0.2) as (relay, conn, watch):
        account = await _account(conn)
        accepted = await _raise(conn, account, 2, "t1")
        relay.written(execution_follows=True)

        # Neither its poll (600 s) nor another commit woke it: the wait did.
        assert _ids(await _next_message(watch)) == accepted


async def _ids_left(conn: Any) -> list[str]:
    rows = await conn.fetch("SELECT payload->>'eventId' AS id FROM oms.outbox ORDER BY outbox_id")
    return [r["id"] for r in rows]


async def _publish_at(conn: Any, event_ids: list[str], age: timedelta) -> None:
    """Mark events published ``age`` ago."""
    await conn.execute(
        "UPDATE oms.outbox SET published_at = now() - $2::interval "
        "WHERE payload->>'eventId' = ANY($1::text[])",
        event_ids,
        age,
    )


async def test_prune_when_rows_past_retention_then_published_ones_go_in_batches_unpublished_stay(
    empty_oms_dsn: str,
) -> None:
    pool = await create_pool(empty_oms_dsn, "oms")
    try:
        async with pool.acquire() as conn:
            account = await _account(conn)
            old = await _raise(conn, account, 5, "t-old")
            recent = await _raise(conn, account, 2, "t-recent")
            stuck = await _raise(conn, account, 1, "t-stuck")
            await _publish_at(conn, old, timedelta(days=2))
            await _publish_at(conn, recent, timedelta(hours=1))
            # Created long ago and never published (a broker down for days): it must stay.
            await conn.execute(
                "UPDATE oms.outbox SET created_at = now() - interval '3 days' "
                "WHERE payload->>'eventId' = $1",
                stuck[0],
            )

            # One batch: the two oldest published rows past a day, nothing else.
            assert await outbox.prune(conn, timedelta(days=1), 2) == 2
            assert await _ids_left(conn) == old[2:] + recent + stuck

        pruner = OutboxPruner(pool, timedelta(days=1), batch=2)
        assert await pruner.prune_once() == 3  # batches until one comes back short
        async with pool.acquire() as conn:
            assert await _ids_left(conn) == recent + stuck
            assert await pruner.prune_once() == 0
    finally:
        await pool.close()


async def test_pruner_when_running_then_deletes_rows_as_they_pass_retention(
    empty_oms_dsn: str,
) -> None:
    pool = await create_pool(empty_oms_dsn, "oms")
    loop = BackgroundLoop(
        "test-outbox-prune",
        OutboxPruner(pool, timedelta(minutes=5), period_seconds=0.05).run_forever,
    )
    try:
        async with pool.acquire() as conn:
            account = await _account(conn)
            fresh = await _raise(conn, account, 1, "t-fresh")
            await _publish_at(conn, fresh, timedelta(minutes=1))
        loop.start()
        await asyncio.sleep(0.2)
        async with pool.acquire() as conn:
            assert await _ids_left(conn) == fresh  # published, not yet past retention
            await _publish_at(conn, fresh, timedelta(minutes=10))
        for _ in range(100):
            async with pool.acquire() as conn:
                if not await _ids_left(conn):
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the pruner never deleted the row past its retention")
    finally:
        await loop.stop()
        await pool.close()
