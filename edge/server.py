"""Process wiring: runtime (logs, tracing), the ASGI app under uvicorn, orderly stop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator

import uvicorn

from edge.app import create_app
from edge.config import EdgeSettings, split_addr
from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime


class EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: ServiceRuntime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def http_server(app: object, addr: str, *, ws_ping_interval: float = 20.0) -> EmbeddedServer:
    host, port = split_addr(addr)
    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        ws_ping_interval=ws_ping_interval,
        ws_ping_timeout=ws_ping_interval,
        proxy_headers=False,
    )
    return EmbeddedServer(config)


async def main() -> None:
    settings = load_settings(EdgeSettings)
    runtime = ServiceRuntime("edge", settings, settings.metrics_port)
    server = http_server(
        create_app(settings),
        settings.edge_http_addr,
        ws_ping_interval=settings.ws_heartbeat_seconds,
    )
    serving = asyncio.create_task(server.serve(), name="edge-http")

    async def stop() -> None:
        server.should_exit = True
        await serving

    runtime.on_stop(stop)
    serving.add_done_callback(lambda _: runtime.request_stop())
    await runtime.run_until_stopped()
