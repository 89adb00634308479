"""Settings of the quotes service (``FXMESH_*`` environment variables)."""

from __future__ import annotations

from pydantic import Field

from fxmesh.config import Settings


class QuotesSettings(Settings):
    """Shared settings plus the quotes service's own knobs.

    Per-symbol pricing (markup, thresholds) is not here: it lives in ``quotes.symbol_settings`` and
    is reloaded at run time.
    """

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
    quotes_store_ticks: bool = Field(True, description="Store client ticks in quotes.ticks.")
    quotes_tick_flush_seconds: float = Field(1.0, gt=0)
    quotes_tick_buffer_max: int = Field(
        100_000, gt=0, description="Ticks kept for storage while PostgreSQL is slow or down."
    )

    @property
    def lp_priority(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.quotes_lp_priority.split(",") if p.strip())
