"""Domain events on RabbitMQ: one topic exchange, JSON envelopes, trace context in headers.

oms publishes one message per account per outbox relay pass (and per trace context, so a message
never mixes two requests' traces): the body a JSON array of envelopes in the order they were
committed, the AMQP header ``x-event-types`` listing the types it carries (comma-separated) so a
consumer skips a message it has no use for without parsing it. Routing key ``events.<account_id>``,
or ``events.<account_id>.trades`` when the message carries a fill or a position change
(``TRADE_EVENT_TYPES``): a consumer of one account binds ``#.<account_id>.#`` (``account_binding``,
which also matches the older form below), one of every account's trading binds ``events.*.trades``
(``TRADES_BINDING``: the router's flow feed, which thus never gets an order's acceptance), and
reads the body with ``fxmesh.eventtypes.parse_events``. Why one message and not one per event: a
market order raises five events in two transactions, and building, confirming and routing an AMQP
message costs the same for a small body as for a large one (about a sixth of oms's CPU per order
went to publishing when each event was its own message).

The older form, one message per event with routing key ``<event_type>.<account_id>`` and one
envelope as the body, is still read by every consumer (``parse_events`` takes both), so messages
queued before an upgrade drain. The envelope is::

    {"eventId": "...", "type": "order_filled", "accountId": "1001", "occurredAt": "...Z", "data": {...}}

The event types, their payloads and the envelope are defined in ``fxmesh.eventtypes``; this module
only carries them. Publishing is done from a transactional outbox (oms) with publisher confirms, so
an event is sent if and only if its transaction committed; consumers must be idempotent on
``eventId``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

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


EVENTS_KIND = "events"
"""First word of the routing key of a message of events (``events.<account_id>[.trades]``)."""
EVENT_TYPES_HEADER = "x-event-types"
TRADE_EVENT_TYPES = frozenset({"order_filled", "position_update"})
"""The types that make a message ``.trades``: fills and position changes."""
TRADES_BINDING = f"{EVENTS_KIND}.*.trades"
"""Every account's messages that carry a fill or a position change."""


def routing_key(kind: str, account_id: str) -> str:
    """``<kind>.<account_id>``: the older one-event form's key (``kind`` the event type)."""
    return f"{kind}.{account_id}"


def events_routing_key(account_id: str, types: Iterable[str]) -> str:
    """The key of a message of ``account_id``'s events of ``types``."""
    key = f"{EVENTS_KIND}.{account_id}"
    return f"{key}.trades" if not TRADE_EVENT_TYPES.isdisjoint(types) else key


def account_binding(account_id: str) -> str:
    """The binding that receives every message of one account, in either form."""
    return f"#.{account_id}.#"


def routing_account(key: str) -> tuple[bool, str, str]:
    """(new form?, account id, the older form's event type) of a routing key."""
    parts = key.split(".")
    if parts[0] == EVENTS_KIND and len(parts) >= 2:
        return True, parts[1], ""
    if len(parts) == 2:
        return False, parts[1], parts[0]
    return False, "", ""


def event_types(message_headers: object) -> frozenset[str] | None:
    """The event types a message says it carries (``EVENT_TYPES_HEADER``); None when it does not
    say (an older message: parse it to know)."""
    if not isinstance(message_headers, dict):
        return None
    value = message_headers.get(EVENT_TYPES_HEADER)
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str):
        return None
    return frozenset(value.split(","))


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


async def publish_events(
    exchange: aio_pika.abc.AbstractExchange,
    account_id: str,
    envelopes_json: list[str],
    types: list[str],
    headers: dict[str, str],
    message_id: str,
) -> None:
    """Publish one persistent message of ``account_id``'s events: ``envelopes_json`` (each one
    envelope's JSON, in order) as one JSON array. With a confirming channel this returns after the
    broker acks. ``message_id``: the first event's id (unique, and stable on a republish)."""
    message = aio_pika.Message(
        body=("[" + ",".join(envelopes_json) + "]").encode(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message_id,
        type=EVENTS_KIND,
        headers={**headers, EVENT_TYPES_HEADER: ",".join(dict.fromkeys(types))},
    )
    # Not mandatory: a message no queue is bound to is simply not wanted (nobody watches that
    # account), and a broker return would cost a frame to parse per message for nothing.
    await exchange.publish(
        message, routing_key=events_routing_key(account_id, types), mandatory=False
    )


async def publish(
    exchange: aio_pika.abc.AbstractExchange,
    envelope: Envelope,
    headers: dict[str, str] | None = None,
) -> None:
    """Publish one event as a message of its own (tools and tests; oms publishes from its outbox
    with ``publish_events``)."""
    await publish_events(
        exchange,
        str(envelope["accountId"]),
        [dump_envelope(envelope)],
        [envelope["type"]],
        dict(headers or {}),
        envelope["eventId"],
    )
