"""A fleet of WebSocket clients in this process, each handing every frame to one callback.

The fleet speaks RFC 6455 itself on asyncio protocols (no client library per socket): the
load generator shares the machine with the server it measures, and a thousand sockets receiving
a hundred frames per second each must cost the generator less than they cost the server. A
frame costs one slice of a receive buffer and a callback; no permessage-deflate is offered, as a
server that negotiates none would send anyway. ``_connect`` (a websockets client) remains for
the odd control socket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

from websockets.asyncio.client import connect

# (client index, frame text, arrival time from time.perf_counter())
OnFrame = Callable[[int, str, float], None]
CONNECT_CONCURRENCY = 50
OPEN_TIMEOUT = 30.0
CLOSE_TIMEOUT = 5.0
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG, _CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def _connect(url: str) -> Any:
    # Browser-like: permessage-deflate offered (the default); no client pings.
    return connect(url, ping_interval=None, proxy=None, open_timeout=30, max_queue=None)


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client-to-server frame (RFC 6455 5.3: clients always mask)."""
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        header = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = os.urandom(4)
    mask = (key * (n // 4 + 1))[:n]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(mask, "big")).to_bytes(n, "big")
    return header + key + masked


class FrameReader:
    """Splits a server's byte stream into frames; ``feed`` returns complete (opcode, payload)s."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._fragments: list[bytes] = []
        self._fragment_opcode = _TEXT

    @property
    def pending(self) -> bool:
        """Whether part of a frame (or message) is waiting for more bytes."""
        return bool(self._buf or self._fragments)

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        buf = self._buf
        buf += data
        out: list[tuple[int, bytes]] = []
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(buf[pos + 2 : pos + 10], "big"), pos + 10
            if b1 & 0x80:
                raise ValueError("a server frame must not be masked")
            end = start + length
            if end > size:
                break
            payload = bytes(buf[start:end])
            pos = end
            opcode, fin = b0 & 0x0F, b0 & 0x80
            if opcode == _CONT or (not fin and opcode in (_TEXT, _BINARY)):
                if opcode != _CONT:
                    self._fragment_opcode = opcode
                self._fragments.append(payload)
                if not fin:
                    continue
                opcode, payload = self._fragment_opcode, b"".join(self._fragments)
                self._fragments = []
            out.append((opcode, payload))
        del buf[:pos]
        return out


class _Client(asyncio.Protocol):
    """One socket: the opening handshake, then frames to ``on_frame``."""

    def __init__(self, index: int, host: str, target: str, on_frame: OnFrame) -> None:
        self.index = index
        self.on_frame = on_frame
        self.key = base64.b64encode(os.urandom(16))
        self.request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {self.key.decode()}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.Transport | None = None
        self.reader = FrameReader()
        self.head = bytearray()
        self.is_open = False
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        at = time.perf_counter()
        if not self.is_open:
            self.head += data
            end = self.head.find(b"\r\n\r\n")
            if end < 0:
                return
            data = bytes(self.head[end + 4 :])
            self._handshake(bytes(self.head[:end]))
            if not self.is_open:
                return
        elif (
            len(data) > 1
            and len(data) == data[1] + 2
            and data[0] == 0x81
            and not self.reader.pending
        ):
            # The usual read: one whole small text frame, nothing buffered before it.
            self.on_frame(self.index, data[2:].decode(), at)
            return
        try:
            frames = self.reader.feed(data)
        except ValueError as exc:
            self._fail(exc)
            return
        on_frame, index = self.on_frame, self.index
        for opcode, payload in frames:
            if opcode in (_TEXT, _BINARY):
                on_frame(index, payload.decode(), at)
            elif opcode == _PING:
                self.send(_PONG, payload)
            elif opcode == _CLOSE:
                if not self.closing:
                    self.closing = True
                    self.send(_CLOSE, payload[:2])
                if self.transport is not None:
                    self.transport.close()

    def _handshake(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in lines[1:])
        }
        accept = base64.b64encode(hashlib.sha1(self.key + _GUID).digest()).decode()
        if not lines[0].startswith("HTTP/1.1 101") or headers.get("sec-websocket-accept") != accept:
            self._fail(ConnectionError(f"WebSocket handshake refused: {lines[0]}"))
            return
        self.is_open = True
        if not self.opened.done():
            self.opened.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def send(self, opcode: int, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(client_frame(opcode, payload))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.lost.done():
            self.lost.set_result(None)

    async def close(self) -> None:
        if self.transport is None or self.lost.done():
            return
        if not self.closing:
            self.closing = True
            self.send(_CLOSE, (1000).to_bytes(2, "big"))
        try:
            await asyncio.wait_for(asyncio.shield(self.lost), CLOSE_TIMEOUT)
        except TimeoutError:
            self.transport.abort()


class WsFleet:
    """``count`` sockets to ``url``; frames go to ``on_frame`` as they arrive."""

    def __init__(self, url: str, count: int, on_frame: OnFrame) -> None:
        self.url, self.count, self.on_frame = url, count, on_frame
        self.clients: list[_Client] = []
        self.closed_early = 0

    async def open(self, hello: str | None = None) -> None:
        """Connect every socket (``CONNECT_CONCURRENCY`` at a time), send ``hello`` on each."""
        parts = urlsplit(self.url)
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
        clients: list[_Client | None] = [None] * self.count

        async def one(i: int) -> None:
            async with slots:
                client = _Client(i, f"{host}:{port}", target, self.on_frame)
                async with asyncio.timeout(OPEN_TIMEOUT):
                    await loop.create_connection(lambda: client, host, port)
                    await client.opened
                clients[i] = client
                client.lost.add_done_callback(self._on_lost)
                if hello is not None:
                    client.send(_TEXT, hello.encode())

        try:
            await asyncio.gather(*(one(i) for i in range(self.count)))
        finally:
            self.clients = [c for c in clients if c is not None]

    def _on_lost(self, _: asyncio.Future[None]) -> None:
        self.closed_early += 1

    async def close(self) -> None:
        for client in self.clients:
            client.lost.remove_done_callback(self._on_lost)
        self.closed_early = 0
        await asyncio.gather(*(c.close() for c in self.clients))
        for client in self.clients:
            if client.transport is not None:
                with contextlib.suppress(Exception):
                    client.transport.abort()
        self.clients.clear()
