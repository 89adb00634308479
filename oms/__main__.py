"""python -m oms: the account of record as a gRPC service (fxmesh.v1.OmsService)."""

from __future__ import annotations

from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime, run_service
from oms.config import OmsSettings
from oms.server import OmsApp, rollover_task, watcher_task
from router import RouterSettings


async def main() -> None:
    settings = load_settings(OmsSettings)
    runtime = ServiceRuntime("oms", settings, settings.metrics_port)
    tasks = [watcher_task] if settings.run_watcher else []
    if settings.run_rollover:
        tasks.append(rollover_task)
    app = OmsApp(
        settings,
        tasks=tasks,
        recovery_interval_seconds=settings.recovery_interval_seconds,
        router_settings=load_settings(RouterSettings) if settings.router_in_process else None,
    )
    await runtime.serve(app)


if __name__ == "__main__":
    run_service(main)
