"""Process wiring: the ASGI app under uvicorn with edge's WebSocket protocol, orderly stop.

What edge opens (oms and quotes channels, Redis, RabbitMQ, the feeds) belongs to the app's
lifespan (``edge.app``), so tests that serve ``create_app`` themselves get the same.
"""

from __future__ import annotations

from collections.abc import Callable

from edge.app import create_app
from edge.config import EdgeSettings
from edge.wsserver import edge_http_server
from fxmesh.http import HttpServing


class EdgeApp:
    """edge's HTTP/WebSocket server: ``start`` returns the bound port once the lifespan has opened
    everything, ``stop`` lets uvicorn shut down and the lifespan close what it opened."""

    def __init__(
        self, settings: EdgeSettings, *, on_exit: Callable[[], object] | None = None
    ) -> None:
        self.settings = settings
        self.app = create_app(settings)
        server = edge_http_server(
            self.app, settings.edge_http_addr, ws_ping_interval=settings.ws_heartbeat_seconds
        )
        self.http = HttpServing(server, "edge-http", on_exit=on_exit)

    async def start(self) -> int:
        return await self.http.start()

    async def stop(self) -> None:
        await self.http.stop()
