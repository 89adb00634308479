"""WebSocket fan-out: account events to that account's sockets, ticks to subscribers.

Fan-out never awaits a socket: it drops a message into the connection's outbox and returns. Each
connection has one writer task. Account events queue in order (bounded; a socket that falls that far
behind is closed); ticks are conflated: while a send is pending only the latest tick per symbol is
kept, so a slow client gets fresh prices instead of a growing backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from edge.metrics import WS_CONNECTIONS, WS_MESSAGES_SENT, WS_TICKS_CONFLATED

log = structlog.stdlib.get_logger(__name__)

SendText = Callable[[str], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]
CLOSE_TOO_SLOW = 1013  # "try again later"


class Connection:
    """One authenticated socket's outbox and writer."""

    def __init__(
        self, account_id: str, send_text: SendText, close: CloseSocket, max_pending: int
    ) -> None:
        self.account_id = account_id
        self.symbols: set[str] = set()
        self._send_text = send_text
        self._close = close
        self._max_pending = max_pending
        self._events: deque[dict[str, Any]] = deque()
        self._ticks: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._closed = False
        self._too_slow = False
        self._writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name=f"ws-writer-{self.account_id}")

    def offer(self, message: dict[str, Any]) -> None:
        """Queue a message that must not be dropped (events, replies, heartbeats)."""
        if self._closed:
            return
        if len(self._events) >= self._max_pending:
            log.warning("ws_client_too_slow", account_id=self.account_id)
            self._closed = self._too_slow = True
            self._wake.set()
            return
        self._events.append(message)
        self._wake.set()

    def offer_tick(self, symbol: str, message: dict[str, Any]) -> None:
        """Keep only the newest unsent tick of ``symbol``."""
        if self._closed:
            return
        if symbol in self._ticks:
            WS_TICKS_CONFLATED.inc()
        self._ticks[symbol] = message
        self._wake.set()

    async def _write_loop(self) -> None:
        try:
            while not self._closed:
                await self._wake.wait()
                self._wake.clear()
                while (self._events or self._ticks) and not self._closed:
                    if self._events:
                        message = self._events.popleft()
                    else:
                        symbol = next(iter(self._ticks))
                        message = self._ticks.pop(symbol)
                    await self._send_text(json.dumps(message, separators=(",", ":")))
                    WS_MESSAGES_SENT.labels(str(message.get("type", "unknown"))).inc()
            if self._too_slow:
                with contextlib.suppress(Exception):
                    await self._close(CLOSE_TOO_SLOW, "client too slow")
        except asyncio.CancelledError:
            raise
        except Exception:  # the socket went away; the reader side cleans up
            self._closed = True

    async def stop(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


class Hub:
    """Registry of live connections by account and by subscribed symbol."""

    def __init__(self) -> None:
        self._by_account: dict[str, set[Connection]] = {}
        self._by_symbol: dict[str, set[Connection]] = {}

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

    def subscribe(self, conn: Connection, symbols: set[str]) -> None:
        for symbol in symbols:
            self._by_symbol.setdefault(symbol, set()).add(conn)
        conn.symbols |= symbols

    def unsubscribe(self, conn: Connection, symbols: set[str]) -> None:
        for symbol in symbols:
            subs = self._by_symbol.get(symbol)
            if subs is not None:
                subs.discard(conn)
                if not subs:
                    del self._by_symbol[symbol]
        conn.symbols -= symbols

    def publish_account_event(self, account_id: str, message: dict[str, Any]) -> int:
        """Send to every socket of ``account_id`` (and nobody else); returns how many."""
        conns = self._by_account.get(account_id, ())
        for conn in conns:
            conn.offer(message)
        return len(conns)

    def publish_tick(self, symbol: str, message: dict[str, Any]) -> int:
        conns = self._by_symbol.get(symbol, ())
        for conn in conns:
            conn.offer_tick(symbol, message)
        return len(conns)

    def connections(self) -> list[Connection]:
        return [c for conns in self._by_account.values() for c in conns]
