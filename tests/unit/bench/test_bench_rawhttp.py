"""The load generator's HTTP/1.1 client against a scripted server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.rawhttp import HttpError, HttpPool

RESPONSES = {
    b"/length": b'HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{"ok":true}',
    b"/chunked": b'HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n'
    b"3\r\n:1}\r\n0\r\n\r\n",
    b"/close": b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
}


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, list[int]]]:
    """Answers each request by path; records which connection (by number) served it."""
    served: list[int] = []
    counter = iter(range(1_000_000))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = next(counter)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                path = head.split(b" ")[1]
                served.append(conn)
                writer.write(RESPONSES[path])
                await writer.drain()
                if path == b"/close":
                    break
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    yield port, served
    srv.close()
    await srv.wait_closed()


async def test_request_when_content_length_or_chunked_then_body_read_whole(
    server: tuple[int, list[int]],
) -> None:
    port, _ = server
    pool = HttpPool("127.0.0.1", port, max_connections=1)

    first = await pool.request("POST", "/length", b'{"x":1}', {"authorization": "Bearer t"})
    second = await pool.request("GET", "/chunked")

    assert (first.status, first.json()) == (200, {"ok": True})
    assert (second.status, second.json()) == (201, {"a": 1})
    await pool.close()


async def test_request_when_keep_alive_then_one_connection_reused(
    server: tuple[int, list[int]],
) -> None:
    port, served = server
    pool = HttpPool("127.0.0.1", port, max_connections=4)

    for _ in range(3):
        await pool.request("GET", "/length")

    assert served == [0, 0, 0]
    assert pool.opened == 1
    await pool.close()


async def test_request_when_server_closes_after_reply_then_next_request_opens_a_new_one(
    server: tuple[int, list[int]],
) -> None:
    port, served = server
    pool = HttpPool("127.0.0.1", port, max_connections=1)

    closed = await pool.request("GET", "/close")
    after = await pool.request("GET", "/length")

    assert closed.status == 503
    assert after.status == 200
    assert served == [0, 1]
    await pool.close()


async def test_request_when_nothing_listens_then_http_error() -> None:
    probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    pool = HttpPool("127.0.0.1", port)

    with pytest.raises(HttpError):
        await pool.request("GET", "/length")
