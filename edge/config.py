"""edge settings: the shared ones plus the HTTP listener and token/WebSocket policy."""

from __future__ import annotations

from pydantic import Field

from fxmesh.config import Settings


class EdgeSettings(Settings):
    """Settings of the edge process (``FXMESH_*`` environment variables)."""

    edge_http_addr: str = Field(
        "127.0.0.1:8080", description="host:port of the REST/WebSocket listener (/metrics too)."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="edge serves /metrics on its HTTP port; no extra port."
    )
    client_token_ttl_seconds: int = Field(
        8 * 3600, gt=0, description="Lifetime of a client access token."
    )
    ws_heartbeat_seconds: float = Field(
        20.0, gt=0, description="Interval of WebSocket heartbeats (and protocol pings)."
    )
    ws_auth_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a socket may stay open without authenticating."
    )
    ws_max_pending_events: int = Field(
        1000, gt=0, description="Unsent account events per socket before it is closed as too slow."
    )
