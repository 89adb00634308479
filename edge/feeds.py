"""Inbound feeds of the WebSocket hub: account events from RabbitMQ, ticks from Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from typing import Any

import aio_pika
import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from redis.exceptions import RedisError

from edge.hub import Hub
from fxmesh.events import declare_exchange
from fxmesh.quotecache import ClientQuote, channel_pattern, redis_db

log = structlog.stdlib.get_logger(__name__)
_tracer = trace.get_tracer("edge.feeds")
SEEN_EVENT_IDS = 10_000
# The account events a client may see (routing key ``<type>.<account_id>``). Anything else on the
# exchange (back-office or internal events) is never bound, so it cannot reach a socket.
CLIENT_EVENT_TYPES = (
    "order_update",
    "order_filled",
    "order_rejected",
    "position_update",
    "account_update",
    "margin_call",
)


def client_event(envelope: dict[str, Any]) -> dict[str, Any]:
    """The WebSocket message for one event envelope (see fxmesh.events)."""
    return {
        "type": envelope["type"],
        "data": envelope.get("data", {}),
        "eventId": envelope["eventId"],
        "occurredAt": envelope.get("occurredAt"),
    }


def tick_message(quote: ClientQuote) -> dict[str, Any]:
    return {
        "type": "tick",
        "symbol": quote.symbol,
        "bid": str(quote.bid),
        "ask": str(quote.ask),
        "ts": quote.ts_ms,
    }


class AccountEventFeed:
    """A private, exclusive queue bound to ``<type>.*`` of each client event type, fanned out to
    the sockets of the envelope's account.

    Events are at-least-once; the last ``SEEN_EVENT_IDS`` event ids are remembered so a redelivery
    is not pushed twice.
    """

    def __init__(self, hub: Hub, amqp_url: str, exchange: str) -> None:
        self._hub = hub
        self._url = amqp_url
        self._exchange_name = exchange
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None

    async def start(self) -> None:
        self._connection = await aio_pika.connect_robust(self._url)
        channel = await self._connection.channel()
        exchange = await declare_exchange(channel, self._exchange_name)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        for event_type in CLIENT_EVENT_TYPES:
            await queue.bind(exchange, routing_key=f"{event_type}.*")
        await queue.consume(self._on_message, no_ack=True)
        log.info("account_events_consuming", exchange=self._exchange_name)

    def ready(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            envelope = json.loads(message.body)
            account_id = str(envelope["accountId"])
            event_id = str(envelope["eventId"])
            event_type = str(envelope["type"])
        except (ValueError, KeyError, TypeError):
            log.warning("account_event_malformed", message_id=message.message_id)
            return
        if event_type not in CLIENT_EVENT_TYPES:
            log.warning("account_event_not_for_clients", event_type=event_type)
            return
        if event_id in self._seen:
            return
        self._seen[event_id] = None
        if len(self._seen) > SEEN_EVENT_IDS:
            self._seen.popitem(last=False)
        headers = {k: str(v) for k, v in (message.headers or {}).items()}
        with _tracer.start_as_current_span(
            f"deliver {event_type}",
            context=propagate.extract(headers),
            kind=SpanKind.CONSUMER,
        ):
            self._hub.publish_account_event(account_id, client_event(envelope))


class TickFeed:
    """psubscribe every quote channel of edge's Redis database and hand every client quote to the hub; reconnects on failure."""

    def __init__(self, hub: Hub, redis: Redis) -> None:
        self._hub = hub
        self._redis = redis
        self._subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="edge-tick-feed")

    def ready(self) -> bool:
        return self._subscribed.is_set()

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.psubscribe(channel_pattern(redis_db(self._redis)))
                self._subscribed.set()
                backoff = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    try:
                        quote = ClientQuote.from_json(message["data"])
                    except (ValueError, KeyError, TypeError, ArithmeticError):
                        log.warning("tick_malformed", channel=message.get("channel"))
                        continue
                    self._hub.publish_tick(quote.symbol, tick_message(quote))
            except RedisError as exc:
                self._subscribed.clear()
                log.warning("tick_feed_lost", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
