"""Settings of the quotes service (``FXMESH_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from fxmesh.config import Settings, service_config


class QuotesSettings(Settings):
    """Shared settings plus the quotes service's own knobs.

    Per-symbol pricing (markup, thresholds) is not here: it lives in ``quotes.symbol_settings`` and
    is reloaded at run time.
    """

    model_config = service_config("quotes")

    metrics_port: int = Field(9104, ge=0, le=65535)
    quotes_lp_priority: str = Field(
        "",
        description="Comma-separated LP session names, primary first; unlisted LPs rank after, "
        "in the order first seen.",
    )
    quotes_spike_window_seconds: float = Field(
        5.0,
        gt=0,
        description="A tick is checked for a spike only against a previous tick of the same LP "
        "received within this window.",
    )
    quotes_settings_reload_seconds: float = Field(
        5.0, gt=0, description="Periodic settings reload, the safety net behind LISTEN/NOTIFY."
    )
    quotes_refresh_seconds: float = Field(
        1.0,
        gt=0,
        description="Rewrite an unchanged client quote (LPs still confirming the same price) this "
        "often, with the newest tick's time: below the B-book's maximum quote age (5 s by "
        "default), else every order is refused QUOTE_STALE in a quiet market.",
    )
    quotes_store_ticks: bool = Field(
        True,
        description="Store ticks in quotes.ticks and maintain quotes.candles (off: no history).",
    )
    quotes_store_raw_ticks: bool = Field(
        True, description="Store the LP ticks that passed validation too (kind RAW)."
    )
    quotes_tick_flush_seconds: float = Field(
        1.0, gt=0, description="Ticks and candles are written in one batch this often."
    )
    quotes_tick_buffer_max: int = Field(
        100_000,
        gt=0,
        description="Ticks of each kind kept for storage while PostgreSQL is slow or down.",
    )
    quotes_tick_retention_days: int = Field(
        30,
        ge=0,
        description="Day partitions of quotes.ticks older than this many days are dropped whole "
        "(0: keep every day). Candles are kept.",
    )
    quotes_tick_partitions_ahead_days: int = Field(
        2, ge=1, le=60, description="Day partitions created ahead of today."
    )
    quotes_tick_maintenance_seconds: float = Field(
        3600.0, gt=0, description="How often partitions are created ahead and retention applied."
    )

    @property
    def lp_priority(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.quotes_lp_priority.split(",") if p.strip())
