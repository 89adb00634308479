"""``python -m quotes``: run the quotes service."""

from __future__ import annotations

from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime, run_service
from quotes.config import QuotesSettings
from quotes.server import QuotesApp


async def main() -> None:
    settings = load_settings(QuotesSettings)
    runtime = ServiceRuntime("quotes", settings, settings.metrics_port)
    await runtime.serve(QuotesApp(settings))


if __name__ == "__main__":
    run_service(main)
