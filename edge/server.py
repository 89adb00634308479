"""Process wiring: runtime (logs, tracing), the ASGI app under uvicorn, orderly stop."""

from __future__ import annotations

from edge.app import create_app
from edge.config import EdgeSettings
from edge.wsserver import edge_http_server
from fxmesh.config import load_settings
from fxmesh.http import serve_http
from fxmesh.lifecycle import ServiceRuntime


async def main() -> None:
    settings = load_settings(EdgeSettings)
    runtime = ServiceRuntime("edge", settings, settings.metrics_port)
    server = edge_http_server(
        create_app(settings),
        settings.edge_http_addr,
        ws_ping_interval=settings.ws_heartbeat_seconds,
    )
    serve_http(runtime, server, "edge-http")
    await runtime.run_until_stopped()
