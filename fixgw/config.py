"""fixgw settings (``FXMESH_FIXGW_*``): the LP sessions and what to subscribe."""

from __future__ import annotations

from pydantic import BaseModel, Field

from fxmesh.config import Settings

DEFAULT_SYMBOLS = "EURUSD,GBPUSD,USDJPY,XAUUSD,BTCUSD,ETHUSD"


class LpConfig(BaseModel):
    """One liquidity provider reached through a QuickFIX initiator session."""

    model_config = {"frozen": True}

    name: str = Field(description="Our name for the LP: the tick source and the metric label.")
    host: str
    port: int = Field(ge=1, le=65535)
    sender_comp_id: str = "FXMESH"
    target_comp_id: str
    symbols: list[str] | None = Field(
        None, description="Symbols to subscribe on this LP (default: FXMESH_FIXGW_SYMBOLS)."
    )


class FixgwSettings(Settings):
    """The gateway process."""

    metrics_port: int = Field(9103, ge=0, le=65535)
    run_dir: str = Field(".run", description="Root of QuickFIX stores and logs (run_dir/fixgw).")
    fixgw_lp_name: str = Field("LPSIM", description="Name of the default LP.")
    fixgw_lp_host: str = Field("127.0.0.1")
    fixgw_lp_port: int = Field(9876, ge=1, le=65535)
    fixgw_sender_comp_id: str = Field("FXMESH")
    fixgw_target_comp_id: str = Field("LPSIM")
    fixgw_lps: list[LpConfig] = Field(
        default_factory=list,
        description="JSON list of LPs; when set it replaces the single default LP above.",
    )
    fixgw_symbols: str = Field(DEFAULT_SYMBOLS, description="Comma-separated symbols to subscribe.")
    fixgw_heartbeat_seconds: int = Field(30, ge=1)
    fixgw_reconnect_seconds: int = Field(1, ge=1)
    fixgw_fix_message_log: bool = Field(False, description="Write QuickFIX message logs.")
    fixgw_forward_backoff_max_seconds: float = Field(5.0, gt=0)

    def symbols(self) -> list[str]:
        return [s.strip() for s in self.fixgw_symbols.split(",") if s.strip()]

    def lps(self) -> list[LpConfig]:
        """The configured LPs (one by default)."""
        if self.fixgw_lps:
            return list(self.fixgw_lps)
        return [
            LpConfig(
                name=self.fixgw_lp_name,
                host=self.fixgw_lp_host,
                port=self.fixgw_lp_port,
                sender_comp_id=self.fixgw_sender_comp_id,
                target_comp_id=self.fixgw_target_comp_id,
            )
        ]
