"""python -m router: the smart order router with its in-process B-book."""

from __future__ import annotations

from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime, run_service
from router.config import RouterSettings
from router.server import RouterApp


async def main() -> None:
    settings = load_settings(RouterSettings)
    runtime = ServiceRuntime("router", settings, settings.metrics_port)
    app = RouterApp(settings)
    # A replica that lost the lead stops (the orchestrator starts it again as a standby): its
    # clients' connections close and reconnect to the leader.
    app.on_demoted = runtime.request_stop
    await runtime.serve(app)


if __name__ == "__main__":
    run_service(main)
