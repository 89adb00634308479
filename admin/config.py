"""admin settings: the shared ones plus the REST listener and token lifetime."""

from __future__ import annotations

from pydantic import Field

from fxmesh.config import Settings


class AdminSettings(Settings):
    """Settings of the admin process (``FXMESH_*`` environment variables)."""

    admin_http_addr: str = Field(
        "127.0.0.1:8081", description="host:port of the REST API (/admin, /metrics, probes)."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="admin serves /metrics on its REST port; no extra port."
    )
    admin_token_ttl_seconds: int = Field(8 * 3600, gt=0, description="Lifetime of an admin token.")
