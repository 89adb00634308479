"""A minimal HTTP/1.1 keep-alive client for load generation.

The load generator shares two cores with the stack it measures, so its own cost per request
matters: this client does on asyncio streams what a browser or a mobile client does (one keep-alive
connection per in-flight request, Content-Length or chunked bodies) and nothing else, at a fraction
of a general client's CPU per request. It is for talking to our own servers on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class HttpError(Exception):
    """The connection failed or the response could not be read."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    retry_after: int | None = None  # the Retry-After header (delta seconds) of a 503 / 429

    def json(self) -> Any:
        return json.loads(self.body)


# uvicorn closes a keep-alive connection idle for 5 s; never reuse one that close to it.
MAX_IDLE_S = 4.0


class _Conn:
    __slots__ = ("idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        return (
            now - self.idle_since < MAX_IDLE_S
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class HttpPool:
    """Keep-alive connections to one host; at most ``max_connections`` requests in flight.

    A request that finds every connection busy waits for one: the wait is part of its latency,
    as it would be for a client whose connection limit is reached.
    """

    def __init__(self, host: str, port: int, *, max_connections: int = 256) -> None:
        self.host, self.port = host, port
        self._idle: list[_Conn] = []
        self._slots = asyncio.Semaphore(max_connections)
        self._host_header = f"{host}:{port}".encode()
        self.opened = 0

    async def _connect(self) -> _Conn:
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        self.opened += 1
        return _Conn(reader, writer)

    async def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request and read its response; HttpError on any transport problem."""
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self._host_header]
        if body is not None:
            head.append(b"Content-Type: application/json")
            head.append(b"Content-Length: " + str(len(body)).encode())
        for name, value in (headers or {}).items():
            head.append(f"{name}: {value}".encode())
        payload = b"\r\n".join(head) + b"\r\n\r\n" + (body or b"")
        async with self._slots:
            try:
                conn = await self._checkout()
            except OSError as exc:
                raise HttpError(f"connect {type(exc).__name__}: {exc}") from exc
            try:
                conn.writer.write(payload)
                response, keep = await self._read(conn.reader)
            except (
                OSError,
                asyncio.IncompleteReadError,
                asyncio.LimitOverrunError,
                ValueError,
            ) as exc:
                conn.close()
                raise HttpError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:  # cancelled (a timeout): the connection state is unknown
                conn.close()
                raise
            if keep:
                conn.idle_since = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
            return response

    async def _checkout(self) -> _Conn:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable(now):
                return conn
            conn.close()
        return await self._connect()

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> tuple[Response, bool]:
        raw = await reader.readuntil(b"\r\n\r\n")
        lines = raw.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length = -1
        chunked = False
        keep = True
        retry_after: int | None = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value)
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif key == b"connection" and value.strip().lower() == b"close":
                keep = False
            elif key == b"retry-after" and value.strip().isdigit():
                retry_after = int(value)
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            return Response(status, b"".join(parts), retry_after), keep
        if length < 0:
            raise ValueError("response without Content-Length")
        body = await reader.readexactly(length) if length else b""
        return Response(status, body, retry_after), keep

    async def close(self) -> None:
        for conn in self._idle:
            conn.close()
        self._idle.clear()
