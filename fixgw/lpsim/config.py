"""LP simulator settings (``FXMESH_LPSIM_*``); runtime knobs can also be changed over HTTP."""

from __future__ import annotations

from pydantic import Field

from fxmesh.config import Settings


class LpsimSettings(Settings):
    """Where the simulator listens and how it behaves at start."""

    run_dir: str = Field(".run", description="Root of QuickFIX stores and logs.")
    lpsim_fix_port: int = Field(9876, ge=1, le=65535, description="FIX 4.4 acceptor port.")
    lpsim_control_host: str = Field("127.0.0.1", description="Control HTTP API bind address.")
    lpsim_control_port: int = Field(
        9877, ge=0, le=65535, description="Control HTTP API port (also serves /metrics)."
    )
    lpsim_sender_comp_id: str = Field("LPSIM", description="Our SenderCompID.")
    lpsim_target_comp_ids: str = Field(
        "FXMESH", description="Comma-separated TargetCompIDs (counterparties) accepted."
    )
    lpsim_tick_interval_ms: int = Field(100, ge=1, description="Price step per symbol.")
    lpsim_latency_ms: int = Field(0, ge=0, description="Delay before answering an order.")
    lpsim_reject_rate: float = Field(0.0, ge=0.0, le=1.0, description="Share of orders rejected.")
    lpsim_partial_fills: int = Field(1, ge=1, le=100, description="Fills per order.")
    lpsim_walk: bool = Field(True, description="Random-walk prices; false freezes them.")
    lpsim_seed: int | None = Field(None, description="Random seed (reproducible walks).")
    lpsim_fix_message_log: bool = Field(False, description="Write QuickFIX message logs.")

    def target_comp_ids(self) -> list[str]:
        return [t.strip() for t in self.lpsim_target_comp_ids.split(",") if t.strip()]
