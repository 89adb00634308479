"""admin settings: the shared ones plus the REST listener, token lifetime, login throttling and the
withdrawal approval threshold."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from fxmesh.config import Settings, service_config


class AdminSettings(Settings):
    """Settings of the admin process (``FXMESH_ADMIN_*`` environment variables)."""

    model_config = service_config("admin")

    admin_http_addr: str = Field(
        "127.0.0.1:8081", description="host:port of the REST API (/admin, /metrics, probes)."
    )
    metrics_port: int = Field(
        0, ge=0, le=65535, description="admin serves /metrics on its REST port; no extra port."
    )
    admin_token_ttl_seconds: int = Field(
        1800,
        gt=0,
        le=3600,
        description="Lifetime of an admin token: at most an hour, far below a client token's.",
    )
    admin_login_max_failures: int = Field(
        5, gt=0, description="Failed logins of one username within the window that lock it."
    )
    admin_login_max_failures_per_ip: int = Field(
        20,
        gt=0,
        description="Failed logins from one source address within the window that lock it.",
    )
    admin_login_window_seconds: int = Field(
        900, gt=0, description="Window in which failed logins are counted."
    )
    admin_login_lockout_seconds: int = Field(
        900, gt=0, description="How long a locked username or source address is refused."
    )
    admin_health_timeout_seconds: float = Field(
        2.0, gt=0, le=30, description="How long system health waits for each component."
    )
    admin_withdrawal_approval_above: Decimal = Field(
        Decimal("10000"),
        ge=0,
        description=(
            "Withdrawals above this amount (in the account currency) wait for a second admin's "
            "approval with their funds held in oms (four eyes); at or below it they book at once. "
            "0 sends every withdrawal for approval."
        ),
    )
