"""python -m fixgw: the FIX 4.4 gateway."""

from __future__ import annotations

from fixgw.config import FixgwSettings
from fixgw.server import FixgwApp
from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime, run_service


async def main() -> None:
    settings = load_settings(FixgwSettings)
    runtime = ServiceRuntime("fixgw", settings, settings.metrics_port)
    await runtime.serve(FixgwApp(settings))


if __name__ == "__main__":
    run_service(main)
