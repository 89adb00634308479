"""The load generator's WebSocket fleet against a websockets server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bench.wsclients import FrameReader, WsFleet, client_frame

BIG = "x" * 70_000


@pytest.fixture
async def server() -> AsyncIterator[tuple[int, list[str]]]:
    """Answers each client's hello with frames of every length encoding, a fragmented message
    and a ping; records what the clients sent."""
    hellos: list[str] = []

    async def handle(ws: ServerConnection) -> None:
        hello = str(await ws.recv())
        hellos.append(hello)
        await ws.send(f"small:{hello}")
        await ws.send("m" * 200)
        await ws.send(BIG)
        await ws.send(iter(["frag", "mented"]))
        await ws.ping()
        await ws.send("last")
        await ws.wait_closed()

    async with serve(handle, "127.0.0.1", 0, compression=None) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        yield port, hellos


async def test_fleet_when_server_sends_every_frame_kind_then_each_client_gets_every_message(
    server: tuple[int, list[str]],
) -> None:
    port, hellos = server
    got: dict[int, list[str]] = {0: [], 1: []}
    done = asyncio.Event()

    def on_frame(client: int, text: str, at: float) -> None:
        got[client].append(text)
        if all(msgs and msgs[-1] == "last" for msgs in got.values()):
            done.set()

    fleet = WsFleet(f"ws://127.0.0.1:{port}/ws?x=1", 2, on_frame)
    await fleet.open(hello="hi")
    await asyncio.wait_for(done.wait(), 10)
    await fleet.close()

    assert hellos == ["hi", "hi"]
    for messages in got.values():
        assert messages == ["small:hi", "m" * 200, BIG, "fragmented", "last"]
    assert fleet.closed_early == 0


def test_frame_reader_when_bytes_arrive_in_pieces_then_frames_come_out_whole() -> None:
    reader = FrameReader()
    stream = b"\x81\x03abc" + b"\x81\x7e\x00\x80" + b"y" * 128 + b"\x89\x00"

    out: list[Any] = []
    for i in range(len(stream)):
        out.extend(reader.feed(stream[i : i + 1]))

    assert out == [(0x1, b"abc"), (0x1, b"y" * 128), (0x9, b"")]


def test_client_frame_when_unmasked_then_original_payload() -> None:
    frame = client_frame(0x1, b"hello")

    assert frame[0] == 0x81
    assert frame[1] == 0x80 | 5
    key, masked = frame[2:6], frame[6:]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(masked)) == b"hello"
