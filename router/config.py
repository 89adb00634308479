"""Router settings (``FXMESH_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from fxmesh.config import Settings


class RouterSettings(Settings):
    """Shared settings plus the router's and its in-process B-book's own."""

    metrics_port: int = Field(9102, ge=0, le=65535, description="Port of the router's /metrics.")
    router_max_quote_age_ms: int = Field(
        5000,
        gt=0,
        description=(
            "A client quote older than this is stale: the B-book never fills on it "
            "(router.bbook_symbol_settings.max_quote_age_ms overrides it per symbol)."
        ),
    )
    router_config_reload_seconds: float = Field(
        30.0,
        gt=0,
        description=(
            "Periodic reload of routing rules, exposure limits and B-book symbol settings "
            "(besides LISTEN/NOTIFY)."
        ),
    )
