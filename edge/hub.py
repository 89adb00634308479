"""WebSocket fan-out: account events to that account's sockets, ticks to subscribers.

Cost model: a message is serialized once (``Outgoing``), however many sockets it goes to; a tick
is written straight to every subscribed socket that can take it, in the feed's own callback, with
no task, queue or JSON encoding per socket. A socket that cannot take more (its send buffer is
full, or, on the plain ASGI path, a send is still in flight) gets a conflating outbox instead:
account events and replies queue in order (bounded; a socket that falls that far behind is closed
1013), ticks keep only the newest unsent one per symbol, so a slow client gets fresh prices and
the server holds at most one tick per subscribed symbol for it. The outbox is flushed when the
socket can take more again.

Two ways to a socket (``Sink``): edge's own uvicorn protocol (``edge.wsserver``) takes prebuilt
WebSocket frames onto its transport; ``AsgiSink`` sends through any ASGI server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, Protocol

import structlog

from edge.metrics import WS_CONNECTIONS, WS_MESSAGES_SENT, WS_TICKS_CONFLATED
from fxmesh.eventtypes import EventType

log = structlog.stdlib.get_logger(__name__)

SendText = Callable[[str], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]
CLOSE_TOO_SLOW = 1013  # "try again later"
CLOSE_UNAUTHENTICATED = 4401
# The subscription (``{"action":"subscribe","type":...}``) each account event belongs to.
STREAM_OF_EVENT: dict[str, str] = {
    EventType.ORDER_UPDATE: "account",
    EventType.ORDER_FILLED: "account",
    EventType.ORDER_REJECTED: "account",
    EventType.ACCOUNT_UPDATE: "account",
    EventType.MARGIN_CALL: "account",
    EventType.MARGIN_CALL_CLEARED: "account",
    EventType.POSITION_UPDATE: "positions",
}
# Conflation keys of live P&L (``edge.marks``) among a socket's ticks: a colon is never in a symbol.
ACCOUNT_MARK_KEY = "marks:account"


def position_mark_key(position_id: str) -> str:
    return f"marks:position:{position_id}"


REVOKED = {"type": "error", "code": "TOKEN_REVOKED", "message": "token has been revoked"}
_SENT_BY_TYPE: dict[str, Any] = {}


def _sent(kind: str) -> Any:
    """The messages-sent counter of one message type, bound once (labels() takes a lock)."""
    counter = _SENT_BY_TYPE.get(kind)
    if counter is None:
        counter = _SENT_BY_TYPE[kind] = WS_MESSAGES_SENT.labels(kind)
    return counter


_TICKS_SENT = _sent("tick")


def text_frame(payload: bytes) -> bytes:
    """One unfragmented, unmasked (server to client) WebSocket text frame (RFC 6455 5.2)."""
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, n) + payload
    return struct.pack("!BBQ", 0x81, 127, n) + payload


class Outgoing:
    """One server message, encoded once (JSON text and WebSocket frame) for every socket."""

    __slots__ = ("frame", "kind", "text")

    def __init__(self, text: str, kind: str) -> None:
        self.text = text
        self.kind = kind
        self.frame = text_frame(text.encode())

    @classmethod
    def of(cls, message: dict[str, Any]) -> Outgoing:
        return cls(json.dumps(message, separators=(",", ":")), str(message.get("type", "unknown")))


# What ``Sink.try_write`` did with a message.
WRITTEN, FULL, GONE = 0, 1, 2


class Sink(Protocol):
    """Where a connection's messages go, in order: edge's own WebSocket protocol
    (``edge.wsserver``: frames straight onto the transport) or ``AsgiSink`` (any ASGI server)."""

    def try_write(self, message: Outgoing) -> int:
        """Send ``message`` now (WRITTEN), or not: the socket cannot take more yet (FULL), or
        it is closing or gone (GONE)."""

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` whenever a FULL socket can take more again."""

    def buffered_bytes(self) -> int:
        """Bytes written but still in the server's send buffer (not yet taken by the kernel)."""


class AsgiSink:
    """Any ASGI server: one send in flight at a time; the socket is FULL until it completes."""

    def __init__(self, send_text: SendText) -> None:
        self._send_text = send_text
        self._inflight: asyncio.Task[None] | None = None
        self._callback: Callable[[], None] | None = None
        self._gone = False

    def try_write(self, message: Outgoing) -> int:
        if self._gone:
            return GONE
        if self._inflight is not None:
            return FULL
        self._inflight = asyncio.create_task(self._send(message.text))
        return WRITTEN

    async def _send(self, text: str) -> None:
        try:
            await self._send_text(text)
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away; the reader side cleans up
            self._gone = True
            return
        finally:
            self._inflight = None
        if self._callback is not None:
            self._callback()

    def on_writable(self, callback: Callable[[], None] | None) -> None:
        self._callback = callback

    def buffered_bytes(self) -> int:
        return 0  # the ASGI server's buffer is not visible from here

    async def stop(self) -> None:
        task, self._inflight = self._inflight, None
        self._callback = None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class Connection:
    """One authenticated socket: writes through while it can, conflates while it cannot."""

    def __init__(
        self,
        account_id: str,
        sink: Sink,
        close: CloseSocket,
        max_pending: int,
        *,
        session_id: str | None = None,
        token_id: str | None = None,
    ) -> None:
        self.account_id = account_id
        self.session_id = session_id
        self.token_id = token_id
        self.symbols: set[str] = set()
        self.group = ""
        """The account's client group: the socket gets that group's own prices where it has
        them (``edge.groups``; set when the socket subscribes to ticks)."""
        self.streams: set[str] | None = None
        """Account streams subscribed (``account``, ``positions``); None: every account event
        (a socket that never sent an ``action`` message: the protocol before subscriptions)."""
        self._sink = sink
        self._try_write = sink.try_write
        self._close = close
        self._max_pending = max_pending
        self._events: deque[Outgoing] = deque()
        self._ticks: dict[str, Outgoing] = {}
        # Nothing held and not closed: a message may go straight to the socket.
        self._idle = True
        self._closed = False
        self._closing: asyncio.Task[None] | None = None
        sink.on_writable(self._flush)

    @property
    def pending(self) -> int:
        """Messages held for this socket (bounded: max_pending events + one tick per symbol)."""
        return len(self._events) + len(self._ticks)

    @property
    def buffered_bytes(self) -> int:
        """Bytes of written frames still in the server's send buffer (bounded by its limits)."""
        return self._sink.buffered_bytes()

    def offer(self, message: Outgoing | dict[str, Any]) -> None:
        """Send a message that must not be dropped (events, replies, heartbeats), in order."""
        out = message if isinstance(message, Outgoing) else Outgoing.of(message)
        if self._idle:
            result = self._try_write(out)
            if result == WRITTEN:
                _sent(out.kind).inc()
                return
            if result == GONE:
                self._gone()
                return
        if self._closed:
            return
        if len(self._events) >= self._max_pending:
            log.warning("ws_client_too_slow", account_id=self.account_id)
            self._shut(CLOSE_TOO_SLOW, "client too slow")
            return
        self._events.append(out)
        self._idle = False

    def offer_tick(self, symbol: str, message: Outgoing) -> bool:
        """Send a tick now, or keep it as ``symbol``'s newest unsent one; True when sent now."""
        if self._idle:
            result = self._try_write(message)
            if result == WRITTEN:
                return True
            if result == GONE:
                self._gone()
                return False
        if self._closed:
            return False
        if symbol in self._ticks:
            WS_TICKS_CONFLATED.inc()
        self._ticks[symbol] = message
        self._idle = False
        return False

    def drop_tick(self, key: str) -> None:
        """Forget ``key``'s newest unsent tick or mark (it no longer holds)."""
        self._ticks.pop(key, None)

    def _flush(self) -> None:
        events, ticks = self._events, self._ticks
        while events or ticks:
            out = events[0] if events else ticks[next(iter(ticks))]
            result = self._try_write(out)
            if result == FULL:
                return
            if result == GONE:
                self._gone()
                return
            if events:
                events.popleft()
            else:
                del ticks[next(iter(ticks))]
            _sent(out.kind).inc()
        self._idle = not self._closed

    def wants(self, stream: str) -> bool:
        """Whether account events of ``stream`` go to this socket."""
        return self.streams is None or stream in self.streams

    @property
    def wants_marks(self) -> bool:
        """Whether live P&L goes to this socket: only once it subscribed to positions."""
        return self.streams is not None and "positions" in self.streams

    def close(self, code: int, reason: str) -> None:
        """Stop sending and close the socket (the reader side cleans up)."""
        if not self._closed:
            self._shut(code, reason)

    def _gone(self) -> None:
        # The socket is closing or closed; the reader side cleans up.
        self._closed = True
        self._idle = False
        self._events.clear()
        self._ticks.clear()

    def _shut(self, code: int, reason: str) -> None:
        self._gone()
        self._closing = asyncio.get_running_loop().create_task(self._close_quietly(code, reason))

    async def _close_quietly(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):
            await self._close(code, reason)

    async def stop(self) -> None:
        """Stop sending; drop what is held (the socket is going away)."""
        self._gone()
        self._sink.on_writable(None)
        if isinstance(self._sink, AsgiSink):
            await self._sink.stop()
        if self._closing is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._closing


def _closed_position(message: dict[str, Any]) -> str | None:
    """The id of the position a ``position_update`` reports closed, else None."""
    if message.get("type") != EventType.POSITION_UPDATE or message.get("action") != "closed":
        return None
    position = message.get("position")
    return str(position.get("positionId")) if isinstance(position, dict) else None


class Hub:
    """Registry of live connections by account and by subscribed symbol."""

    def __init__(self) -> None:
        self._by_account: dict[str, set[Connection]] = {}
        self._by_symbol: dict[str, set[Connection]] = {}
        self._order: dict[str, list[Connection]] = {}  # fan-out order, rebuilt on (un)subscribe
        self._turn = 0
        # Per symbol, the client groups with their own price: their sockets skip the default.
        self._group_prices: dict[str, set[str]] = {}
        # Told of each position reported closed (edge.marks: no mark of it may follow).
        self.on_position_closed: Callable[[str, str], None] | None = None

    def add(self, conn: Connection) -> None:
        self._by_account.setdefault(conn.account_id, set()).add(conn)
        WS_CONNECTIONS.inc()

    def remove(self, conn: Connection) -> None:
        peers = self._by_account.get(conn.account_id)
        if peers is not None and conn in peers:
            peers.discard(conn)
            if not peers:
                del self._by_account[conn.account_id]
            WS_CONNECTIONS.dec()
        self.unsubscribe(conn, set(conn.symbols))

    def has_account(self, account_id: str) -> bool:
        """Whether any socket of ``account_id`` is connected here."""
        return account_id in self._by_account

    def subscribe(self, conn: Connection, symbols: set[str]) -> None:
        for symbol in symbols:
            self._by_symbol.setdefault(symbol, set()).add(conn)
            self._order.pop(symbol, None)
        conn.symbols |= symbols

    def unsubscribe(self, conn: Connection, symbols: set[str]) -> None:
        for symbol in symbols:
            subs = self._by_symbol.get(symbol)
            if subs is not None:
                subs.discard(conn)
                self._order.pop(symbol, None)
                if not subs:
                    del self._by_symbol[symbol]
        conn.symbols -= symbols

    def publish_account_event(self, account_id: str, message: dict[str, Any]) -> int:
        """Send to every socket of ``account_id`` (and nobody else); returns how many."""
        conns = self._by_account.get(account_id)
        if not conns:
            return 0
        stream = STREAM_OF_EVENT.get(str(message.get("type")), "account")
        closed = _closed_position(message)
        if closed is not None and self.on_position_closed is not None:
            self.on_position_closed(account_id, closed)
        out: Outgoing | None = None
        sent = 0
        for conn in conns:
            if closed is not None:
                conn.drop_tick(position_mark_key(closed))
            if conn.wants(stream):
                out = out or Outgoing.of(message)
                conn.offer(out)
                sent += 1
        return sent

    def publish_marks(self, account_id: str, messages: list[tuple[str, Outgoing]]) -> int:
        """Live P&L (``edge.marks``) to the account's sockets subscribed to positions, conflated
        per key like ticks; returns how many sockets."""
        sent = 0
        for conn in self._by_account.get(account_id, ()):
            if conn.wants_marks:
                for key, message in messages:
                    if conn.offer_tick(key, message):
                        _sent(message.kind).inc()
                sent += 1
        return sent

    def close_session(self, session_id: str | None, token_id: str | None) -> int:
        """Close the sockets of a revoked session or token (4401); returns how many."""
        closed = 0
        for conn in self.connections():
            if (session_id is not None and conn.session_id == session_id) or (
                token_id is not None and conn.token_id == token_id
            ):
                conn.offer(REVOKED)
                conn.close(CLOSE_UNAUTHENTICATED, "token revoked")
                closed += 1
        return closed

    def set_group_price(self, symbol: str, group: str, present: bool) -> None:
        """Whether ``group`` has its own price of ``symbol`` (its sockets then skip the default)."""
        groups = self._group_prices.setdefault(symbol, set())
        if present:
            groups.add(group)
        else:
            groups.discard(group)
            if not groups:
                del self._group_prices[symbol]

    def has_group_price(self, symbol: str, group: str) -> bool:
        return group in self._group_prices.get(symbol, ())

    def has_tick_subscribers(self, symbol: str) -> bool:
        """Whether any socket here subscribes to ``symbol``'s ticks."""
        return symbol in self._by_symbol

    def publish_tick(self, symbol: str, message: Outgoing, group: str = "") -> int:
        """Send one tick (encoded once) to every subscriber of ``symbol`` it is the price of;
        returns how many subscribers the symbol has.

        A group's own price (``group``) goes to that group's sockets only; the default price
        to every other socket, not to groups with their own. Writing to a thousand sockets
        takes milliseconds, so each tick starts at the next subscriber in turn: no client is
        always the last to get a price.
        """
        order = self._order.get(symbol)
        if order is None:
            conns = self._by_symbol.get(symbol)
            if not conns:
                return 0
            order = self._order[symbol] = list(conns)
        self._turn += 1
        start = self._turn % len(order)
        sent = 0
        own = self._group_prices.get(symbol)
        for conn in chain(order[start:], order[:start]):
            if group:
                if conn.group != group:
                    continue
            elif own and conn.group in own:
                continue
            if conn.offer_tick(symbol, message):
                sent += 1
        if sent:
            _TICKS_SENT.inc(sent)
        return len(order)

    def send_tick(self, conn: Connection, symbol: str, message: Outgoing) -> None:
        """Send one tick to one subscriber (the current quote when it subscribes)."""
        if conn.offer_tick(symbol, message):
            _TICKS_SENT.inc()

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_account.values() for c in conns]
