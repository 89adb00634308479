"""Inbound feeds of the WebSocket hub: account events from RabbitMQ, ticks from Redis pub/sub."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from typing import Any, cast

import aio_pika
import structlog
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis
from redis.exceptions import RedisError

from edge.hub import Hub, Outgoing
from fxmesh.background import BackgroundLoop
from fxmesh.events import (
    account_binding,
    connect_robust,
    declare_exchange,
    event_types,
    routing_account,
)
from fxmesh.eventtypes import (
    CLIENT_EVENT_TYPES,
    Envelope,
    EventType,
    MalformedEvent,
    OrderFilledData,
    PositionData,
    parse_events,
)
from fxmesh.quotecache import (
    ClientQuote,
    channel_pattern,
    group_channel_pattern,
    redis_db,
    symbol_of_channel,
)

log = structlog.stdlib.get_logger(__name__)
_tracer = trace.get_tracer("edge.feeds")
SEEN_EVENT_IDS = 10_000
BIND_TIMEOUT_SECONDS = 5.0


class AccountEventsUnavailable(Exception):
    """The broker could not bind an account's events (the socket should reconnect later)."""


# account_update: the design's top-level fields, from the payload's (``AccountData``) names.
_ACCOUNT_FIGURES: dict[str, str] = {
    "balance": "balance",
    "equity": "equity",
    "margin": "margin",
    "freeMargin": "freeMargin",
    "marginLevel": "marginLevel",
    "unrealizedPnL": "unrealizedPnl",
}
OPENED_REMEMBERED = 10_000


class PositionActions:
    """Tells a ``position_update``'s action (``opened`` / ``modified`` / ``closed``).

    oms's payload says whether a position is OPEN or CLOSED, not whether it is new; but the
    ``order_filled`` of the order that opens a position comes just before (same transaction,
    same queue) and lists it with that order as its ``orderId``. Those ids are remembered until
    their first ``position_update``: that one is ``opened``."""

    def __init__(self) -> None:
        self._opened: OrderedDict[str, None] = OrderedDict()

    def saw_fill(self, data: OrderFilledData) -> None:
        order = data.get("order")
        order_id = order.get("orderId") if isinstance(order, dict) else None
        for position in data.get("positions") or ():
            if isinstance(position, dict) and position.get("orderId") == order_id:
                self._opened[str(position.get("positionId"))] = None
        while len(self._opened) > OPENED_REMEMBERED:
            self._opened.popitem(last=False)

    def action(self, position: PositionData) -> str:
        position_id = str(position.get("positionId"))
        opened = position_id in self._opened
        self._opened.pop(position_id, None)
        if position.get("state") == "CLOSED":
            return "closed"
        return "opened" if opened else "modified"


def client_event(envelope: Envelope, actions: PositionActions | None = None) -> dict[str, Any]:
    """The WebSocket message for one event envelope (``fxmesh.eventtypes``).

    ``data`` is oms's payload untouched; ``account_update`` also carries the design's figures at
    the top level, ``position_update`` the design's ``action`` and ``position`` (with
    ``currentPrice`` and ``unrealizedPnL``)."""
    data = envelope.get("data", {})
    message: dict[str, Any] = {
        "type": envelope["type"],
        "data": data,
        "eventId": envelope["eventId"],
        "occurredAt": envelope.get("occurredAt"),
    }
    if not isinstance(data, dict):
        return message
    kind = envelope["type"]
    if kind == EventType.ACCOUNT_UPDATE:
        for field, source in _ACCOUNT_FIGURES.items():
            message[field] = data.get(source) or None
    elif kind == EventType.POSITION_UPDATE:
        position = cast(PositionData, data)
        actions = actions or PositionActions()
        message["action"] = actions.action(position)
        message["position"] = {
            **position,
            "currentPrice": position.get("currentPrice") or None,
            "unrealizedPnL": position.get("profit") or None,
        }
    elif kind == EventType.ORDER_FILLED and actions is not None:
        actions.saw_fill(cast(OrderFilledData, data))
    return message


def tick_message(quote: ClientQuote) -> Outgoing:
    """The ``tick`` message of a quote, encoded once for every subscriber: ``spread`` is ask -
    bid (a decimal string), ``timestamp`` and ``ts`` both epoch milliseconds."""
    return Outgoing.of(
        {
            "type": "tick",
            "symbol": quote.symbol,
            "bid": str(quote.bid),
            "ask": str(quote.ask),
            "spread": str(quote.ask - quote.bid),
            "timestamp": quote.ts_ms,
            "ts": quote.ts_ms,
        }
    )


class AccountEventFeed:
    """A private, exclusive queue fanned out to the sockets of each event's account.

    The queue is bound per account, and only while a socket of that account is connected here
    (``attach`` / ``detach``, reference-counted): RabbitMQ's topic routing then filters for us, so
    an edge process receives the events of its own clients only, however many accounts trade and
    however many edge replicas run, instead of every event of every account. One binding per
    account, ``#.<account_id>.#``, matches that account's messages (``events.<account_id>``,
    ``events.<account_id>.trades``, and the older one-event ``<type>.<account_id>``); a message carrying no client event type (back-office
    or internal events) is dropped on its headers, before the body is parsed, and any other
    non-client event is dropped before it can reach a socket.

    Events are at-least-once; the last ``SEEN_EVENT_IDS`` event ids are remembered so a redelivery
    is not pushed twice.
    """

    def __init__(self, hub: Hub, amqp_url: str, exchange: str) -> None:
        self._hub = hub
        self._url = amqp_url
        self._exchange_name = exchange
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._refs: dict[str, int] = {}
        self._bound: set[str] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._actions = PositionActions()

    async def start(self) -> None:
        self._connection = await connect_robust(self._url)
        channel = await self._connection.channel()
        self._exchange = await declare_exchange(channel, self._exchange_name)
        self._queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await self._queue.consume(self._on_message, no_ack=True)
        log.info("account_events_consuming", exchange=self._exchange_name)

    def ready(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()

    def bound_accounts(self) -> set[str]:
        """Accounts whose events this process currently receives."""
        return set(self._bound)

    async def attach(self, account_id: str) -> None:
        """Receive ``account_id``'s events from when this returns until the matching ``detach``.

        The first socket of an account waits for the binding (one broker round trip), so an event
        published after the client was told it is connected is never missed. Raises
        ``AccountEventsUnavailable`` when the broker cannot be reached.
        """
        self._refs[account_id] = self._refs.get(account_id, 0) + 1
        try:
            async with self._lock(account_id):
                if account_id in self._refs and account_id not in self._bound:
                    if self._queue is None or self._exchange is None:
                        raise AccountEventsUnavailable("account events not started")
                    await asyncio.wait_for(
                        self._queue.bind(self._exchange, routing_key=account_binding(account_id)),
                        BIND_TIMEOUT_SECONDS,
                    )
                    self._bound.add(account_id)
        except (AccountEventsUnavailable, asyncio.CancelledError):
            await self.detach(account_id)
            raise
        except Exception as exc:  # a timeout, a closed channel, a broker error: all mean "later"
            await self.detach(account_id)
            raise AccountEventsUnavailable(str(exc) or type(exc).__name__) from exc

    async def detach(self, account_id: str) -> None:
        """Undo one ``attach``; the last one of an account removes its binding."""
        left = self._refs.get(account_id, 0) - 1
        if left > 0:
            self._refs[account_id] = left
            return
        self._refs.pop(account_id, None)
        lock = self._lock(account_id)
        async with lock:
            if account_id not in self._refs and account_id in self._bound:
                self._bound.discard(account_id)
                # A binding left behind (broker unreachable) only lets events in that the
                # routing-key check below drops.
                with contextlib.suppress(Exception):
                    if self._queue is not None and self._exchange is not None:
                        await asyncio.wait_for(
                            self._queue.unbind(
                                self._exchange, routing_key=account_binding(account_id)
                            ),
                            BIND_TIMEOUT_SECONDS,
                        )
        if account_id not in self._refs and not lock.locked():
            self._locks.pop(account_id, None)

    def _lock(self, account_id: str) -> asyncio.Lock:
        lock = self._locks.get(account_id)
        if lock is None:
            lock = self._locks[account_id] = asyncio.Lock()
        return lock

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        # Cheap checks on the routing key and headers first: no parsing and no span for events
        # nobody here can receive (a binding being removed, only non-client event types).
        new_form, key_account, kind = routing_account(message.routing_key or "")
        if not self._hub.has_account(key_account):
            return
        if new_form:
            types = event_types(message.headers)
            if types is not None and types.isdisjoint(CLIENT_EVENT_TYPES):
                return
        elif kind not in CLIENT_EVENT_TYPES:  # the older form: one event, its type in the key
            return
        try:
            envelopes = parse_events(message.body)
        except MalformedEvent:
            log.warning("account_event_malformed", message_id=message.message_id)
            return
        fresh = [e for e in envelopes if self._first_sight(e)]
        if not fresh:
            return
        headers = {k: str(v) for k, v in (message.headers or {}).items()}
        with _tracer.start_as_current_span(
            f"deliver {fresh[0]['type']}" if len(fresh) == 1 else "deliver events",
            context=propagate.extract(headers),
            kind=SpanKind.CONSUMER,
        ):
            for envelope in fresh:
                self._hub.publish_account_event(
                    str(envelope["accountId"]), client_event(envelope, self._actions)
                )

    def _first_sight(self, envelope: Envelope) -> bool:
        """A client event not delivered before (events are at-least-once)."""
        event_type = str(envelope["type"])
        if event_type not in CLIENT_EVENT_TYPES:
            return False
        event_id = str(envelope["eventId"])
        if event_id in self._seen:
            return False
        self._seen[event_id] = None
        if len(self._seen) > SEEN_EVENT_IDS:
            self._seen.popitem(last=False)
        return True


class RedisFeed:
    """A Redis pub/sub subscription kept alive: every message goes to ``handle``; a lost
    connection is retried with exponential backoff (0.5 s doubling to 10 s), ``ready`` false
    meanwhile. Subclasses say what to subscribe and what a message means."""

    name = "redis-feed"

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._subscribed = asyncio.Event()
        self._loop = BackgroundLoop(f"edge-{self.name}", self._run)

    def start(self) -> None:
        self._loop.start()

    def ready(self) -> bool:
        return self._subscribed.is_set()

    async def wait_subscribed(self) -> None:
        await self._subscribed.wait()

    async def close(self) -> None:
        await self._loop.stop()

    async def subscribe(self, pubsub: Any) -> None:
        """Subscribe ``pubsub`` to this feed's channels."""
        raise NotImplementedError

    def handle(self, message: dict[str, Any]) -> None:
        """One pub/sub message (subscribe confirmations are never passed)."""
        raise NotImplementedError

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await self.subscribe(pubsub)
                self._subscribed.set()
                backoff = 0.5
                async for message in pubsub.listen():
                    self.handle(message)
            except RedisError as exc:
                self._subscribed.clear()
                log.warning(f"{self.name}_lost", error=str(exc), retry_in_s=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


class TickFeed(RedisFeed):
    """psubscribe every quote channel of edge's Redis database, default and group prices, and
    hand every client quote to the hub, which sends a group's own price to that group's sockets
    and the default price to the others (``fxmesh.quotecache``)."""

    name = "tick_feed"

    def __init__(self, hub: Hub, redis: Redis) -> None:
        super().__init__(redis)
        self._hub = hub

    async def subscribe(self, pubsub: Any) -> None:
        db = redis_db(self._redis)
        await pubsub.psubscribe(channel_pattern(db), group_channel_pattern(db))
        # The group prices that exist already (subscribed first: none is missed in between).
        async for key in self._redis.scan_iter(match="gquote:*", count=1000):
            _, group, symbol = str(key).split(":", 2)
            self._hub.set_group_price(symbol, group, True)

    def handle(self, message: dict[str, Any]) -> None:
        if message.get("type") != "pmessage":
            return
        # A default price whose symbol nobody here watches is dropped before it is parsed and
        # encoded (every tick of every symbol reaches every edge process; few are watched). A
        # group's price is always read: it also says that the group has a price of its own.
        symbol = symbol_of_channel(str(message.get("channel", "")))
        if symbol is not None and not self._hub.has_tick_subscribers(symbol):
            return
        try:
            doc = message["data"]
            if '"removed":true' in doc:
                removed = json.loads(doc)
                self._hub.set_group_price(removed["symbol"], removed["group"], False)
                return
            quote = ClientQuote.from_json(doc)
        except (ValueError, KeyError, TypeError, ArithmeticError):
            log.warning("tick_malformed", channel=message.get("channel"))
            return
        if quote.group and not self._hub.has_group_price(quote.symbol, quote.group):
            self._hub.set_group_price(quote.symbol, quote.group, True)
        self._hub.publish_tick(quote.symbol, tick_message(quote), quote.group)
