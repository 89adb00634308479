"""Domain events on RabbitMQ: one topic exchange, JSON envelopes, trace context in headers.

Routing key ``<event_type>.<account_id>`` (e.g. ``order_filled.1001``) lets a consumer bind to one
kind (``order_filled.*``) or everything (``#``). The envelope is::

    {"eventId": "...", "type": "order_filled", "accountId": "1001", "occurredAt": "...Z", "data": {...}}

The event types, their payloads and the envelope are defined in ``fxmesh.eventtypes``; this module
only carries them. Publishing is done from a transactional outbox (oms) with publisher confirms, so
an event is sent if and only if its transaction committed; consumers must be idempotent on
``eventId``.
"""

from __future__ import annotations

import contextlib

import aio_pika
from opentelemetry import propagate

from fxmesh.eventtypes import Envelope, dump_envelope


async def connect_robust(url: str) -> aio_pika.abc.AbstractRobustConnection:
    """``aio_pika.connect_robust``, but a connection that could not be made is closed here.

    aio-pika leaves a failed connection to the garbage collector, whose ``__del__`` schedules
    ``close()`` on the running loop; collected on another thread (gRPC's, QuickFIX's) there is no
    loop, and the never-awaited ``close()`` surfaces later as a stray warning. Services that keep
    retrying an unreachable broker would leave one such connection per attempt.
    """
    connection = aio_pika.RobustConnection(aio_pika.connection.make_url(url))
    try:
        await connection.connect()
    except BaseException:
        with contextlib.suppress(Exception):
            await connection.close()
        raise
    return connection


def routing_key(event_type: str, account_id: str) -> str:
    return f"{event_type}.{account_id}"


async def declare_exchange(
    channel: aio_pika.abc.AbstractChannel, name: str
) -> aio_pika.abc.AbstractExchange:
    """The durable topic exchange every event goes through."""
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


def trace_headers() -> dict[str, str]:
    """W3C trace context of the current span, for AMQP message headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


async def publish(
    exchange: aio_pika.abc.AbstractExchange,
    envelope: Envelope,
    headers: dict[str, str] | None = None,
) -> None:
    """Publish one persistent event; with a confirming channel this returns after the broker acks."""
    message = aio_pika.Message(
        body=dump_envelope(envelope).encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=envelope["eventId"],
        type=envelope["type"],
        headers=dict(headers or {}),
    )
    # Not mandatory: an event no queue is bound to is simply not wanted (nobody watches that
    # account), and a broker return would cost a frame to parse per event for nothing.
    await exchange.publish(
        message,
        routing_key=routing_key(envelope["type"], envelope["accountId"]),
        mandatory=False,
    )
