"""LP simulator settings (``FXMESH_LPSIM_*``); runtime knobs can also be changed over HTTP."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from fixgw.lpsim.knobs import ORDER_STYLES, OrderStyle
from fxmesh.config import Settings, service_config


class LpsimSettings(Settings):
    """Where the simulator listens and how it behaves at start."""

    model_config = service_config("lpsim")

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
    lpsim_reset_on_logon: bool = Field(
        False,
        description="Reset sequence numbers on every logon; false: they persist across restarts.",
    )
    lpsim_price_offset_points: int = Field(
        0, description="Shift every symbol's starting mid by this many points (a second LP)."
    )
    lpsim_reject_text: str = Field("simulated reject", min_length=1, description="Reject Text.")
    lpsim_accepted_styles: list[OrderStyle] = Field(
        list(ORDER_STYLES),
        min_length=1,
        description='Order styles accepted, JSON, e.g. ["LIMIT_IOC","LIMIT_FOK"].',
    )
    lpsim_fill_ratio: Decimal = Field(
        Decimal(1), ge=0, le=1, description="Share of a MARKET/IOC order filled; rest expired."
    )
    lpsim_expire_exec_type: str = Field(
        "4", pattern="^[4C]$", description="ExecType of an expired remainder: 4 or C."
    )
    lpsim_slippage_points: int = Field(0, ge=0, description="Fill this many points worse.")
    lpsim_duplicate_exec_ids: bool = Field(False, description="Send every fill report twice.")
    lpsim_legacy_exec_type: bool = Field(False, description="ExecType 1/2 fills (FIX 4.2).")
    lpsim_symbol_map: dict[str, str] = Field(
        default_factory=dict, description='Our symbol -> LP name, JSON: {"EURUSD": "EUR/USD"}.'
    )
    lpsim_custom_tags: dict[int, str] = Field(
        default_factory=dict, description='Extra report tags (>= 5000), JSON: {"5001": "x"}.'
    )

    def target_comp_ids(self) -> list[str]:
        return [t.strip() for t in self.lpsim_target_comp_ids.split(",") if t.strip()]
