"""More edge replicas next to the session's one: the same fake oms, quotes, Redis and RabbitMQ,
with settings of their own (what two edge processes behind one load balancer share)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx

from edge.app import create_app
from edge.wsserver import edge_http_server


@dataclass(frozen=True)
class Replica:
    base_url: str
    ws_url: str

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


@contextlib.asynccontextmanager
async def replica(base: Any, **overrides: Any) -> AsyncIterator[Replica]:
    """Another edge process-equivalent (own app, own server, own lifespan) with ``overrides``."""
    settings = base.settings.model_copy(update=overrides)
    app = create_app(settings)
    server = edge_http_server(app, "127.0.0.1:0", ws_ping_interval=20.0)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.05)
            await app.state.resources.ticks.wait_subscribed()
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Replica(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws")
    finally:
        server.should_exit = True
        await serving
