"""The flow feed: oms's fills and closed deals and the quote stream, into ``router.flow``.

- **Events**: a durable queue ``<exchange>.router-flow`` bound to ``events.*.trades`` (the
  messages that carry a fill or a position change, ``fxmesh.events``; their other events are
  skipped) and, for messages in the older one-event form, to ``order_filled.*`` and
  ``position_update.*``. Messages are acknowledged only after the fills and closes they carry are
  committed (``router.flow_fills`` / ``flow_closes``, batched every ``batch_seconds``), so a router
  that dies loses nothing; a redelivered event inserts nothing and changes no figure (primary keys
  on the fill and position ids).
- **Quotes**: the router subscribes to the client quote channels of its Redis database and samples
  each symbol's latest mid every ``sample_seconds``: the samples make the markouts (the mids 1 s,
  10 s and 60 s after each fill, written back to ``flow_fills`` with the next batch) and the
  realized volatility.
- **Start**: the figures are rebuilt from the tables before the queue is consumed. Quote samples
  are not stored: the volatility rebuilds from the live stream over its window.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import aio_pika
import structlog
from prometheus_client import Counter
from redis.asyncio import Redis

from bbook import Side
from fxmesh.background import cancel_and_wait
from fxmesh.db import Pool
from fxmesh.events import (
    EVENTS_KIND,
    TRADES_BINDING,
    connect_robust,
    declare_exchange,
    event_types,
)
from fxmesh.eventtypes import Envelope, EventType, MalformedEvent, parse_events
from fxmesh.quotecache import ClientQuote, channel_pattern, redis_db
from router import repository
from router.flow import FlowBook, FlowClose, FlowFill

log = structlog.stdlib.get_logger(__name__)

WANTED = frozenset({EventType.ORDER_FILLED.value, EventType.POSITION_UPDATE.value})
BINDINGS = (TRADES_BINDING, *(f"{t}.*" for t in sorted(WANTED)))
# Bound by an earlier build (every account's every message): removed at start.
STALE_BINDINGS = (f"{EVENTS_KIND}.*",)
CONNECT_TIMEOUT_SECONDS = 10.0
RETRY_SECONDS = 5.0
RECORDED = Counter(
    "fxmesh_router_flow_recorded_total",
    "Client fills, closed deals and markout mids the flow feed recorded (redeliveries excluded).",
    ["kind"],
)


def queue_name(exchange: str) -> str:
    """The router's durable flow queue on ``exchange``."""
    return f"{exchange}.router-flow"


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def parse_event(body: bytes) -> tuple[list[tuple[FlowFill, Decimal]], list[FlowClose]]:
    """The client fills (with their volumes) and closed deals a message's events carry; nothing
    for events of other types, nothing for a malformed message."""
    try:
        envelopes = parse_events(body)
    except MalformedEvent:
        return [], []
    fills: list[tuple[FlowFill, Decimal]] = []
    closes: list[FlowClose] = []
    for envelope in envelopes:
        if envelope["type"] in WANTED:
            more_fills, more_closes = _flow_of(envelope)
            fills += more_fills
            closes += more_closes
    return fills, closes


def _flow_of(envelope: Envelope) -> tuple[list[tuple[FlowFill, Decimal]], list[FlowClose]]:
    data: Any = envelope.get("data") or {}
    account = str(envelope["accountId"])
    fills: list[tuple[FlowFill, Decimal]] = []
    positions: list[Any] = []
    try:
        if envelope["type"] == EventType.ORDER_FILLED.value:
            order = data.get("order") or {}
            side = Side(str(order.get("side")))
            symbol = str(order.get("symbol"))
            for f in data.get("fills") or ():
                fill = FlowFill(
                    str(f["fillId"]), account, symbol, side, Decimal(f["price"]), _ms(f["fillTime"])
                )
                fills.append((fill, Decimal(f["volume"])))
            positions = list(data.get("positions") or ())
        else:
            positions = [data]
        closes = [
            FlowClose(
                str(p["positionId"]),
                account,
                str(p["symbol"]),
                Decimal(p.get("realizedPnl") or 0),
                _ms(p["openTime"]),
                _ms(p["closeTime"]),
            )
            for p in positions
            if p.get("state") == "CLOSED" and p.get("closeTime")
        ]
    except (KeyError, ValueError, TypeError, InvalidOperation):
        log.warning("router_flow_event_malformed", event_id=envelope.get("eventId"))
        return [], []
    return fills, closes


class FlowFeed:
    """Feeds ``flow`` from RabbitMQ and the quote stream; ``start`` rebuilds it from the tables."""

    def __init__(
        self,
        pool: Pool,
        flow: FlowBook,
        redis: Redis,
        amqp_url: str,
        exchange: str,
        *,
        batch_seconds: float = 0.5,
        sample_seconds: float = 0.25,
    ) -> None:
        self._pool = pool
        self.flow = flow
        self._redis = redis
        self._amqp_url = amqp_url
        self._exchange = exchange
        self._batch_seconds = batch_seconds
        self._sample_seconds = sample_seconds
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._fills: list[tuple[FlowFill, Decimal]] = []
        self._closes: list[FlowClose] = []
        self._mids: list[tuple[str, int, Decimal]] = []
        self._latest: dict[str, ClientQuote] = {}
        self._unparsed: dict[Any, Any] = {}  # channel -> the last raw quote since the last sample
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Rebuild the figures from the tables, then consume and sample (once until ``stop``)."""
        if self._tasks:
            return
        async with self._pool.acquire() as conn:
            fills, closes = await repository.load_flow(conn)
        for fill in fills:
            self.flow.add_fill(fill)
        for close in closes:
            self.flow.add_close(close)
        self.flow.drop_unresolved_before(int(time.time() * 1000))
        log.info("router_flow_rebuilt", fills=len(fills), closes=len(closes))
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._flush_periodically()),
            loop.create_task(self._follow_quotes()),
            loop.create_task(self._sample_periodically()),
        ]
        # Orders never wait for the broker: a router that cannot reach it at start serves
        # without flow events and keeps trying in the background.
        try:
            await asyncio.wait_for(self._consume(), CONNECT_TIMEOUT_SECONDS)
        except Exception as exc:
            log.warning("router_flow_broker_unreachable", error=str(exc) or type(exc).__name__)
            self._tasks.append(loop.create_task(self._consume_eventually()))

    async def _consume(self) -> None:
        connection = await connect_robust(self._amqp_url)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=2000)
            exchange = await declare_exchange(channel, self._exchange)
            queue = await channel.declare_queue(queue_name(self._exchange), durable=True)
            for key in BINDINGS:
                await queue.bind(exchange, routing_key=key)
            for key in STALE_BINDINGS:
                await queue.unbind(exchange, routing_key=key)
            await queue.consume(self._on_message)
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        self._connection = connection
        log.info("router_flow_consuming", queue=queue_name(self._exchange))

    async def _consume_eventually(self) -> None:
        while self._connection is None:
            await asyncio.sleep(RETRY_SECONDS)
            try:
                await asyncio.wait_for(self._consume(), CONNECT_TIMEOUT_SECONDS)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("router_flow_broker_unreachable", error=str(exc) or type(exc).__name__)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        with contextlib.suppress(Exception):
            await self.flush()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._connection.close(), 5)
            self._connection = None

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        types = event_types(message.headers)
        if types is None or not types.isdisjoint(WANTED):
            fills, closes = parse_event(message.body)
            self._fills.extend(fills)
            self._closes.extend(closes)
        # Acknowledged with the next flush like the rest, so acks stay in delivery order.
        self._messages.append(message)

    async def flush(self) -> None:
        """Commit what arrived since the last flush, apply the new fills and closes to the
        figures, then acknowledge their messages."""
        if not (self._messages or self._mids):
            return
        messages, fills, closes, mids = self._messages, self._fills, self._closes, self._mids
        self._messages, self._fills, self._closes, self._mids = [], [], [], []
        try:
            async with self._pool.acquire() as conn:
                new_fills, new_closes = await repository.record_flow(conn, fills, closes, mids)
        except BaseException:
            # Nothing committed: keep everything for the next flush (messages stay unacked).
            self._messages[:0], self._fills[:0] = messages, fills
            self._closes[:0], self._mids[:0] = closes, mids
            raise
        for fill, _ in fills:
            if fill.fill_id in new_fills:
                self._mids.extend(self.flow.add_fill(fill))
        for close in closes:
            if close.position_id in new_closes:
                self.flow.add_close(close)
        RECORDED.labels("fill").inc(len(new_fills))
        RECORDED.labels("close").inc(len(new_closes))
        RECORDED.labels("markout").inc(len(mids))
        if messages:
            await messages[-1].ack(multiple=True)

    async def _flush_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._batch_seconds)
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("router_flow_flush_failed")

    async def _follow_quotes(self) -> None:
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.psubscribe(channel_pattern(redis_db(self._redis)))
                async for message in pubsub.listen():
                    if message.get("type") != "pmessage":
                        continue
                    # Kept raw, parsed by the sampler: a symbol ticks many times per sample and
                    # only its last quote is used.
                    self._unparsed[message["channel"]] = message["data"]
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("router_flow_quotes_lost")
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def sample(self, now_ms: int | None = None) -> None:
        """Record every symbol's latest mid now (what the periodic sampler does)."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        unparsed, self._unparsed = self._unparsed, {}
        for raw in unparsed.values():
            with contextlib.suppress(Exception):
                quote = ClientQuote.from_json(raw)
                self._latest[quote.symbol] = quote
        for symbol, quote in list(self._latest.items()):
            self._mids.extend(self.flow.add_quote(symbol, now, (quote.bid + quote.ask) / 2))

    async def _sample_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._sample_seconds)
            self.sample()
