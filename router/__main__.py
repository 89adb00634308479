"""python -m router: the smart order router with its in-process B-book."""

from __future__ import annotations

from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime, run_service
from router.config import RouterSettings
from router.server import RouterApp


async def main() -> None:
    settings = load_settings(RouterSettings)
    runtime = ServiceRuntime("router", settings, settings.metrics_port)
    await runtime.serve(RouterApp(settings))


if __name__ == "__main__":
    run_service(main)
