"""A fleet of WebSocket clients in this process, each handing every frame to one callback."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# (client index, frame text, arrival time from time.perf_counter())
OnFrame = Callable[[int, str, float], None]
CONNECT_CONCURRENCY = 50


def _connect(url: str) -> Any:
    # Browser-like: permessage-deflate on (the default); no client pings (the server sends its own).
    return connect(url, ping_interval=None, proxy=None, open_timeout=30, max_queue=None)


class WsFleet:
    """``count`` sockets to ``url``; frames go to ``on_frame`` as they arrive."""

    def __init__(self, url: str, count: int, on_frame: OnFrame) -> None:
        self.url, self.count, self.on_frame = url, count, on_frame
        self.sockets: list[ClientConnection] = []
        self._readers: list[asyncio.Task[None]] = []
        self.closed_early = 0

    async def open(self, hello: str | None = None) -> None:
        """Connect every socket (``CONNECT_CONCURRENCY`` at a time), send ``hello`` on each."""
        slots = asyncio.Semaphore(CONNECT_CONCURRENCY)
        sockets: list[ClientConnection | None] = [None] * self.count

        async def one(i: int) -> None:
            async with slots:
                ws = await _connect(self.url)
                sockets[i] = ws
                if hello is not None:
                    await ws.send(hello)

        await asyncio.gather(*(one(i) for i in range(self.count)))
        self.sockets = [ws for ws in sockets if ws is not None]
        for i, ws in enumerate(self.sockets):
            self._readers.append(asyncio.create_task(self._read(i, ws)))

    async def _read(self, index: int, ws: ClientConnection) -> None:
        clock = time.perf_counter
        on_frame = self.on_frame
        try:
            async for frame in ws:
                on_frame(index, frame if isinstance(frame, str) else frame.decode(), clock())
        except ConnectionClosed:
            pass
        self.closed_early += 1

    async def close(self) -> None:
        for task in self._readers:
            task.cancel()
        for task in self._readers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.closed_early = 0

        async def close_one(ws: ClientConnection) -> None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 5)

        await asyncio.gather(*(close_one(ws) for ws in self.sockets))
        self.sockets.clear()
        self._readers.clear()
