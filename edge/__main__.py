"""``python -m edge``: the client API (HTTP and WebSocket)."""

from __future__ import annotations

from edge.config import EdgeSettings
from edge.server import EdgeApp
from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime, run_service


async def main() -> None:
    settings = load_settings(EdgeSettings)
    runtime = ServiceRuntime("edge", settings, settings.metrics_port)
    await runtime.serve(EdgeApp(settings, on_exit=runtime.request_stop))


if __name__ == "__main__":
    run_service(main)
