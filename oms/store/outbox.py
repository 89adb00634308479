"""Transactional outbox: events are written with the state they describe, then relayed to RabbitMQ.

``enqueue`` adds an event inside the caller's transaction. ``OutboxRelay`` runs in the oms process:
it is woken after every commit that wrote events (``OutboxRelay.wake``; it polls every second as a
safety net, for rows written elsewhere). One relay publishes at a time, under a lease in
``oms.outbox_relay`` that every pass renews. A pass is one autocommit statement: it renews the
lease, marks published what the previous pass published, and reads the next unpublished rows;
the relay then publishes them with publisher confirms. Rows the broker refused are not marked and
are read again by the next pass, in order. A relay that dies leaves its lease behind: another
takes it once the dead one's session is gone (a killed process's socket closes at once), or at
the latest once it expires (``lease_seconds``; a holder cut off by the network keeps its session
until PostgreSQL notices); the next holder starts from the first row not marked. A broker outage only
delays events; a crash between a publish and the next pass's mark sends an event twice
(consumers are idempotent on ``eventId``), never zero times. So the relay's statements need not
wait for the WAL flush: its session runs with ``synchronous_commit`` off.

Before (docs/performance.md, "The outbox relay and the flow feed"): each commit NOTIFYed the relay,
and a pass was a transaction held open across the publish (BEGIN, claim-and-mark, COMMIT: three
round trips).

Published rows are kept for ``FXMESH_OMS_OUTBOX_RETENTION_HOURS`` (a day by default: enough to
look an event up while investigating) and then deleted by ``OutboxPruner`` in small batches, so
the table holds about a day of events instead of every event ever sent (at a few hundred orders a
second, tens of millions of rows a day). Unpublished rows are never deleted, however old.

One row per event, one AMQP message per account and trace context in a pass
(``fxmesh.events.publish_events``): a market order's five events go out as one or two messages, and
under load a pass carries several transactions of an account in one. An account's events keep
their order: a message takes the account's rows only while their trace context stays the same,
and a pass keeps as published only the messages before the first one the broker refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import structlog
from asyncpg.pool import PoolConnectionProxy
from prometheus_client import Counter, Gauge

from fxmesh import events
from fxmesh.background import BackgroundLoop
from fxmesh.db import Conn, Pool
from fxmesh.eventtypes import Envelope, EventData, EventType, dump_envelope, new_envelope

log = structlog.stdlib.get_logger(__name__)

BATCH = 100

OUTBOX_LAG = Gauge(
    "fxmesh_oms_outbox_lag_seconds",
    "Age of the oldest unpublished outbox event at the last relay pass (0 when none).",
)
OUTBOX_PUBLISHED = Counter(
    "fxmesh_oms_outbox_published_total", "Outbox events published to RabbitMQ.", ["type"]
)
OUTBOX_PRUNED = Counter(
    "fxmesh_oms_outbox_pruned_total",
    "Published outbox rows deleted after FXMESH_OMS_OUTBOX_RETENTION_HOURS.",
)
OUTBOX_MESSAGES = Counter(
    "fxmesh_oms_outbox_messages_total",
    "AMQP messages the outbox relay published (each carries one or more events of one account).",
)


@dataclass(slots=True)
class _Message:
    """Consecutive outbox rows of one account raised in one trace context: one AMQP message."""

    account_id: int
    headers_json: str
    outbox_ids: list[int]
    types: list[str]
    bodies: list[str]
    first_event_id: str


def _messages(rows: Sequence[Any]) -> list[_Message]:
    """``rows`` (in outbox order) as messages, in the order of each message's first row."""
    messages: list[_Message] = []
    latest: dict[int, _Message] = {}
    for row in rows:
        account_id = row["account_id"]
        message = latest.get(account_id)
        if message is None or message.headers_json != row["headers"]:
            message = _Message(account_id, row["headers"], [], [], [], row["event_id"])
            messages.append(message)
            latest[account_id] = message
        message.outbox_ids.append(row["outbox_id"])
        message.types.append(row["event_type"])
        message.bodies.append(row["payload"])
    return messages


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One event as it will be written: the envelope and the trace context it was raised in."""

    account_id: int
    envelope: Envelope
    headers: dict[str, str]

    @property
    def routing_key(self) -> str:
        """The account's message key, as stored with the row (the message adds ``.trades`` when
        it carries a fill or a position change, ``fxmesh.events``)."""
        return events.routing_key(events.EVENTS_KIND, str(self.account_id))


def new_event(
    event_type: EventType,
    account_id: int,
    data: EventData,
    headers: dict[str, str] | None = None,
) -> OutboxEvent:
    """An event raised now, in the current trace context (``headers``: that context's
    ``events.trace_headers()`` when the caller has them already)."""
    return OutboxEvent(
        account_id,
        new_envelope(event_type, account_id, data),
        events.trace_headers() if headers is None else headers,
    )


async def insert_outbox(
    conn: Conn, rows: Sequence[tuple[str, str, int, Envelope, dict[str, str]]]
) -> None:
    """Insert (routing_key, event_type, account_id, envelope, headers) rows in one statement;
    outbox ids follow the order of ``rows``."""
    await conn.execute(
        "INSERT INTO oms.outbox (routing_key, event_type, account_id, payload, headers) "
        "SELECT routing_key, event_type, account_id, payload::jsonb, headers::jsonb "
        "FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[]) "
        "WITH ORDINALITY AS e(routing_key, event_type, account_id, payload, headers, n) "
        "ORDER BY n",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [dump_envelope(r[3]) for r in rows],
        [json.dumps(r[4], separators=(",", ":")) for r in rows],
    )


async def write(conn: Conn, pending: Sequence[OutboxEvent]) -> None:
    """Add events to the outbox in the caller's transaction: one statement for all of them (a fill
    raises six), in the order given."""
    if pending:
        await insert_outbox(
            conn,
            [
                (e.routing_key, e.envelope["type"], e.account_id, e.envelope, e.headers)
                for e in pending
            ],
        )


async def enqueue(conn: Conn, event_type: EventType, account_id: int, data: EventData) -> None:
    """Add one event to the outbox in the caller's transaction."""
    await write(conn, [new_event(event_type, account_id, data)])


# One pass: take or renew the lease ($3 the relay, $4 how long), mark the rows the previous pass
# published ($2), read the next rows when the lease is held. The read's snapshot still sees the
# marked rows unpublished: they are left out by id. A lease is free once it expired or once the
# holder's session is gone (its process died: PostgreSQL ends the backend when the socket closes);
# the OR stops at the first true, so a holder renewing never reads pg_stat_activity. The accounts
# in $5 are held back whole (their rows stay for a later pass, so each account's order holds).
_PASS_SQL = """
WITH lease AS (
    UPDATE oms.outbox_relay
       SET holder = $3::uuid, lease_until = now() + $4::interval,
           holder_backend = pg_backend_pid()
     WHERE holder = $3::uuid OR lease_until < now()
        OR NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = holder_backend)
    RETURNING 1
), marked AS (
    UPDATE oms.outbox SET published_at = now()
     WHERE outbox_id = ANY($2::bigint[]) AND published_at IS NULL
)
SELECT outbox_id, account_id, event_type, payload::text AS payload,
       payload->>'eventId' AS event_id, headers::text AS headers, created_at
  FROM oms.outbox
 WHERE published_at IS NULL AND outbox_id <> ALL($2::bigint[]) AND EXISTS (SELECT 1 FROM lease)
   AND account_id <> ALL($5::bigint[])
 ORDER BY outbox_id
 LIMIT $1
"""

_RELEASE_SQL = """
UPDATE oms.outbox_relay SET lease_until = '-infinity' WHERE holder = $1::uuid
"""


async def next_rows(
    conn: Conn,
    relay: uuid.UUID,
    limit: int,
    lease: timedelta,
    published: Sequence[int] = (),
    held: Sequence[int] = (),
) -> list[Any]:
    """As ``relay``: take or renew the outbox lease for ``lease``, mark ``published`` rows
    published, and read up to ``limit`` of the next unpublished rows in outbox order (none when
    another relay holds the lease), none of the accounts ``held``. One statement: run it outside
    a transaction."""
    return list(await conn.fetch(_PASS_SQL, limit, list(published), relay, lease, list(held)))


class OutboxRelay:
    """Publishes committed outbox rows to the events exchange, in outbox_id order."""

    def __init__(
        self,
        pool: Pool,
        amqp_url: str,
        exchange_name: str,
        *,
        poll_seconds: float = 1.0,
        lease_seconds: float = 10.0,
        execution_wait_seconds: float = 0.05,
    ) -> None:
        self._pool = pool
        self._amqp_url = amqp_url
        self._exchange_name = exchange_name
        self._poll = poll_seconds
        self._lease = timedelta(seconds=lease_seconds)
        self.relay_id = uuid.uuid4()
        self.execution_wait_seconds = execution_wait_seconds
        self._wake = asyncio.Event()
        self._wake_later: asyncio.TimerHandle | None = None
        self._loop = BackgroundLoop("oms-outbox-relay", self._run)
        self._conn: PoolConnectionProxy | None = None
        self._amqp: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        # Published and confirmed: the next statement marks them (one round trip per pass).
        self._confirmed: list[int] = []
        # Accounts whose last commit sent an order for execution, with the loop time until which
        # their rows wait for that execution's commit (``written``).
        self._awaiting: dict[int, float] = {}

    def start(self) -> None:
        self._loop.start()

    def wake(self) -> None:
        """Relay now: a transaction that wrote events committed (safe from any callback on the
        event loop)."""
        self._wake.set()

    def written(self, execution_follows: bool = False, accounts: Iterable[int] = ()) -> None:
        """A transaction of ``accounts`` that wrote events committed: relay now, or, when the
        commit of its orders' execution follows within moments (``Tx.execution_follows``: a
        market order accepted, its fill next), once that commit wakes the relay and at the latest
        after ``execution_wait_seconds``. One pass then publishes both, in one message per
        account and trace: a market order costs one pass and one message instead of two each.

        Until then the accounts' rows are held back from the passes that other commits wake (under
        load one comes every few ms, and each would otherwise publish an acceptance alone: two
        messages per order exactly when the CPU is short); the other accounts' rows go at once."""
        if not execution_follows:
            for account in accounts:
                self._awaiting.pop(account, None)
            self.wake()
            return
        loop = asyncio.get_running_loop()
        until = loop.time() + self.execution_wait_seconds
        for account in accounts:
            self._awaiting.setdefault(account, until)
        if self._wake_later is None and not self._wake.is_set():
            self._wake_later = loop.call_later(self.execution_wait_seconds, self._wake.set)

    def _held(self) -> list[int]:
        """The accounts whose rows this pass leaves for a later one; the relay wakes when the
        first of them stops waiting."""
        if not self._awaiting:
            return []
        loop = asyncio.get_running_loop()
        now = loop.time()
        for account in [a for a, until in self._awaiting.items() if until <= now]:
            del self._awaiting[account]
        if self._awaiting:
            if self._wake_later is not None:
                self._wake_later.cancel()
            self._wake_later = loop.call_at(min(self._awaiting.values()), self._wake.set)
        return list(self._awaiting)

    def _woken(self) -> None:
        self._wake.clear()
        if self._wake_later is not None:
            self._wake_later.cancel()  # this pass publishes what it was waiting for
            self._wake_later = None

    async def stop(self) -> None:
        """Stop relaying: mark what was published and give the lease up, so a successor need not
        wait for it to expire."""
        await self._loop.stop()
        self._woken()
        with contextlib.suppress(Exception):  # else what is unmarked is published again
            async with self._session() as conn:
                await self._mark(conn)
                await conn.execute(_RELEASE_SQL, self.relay_id)
        await self._release_conn()
        if self._amqp is not None:
            await self._amqp.close()
            self._amqp = None

    async def _release_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                # The pool keeps sessions as they are (fxmesh.db): give it back as it was lent.
                await conn.execute("RESET synchronous_commit")
            await self._pool.release(conn)

    async def _ensure_conn(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            return
        await self._release_conn()
        conn = await self._pool.acquire()
        # The relay's own session. A mark lost in a crash publishes again (consumers dedupe on
        # eventId), a lease renewal lost only shortens the lease: neither waits for the WAL flush.
        await conn.execute("SET synchronous_commit TO off")
        self._conn = conn

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[Conn]:
        conn = self._conn
        if conn is None or conn.is_closed():
            async with self._pool.acquire() as pooled:
                yield pooled
        else:
            yield conn

    async def _exchange(self) -> aio_pika.abc.AbstractExchange:
        if self._amqp is None:
            self._amqp = await events.connect_robust(self._amqp_url)
        if self._channel is not None and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await self._channel.close()
        self._channel = await self._amqp.channel(publisher_confirms=True)
        return await events.declare_exchange(self._channel, self._exchange_name)

    async def _run(self) -> None:
        backoff = 1.0
        exchange: aio_pika.abc.AbstractExchange | None = None
        while True:
            try:
                await self._ensure_conn()
                if exchange is None or self._channel is None or self._channel.is_closed:
                    exchange = await self._exchange()
                while await self.relay_once(exchange) == BATCH:
                    pass
                backoff = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("outbox_relay_failed", error=str(exc), retry_in_s=backoff)
                exchange = None
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)
            self._woken()

    async def relay_once(self, exchange: aio_pika.abc.AbstractExchange) -> int:
        """Publish one batch of unpublished events; the number published (0 as well when another
        relay holds the lease). What it published is marked by the next pass (or ``stop``)."""
        async with self._session() as conn:
            return await self._relay_on(conn, exchange)

    async def _mark(self, conn: Conn) -> None:
        """Mark what was published now: a pass that reads nothing (it renews the lease too, if
        this relay holds it)."""
        if self._confirmed:
            await next_rows(conn, self.relay_id, 0, self._lease, self._confirmed)
            self._confirmed = []

    async def _relay_on(self, conn: Conn, exchange: aio_pika.abc.AbstractExchange) -> int:
        rows = await next_rows(
            conn, self.relay_id, BATCH, self._lease, self._confirmed, self._held()
        )
        self._confirmed = []
        messages = _messages(rows)
        # All in flight at once, in order on one channel (the broker keeps it): one confirm wait
        # per pass instead of one per message.
        results = await asyncio.gather(
            *(
                events.publish_events(
                    exchange,
                    str(m.account_id),
                    m.bodies,
                    m.types,
                    json.loads(m.headers_json),
                    m.first_event_id,
                )
                for m in messages
            ),
            return_exceptions=True,
        )
        failure: Exception | None = None
        done: list[int] = []
        for message, result in zip(messages, results, strict=True):
            if isinstance(result, BaseException):
                # The rest go again next pass (maybe twice: consumers dedupe on eventId).
                failure = result if isinstance(result, Exception) else Exception(result)
                break
            done.extend(message.outbox_ids)
            OUTBOX_MESSAGES.inc()
            for event_type in message.types:
                OUTBOX_PUBLISHED.labels(event_type).inc()
        self._confirmed = done
        marked = set(done)
        oldest = min((r["created_at"] for r in rows if r["outbox_id"] not in marked), default=None)
        lag = (datetime.now(UTC) - oldest).total_seconds() if oldest is not None else 0.0
        OUTBOX_LAG.set(max(lag, 0.0))
        if failure is not None:
            # Whatever the broker confirmed is marked now, even though a later one failed; the
            # rest stays unmarked and the next pass reads it again first.
            with contextlib.suppress(Exception):  # else the next pass marks it
                await self._mark(conn)
            raise failure
        return len(done)


_PRUNE_PAUSE_SECONDS = 0.05


async def prune(conn: Conn, older_than: timedelta, limit: int) -> int:
    """Delete up to ``limit`` rows published more than ``older_than`` ago, oldest first; the
    number deleted. Rows not yet published stay, however old."""
    tag: str = await conn.execute(
        "DELETE FROM oms.outbox WHERE outbox_id IN (SELECT outbox_id FROM oms.outbox "
        "WHERE published_at < now() - $1::interval ORDER BY outbox_id LIMIT $2)",
        older_than,
        limit,
    )
    return int(tag.split()[-1])


class OutboxPruner:
    """Deletes published rows past their retention every ``period_seconds``, in batches of
    ``batch`` rows (each its own short transaction, so the relay and the order path never wait
    long behind it)."""

    def __init__(
        self, pool: Pool, retention: timedelta, *, period_seconds: float = 60.0, batch: int = 5000
    ) -> None:
        self._pool = pool
        self._retention = retention
        self._period = period_seconds
        self._batch = batch

    async def prune_once(self) -> int:
        """Delete every row past its retention now; the number deleted."""
        total = 0
        while True:
            async with self._pool.acquire() as conn:
                deleted = await prune(conn, self._retention, self._batch)
            total += deleted
            OUTBOX_PRUNED.inc(deleted)
            if deleted < self._batch:
                return total
            # A backlog (the first pass after an upgrade) goes in steps, not one long burst of
            # deletes competing with the order path for PostgreSQL.
            await asyncio.sleep(_PRUNE_PAUSE_SECONDS)

    async def run_forever(self) -> None:
        """A pass every period; a failed one is logged and the next runs as planned."""
        while True:
            try:
                deleted = await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox_prune_failed")
            else:
                if deleted:
                    log.info("outbox_pruned", rows=deleted)
            await asyncio.sleep(self._period)
