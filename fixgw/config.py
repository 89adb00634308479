"""fixgw settings (``FXMESH_FIXGW_*``): the LP sessions, their dialects, and what to subscribe."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, model_validator

from fixgw.engine import FIX44_XML, SessionOptions
from fxmesh.config import Settings, service_config

DEFAULT_SYMBOLS = "EURUSD,GBPUSD,USDJPY,XAUUSD,BTCUSD,ETHUSD"


class OrderStyle(StrEnum):
    """How orders are sent to an LP (many LPs accept only limit orders)."""

    MARKET = "MARKET"
    LIMIT_IOC = "LIMIT_IOC"
    LIMIT_FOK = "LIMIT_FOK"


class QtyUnit(StrEnum):
    """What an LP's OrderQty (38) counts: units of the base (lots x contract size) or lots."""

    UNITS = "UNITS"
    LOTS = "LOTS"


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
    order_style: OrderStyle = OrderStyle.MARKET
    limit_slippage: Decimal = Field(
        Decimal("0.0005"),
        ge=0,
        lt=1,
        description="LIMIT styles without a worst price: limit = LP price x (1 +/- this).",
    )
    qty_unit: QtyUnit = QtyUnit.UNITS
    symbol_map: dict[str, str] = Field(
        default_factory=dict,
        description="Broker symbol -> LP symbol (e.g. EURUSD -> EUR/USD), for orders and prices.",
    )
    data_dictionary: str | None = Field(
        None, description="Path of the LP's QuickFIX data dictionary (default: bundled FIX44.xml)."
    )
    validate_user_defined_fields: bool = False
    allow_unknown_msg_fields: bool = True
    validate_fields_out_of_order: bool = True
    validate_fields_have_values: bool = True
    reset_on_logon: bool = Field(
        False,
        description="Reset sequence numbers on every logon; False persists them across restarts.",
    )
    order_timeout_seconds: float = Field(
        2.0, gt=0, description="No final ExecutionReport within this: the order is queried."
    )
    heartbeat_seconds: int | None = Field(
        None,
        ge=1,
        description="HeartBtInt of this session (default: FXMESH_FIXGW_HEARTBEAT_SECONDS).",
    )
    market_depth: int = Field(
        1,
        ge=0,
        description="MarketDepth asked of the LP: 1 top of book (incremental refreshes); N levels, "
        "or 0 the full book, as full refreshes carrying each level's size (the B-book prices "
        "large orders across them, when the LP counts units: qty_unit UNITS; the A-book tries an "
        "LP showing less than an order after the others).",
    )

    @model_validator(mode="after")
    def _symbol_map_one_to_one(self) -> LpConfig:
        if len(set(self.symbol_map.values())) != len(self.symbol_map):
            raise ValueError(f"LP {self.name}: symbol_map maps two broker symbols to one LP symbol")
        return self

    def lp_symbol(self, symbol: str) -> str:
        """The LP's name for a broker symbol (itself when not mapped)."""
        return self.symbol_map.get(symbol, symbol)

    def broker_symbols(self) -> dict[str, str]:
        """LP symbol -> broker symbol (the map read backwards)."""
        return {lp: broker for broker, lp in self.symbol_map.items()}

    def session_options(self) -> SessionOptions:
        """This LP's QuickFIX session settings: persistence, data dictionary and validation."""
        return SessionOptions(
            reset_on_logon=self.reset_on_logon,
            data_dictionary=Path(self.data_dictionary) if self.data_dictionary else FIX44_XML,
            validate_user_defined_fields=self.validate_user_defined_fields,
            allow_unknown_msg_fields=self.allow_unknown_msg_fields,
            validate_fields_out_of_order=self.validate_fields_out_of_order,
            validate_fields_have_values=self.validate_fields_have_values,
            heartbeat_seconds=self.heartbeat_seconds,
        )


class FixgwSettings(Settings):
    """The gateway process."""

    model_config = service_config("fixgw")

    metrics_port: int = Field(9103, ge=0, le=65535)
    fixgw_lp_name: str = Field("LPSIM", description="Name of the default LP.")
    fixgw_lp_host: str = Field("127.0.0.1", description="Host of the default LP's FIX acceptor.")
    fixgw_lp_port: int = Field(
        9876, ge=1, le=65535, description="Port of the default LP's FIX acceptor."
    )
    fixgw_sender_comp_id: str = Field("FXMESH", description="Our SenderCompID at the default LP.")
    fixgw_target_comp_id: str = Field(
        "LPSIM", description="The default LP's CompID (TargetCompID)."
    )
    fixgw_lp_reset_on_logon: bool = Field(
        False, description="The default LP resets sequence numbers on every logon."
    )
    fixgw_lps: list[LpConfig] = Field(
        default_factory=list,
        description="JSON list of LPs; when set it replaces the single default LP above.",
    )
    fixgw_symbol_lps: dict[str, list[str]] = Field(
        default_factory=dict,
        description='Per symbol, the LPs to try in order (JSON, e.g. {"EURUSD": ["LP1", "LP2"]}); '
        "a symbol not listed goes to every LP in configured order.",
    )
    fixgw_symbols: str = Field(DEFAULT_SYMBOLS, description="Comma-separated symbols to subscribe.")
    fixgw_heartbeat_seconds: int = Field(
        30, ge=1, description="HeartBtInt of every LP session that does not set its own."
    )
    fixgw_reconnect_seconds: int = Field(
        1, ge=1, description="First reconnect delay (and QuickFIX's ReconnectInterval)."
    )
    fixgw_reconnect_max_seconds: float = Field(
        30.0, gt=0, description="Reconnect delays double up to this."
    )
    fixgw_stable_logon_seconds: float = Field(
        10.0, gt=0, description="A logon that lasts this long resets the reconnect backoff."
    )
    fixgw_test_request_seconds: float = Field(
        10.0, gt=0, description="Interval of the TestRequest that measures the heartbeat RTT."
    )
    fixgw_fix_message_log: bool = Field(False, description="Write QuickFIX message logs.")
    fixgw_forward_backoff_max_seconds: float = Field(
        5.0, gt=0, description="Reconnect delays of the tick stream to quotes double up to this."
    )
    fixgw_cl_ord_id_prefix: str = Field(
        "FXM",
        pattern=r"^[A-Za-z][A-Za-z0-9]{0,7}$",
        description="ClOrdID prefix: ClOrdID = <prefix><order_id>-<attempt_no>.",
    )
    fixgw_reconcile_seconds: float = Field(
        5.0, gt=0, description="Orders held for reconciliation are queried this often."
    )
    fixgw_stop_grace_seconds: float = Field(
        2.0,
        ge=0,
        description="Stopping an LP's session (shutdown, LP changed, disabled or deleted) waits "
        "this long for its Logout to be answered, then forces the session down.",
    )
    fixgw_health_window_seconds: float = Field(
        60.0, gt=0, description="LP health: order outcomes within this window count."
    )
    fixgw_health_min_outcomes: int = Field(
        10, ge=1, description="LP health: fewer outcomes (or fills) than this never degrade an LP."
    )
    fixgw_health_reject_ratio: Decimal = Field(
        Decimal("0.8"),
        gt=0,
        le=1,
        description="LP health: this share of rejects + timeouts in the window degrades an LP "
        "(it is tried after the others).",
    )
    fixgw_health_latency_seconds: float = Field(
        2.0, gt=0, description="LP health: a median fill latency above this degrades an LP."
    )

    @model_validator(mode="after")
    def _symbol_lps_known(self) -> FixgwSettings:
        names = {lp.name for lp in self.lps()}
        if len(names) != len(self.lps()):
            raise ValueError("FXMESH_FIXGW_LPS: LP names must be unique")
        for symbol, lps in self.fixgw_symbol_lps.items():
            unknown = sorted(set(lps) - names)
            if unknown:
                raise ValueError(f"FXMESH_FIXGW_SYMBOL_LPS[{symbol}]: unknown LPs {unknown}")
        return self

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
                reset_on_logon=self.fixgw_lp_reset_on_logon,
            )
        ]
