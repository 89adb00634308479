"""oms settings: the shared ones plus what only the account of record needs."""

from __future__ import annotations

from datetime import time

from pydantic import Field

from fxmesh.config import Settings


class OmsSettings(Settings):
    """Environment ``FXMESH_*``; addresses of every service come from the shared Settings."""

    metrics_port: int = Field(9101, ge=0, le=65535, description="Port of oms's /metrics.")
    outbox_poll_seconds: float = Field(
        1.0, gt=0, description="Safety-net poll of the outbox when no NOTIFY arrives."
    )
    symbols_cache_seconds: float = Field(
        2.0, ge=0, description="How long symbol settings are cached (admin changes apply after)."
    )
    rollover_time: time = Field(
        time(0), description="UTC wall-clock time of the daily rollover (swaps are charged then)."
    )
    recovery_interval_seconds: float = Field(
        5.0, gt=0, description="How often orders left in flight are reconciled with the router."
    )
    run_watcher: bool = Field(
        True, description="Run the tick watcher (pending orders, SL/TP, trailing, stop-out)."
    )
    run_rollover: bool = Field(True, description="Charge swaps at each rollover.")
