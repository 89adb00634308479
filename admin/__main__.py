"""``python -m admin``: the back office (REST and gRPC)."""

from __future__ import annotations

from admin.config import AdminSettings
from admin.server import AdminApp
from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime, run_service


async def main() -> None:
    settings = load_settings(AdminSettings)
    runtime = ServiceRuntime("admin", settings, settings.metrics_port)
    await runtime.serve(AdminApp(settings, on_exit=runtime.request_stop))


if __name__ == "__main__":
    run_service(main)
