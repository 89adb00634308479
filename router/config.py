"""Router settings (``FXMESH_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from fxmesh.config import Settings, service_config


class RouterSettings(Settings):
    """Shared settings plus the router's and its in-process B-book's own (``FXMESH_ROUTER_*``)."""

    model_config = service_config("router")

    metrics_port: int = Field(9102, ge=0, le=65535, description="Port of the router's /metrics.")
    router_max_quote_age_ms: int = Field(
        5000,
        gt=0,
        description=(
            "A client quote older than this is stale: the B-book never fills on it "
            "(router.bbook_symbol_settings.max_quote_age_ms overrides it per symbol)."
        ),
    )
    router_fixgw_deadline_margin_seconds: float = Field(
        0.5,
        ge=0,
        description=(
            "An A-book order's call to fixgw ends this long before the Execute's own deadline, "
            "so the router can still commit and answer what fixgw said."
        ),
    )
    router_fixgw_timeout_seconds: float = Field(
        4.5,
        gt=0,
        description="Deadline of a call to fixgw when the caller gave the router none.",
    )
    router_config_reload_seconds: float = Field(
        30.0,
        gt=0,
        description=(
            "Periodic reload of routing rules, exposure limits and B- and A-book symbol settings "
            "(besides LISTEN/NOTIFY)."
        ),
    )
    router_lp_health_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the router asks fixgw's ListSessions which LPs are healthy.",
    )
    router_lp_health_stale_ms: int = Field(
        5000,
        gt=0,
        description=(
            "LP health older than this is unknown: the rule engine applies no LP fallback then "
            "(fixgw answers NO_LIQUIDITY itself when no LP can take an order)."
        ),
    )
    router_hedge_interval_seconds: float = Field(
        1.0,
        gt=0,
        description=(
            "How often the leader checks the house net against the exposure limits and drives "
            "open hedge orders (a hedge request from the house book wakes it at once)."
        ),
    )
    router_hedge_backoff_seconds: float = Field(
        1.0,
        gt=0,
        description=(
            "Wait before a rejected hedge is sent again, or an unknown one asked about again; "
            "doubles with each failure up to FXMESH_ROUTER_HEDGE_BACKOFF_MAX_SECONDS."
        ),
    )
    router_hedge_backoff_max_seconds: float = Field(
        60.0, gt=0, description="Longest wait between two attempts of one hedge order."
    )
    router_hedge_timeout_seconds: float = Field(
        5.0, gt=0, description="Deadline of a hedge order's call to fixgw."
    )
    router_leader_lock_key: int = Field(
        0x46584D52,
        description=(
            "PostgreSQL advisory lock key the router replicas compete for: its holder leads "
            "(serves and hedges), the others stand by."
        ),
    )
    router_leader_check_seconds: float = Field(
        1.0,
        gt=0,
        description=(
            "How often a standby tries the leader lock, and the leader checks its lock "
            "connection (a leader that lost it stops serving at once)."
        ),
    )
    router_leader_election: bool = Field(
        True,
        description=(
            "Run for leader among the replicas (the leader serves, the others stand by). Off: "
            "this process leads unconditionally (one replica only: tests and development)."
        ),
    )
