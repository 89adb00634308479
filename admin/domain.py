"""admin's own model (pure: no I/O, no protobuf): roles, principals, request context, audit
records; the accounts, ledger entries, LP sessions and exposure that oms, fixgw and router answer,
as admin holds them; system health and key figures."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """Admin roles, from most to least powerful (what each may do: ``admin.permissions``)."""

    SUPER_ADMIN = "SUPER_ADMIN"
    ADMIN = "ADMIN"
    RISK_MANAGER = "RISK_MANAGER"
    # Flow and execution: reads everything, connects / disconnects LP sessions, sets client
    # overrides, runs what-ifs; no money, no client terms, no settings, no admin users.
    DEALER = "DEALER"
    SUPPORT = "SUPPORT"


class Outcome(StrEnum):
    """What became of an audited call."""

    ALLOWED = "ALLOWED"
    DENIED = "DENIED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated admin behind a request."""

    username: str
    role: Role


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who calls, from where, under which request id: what every audit row records."""

    principal: Principal
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    """The caller's request id (``X-Request-Id`` / ``Idempotency-Key`` / a request field)."""

    def with_request_id(self, request_id: str) -> RequestContext:
        """This context with the operation's own request id (a body field wins over a header)."""
        if not request_id or request_id == self.request_id:
            return self
        return RequestContext(self.principal, self.source_ip, self.user_agent, request_id)


@dataclass(frozen=True, slots=True)
class AdminUser:
    """An admin user; its username is its id (``admin_user:<username>`` in the audit log)."""

    username: str
    password_hash: str
    role: Role
    disabled: bool
    created_at: datetime
    token_version: int = 1
    """Carried by the user's tokens; bumped on disable, role or password change (revokes them)."""
    updated_at: datetime | None = None
    password_changed_at: datetime | None = None

    def public(self) -> dict[str, Any]:
        """What an audit row keeps of the user (never the password hash)."""
        return {"username": self.username, "role": self.role.value, "disabled": self.disabled}


@dataclass(frozen=True, slots=True)
class TokenHolder:
    """What a request checks of the user behind a token: one primary-key read."""

    role: Role
    disabled: bool
    token_version: int


@dataclass(slots=True)
class AuditRecord:
    """One audit entry to append. before/after are JSON documents of str/int/bool/None/list/dict
    only (decimals as strings), so their canonical encoding is stable through jsonb."""

    actor: str
    action: str
    target: str = ""
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    trace_id: str | None = None
    role: str = ""
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    outcome: Outcome = Outcome.ALLOWED
    error_code: str = ""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One stored audit entry; before/after as JSON text ('' when absent)."""

    audit_id: int
    actor: str
    action: str
    target: str
    before_json: str
    after_json: str
    trace_id: str
    created_at: datetime
    role: str = ""
    source_ip: str = ""
    user_agent: str = ""
    request_id: str = ""
    outcome: str = "ALLOWED"
    error_code: str = ""
    prev_hash: str = ""
    row_hash: str = ""


# --- what oms, fixgw and router answer, as admin holds it ------------------------------------------
# Enumerations are their names without the proto prefix ("DEMO", "SUSPENDED", "LOGGED_ON"), None
# where the other service left them unspecified; decimals are Decimal, None where it left them
# empty. admin.convert reads them from, and writes them back to, the other services' messages
# without losing a field (admin's gRPC API answers those messages as they are).


@dataclass(frozen=True, slots=True)
class ClientAccount:
    """A client account's settings and balance, as oms's AccountInfo has them."""

    account_id: str
    login: str
    currency: str
    leverage: int
    type: str | None
    status: str | None
    margin_mode: str | None
    client_group: str
    balance: Decimal | None
    margin_call_level: Decimal | None
    stop_out_level: Decimal | None
    negative_balance_protection: bool
    max_open_positions: int
    """0: no limit."""
    max_daily_volume: Decimal | None
    """None: no limit."""
    created_at: datetime | None
    email: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class AccountSummary:
    """An account's live figures in its currency (oms's GetAccountSummary)."""

    account_id: str
    login: str
    currency: str
    leverage: int
    type: str | None
    status: str | None
    margin_mode: str | None
    balance: Decimal
    equity: Decimal
    margin: Decimal
    free_margin: Decimal
    margin_level: Decimal | None
    """Percent; None without margin in use."""
    unrealized_pnl: Decimal
    as_of: datetime | None
    held: Decimal | None = None
    """Funds held for withdrawals awaiting approval (already off free_margin)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A client position (oms's Position); the close fields are set once it is closed."""

    position_id: str
    account_id: str
    symbol: str
    side: str | None
    volume: Decimal
    open_price: Decimal
    current_price: Decimal | None
    profit: Decimal | None
    stop_loss: Decimal | None
    take_profit: Decimal | None
    opened_at: datetime | None
    commission: Decimal | None
    swap: Decimal | None
    trailing_distance_points: int
    trailing_step_points: int
    margin: Decimal | None
    close_price: Decimal | None
    closed_at: datetime | None
    close_reason: str | None
    realized_pnl: Decimal | None
    book: str | None
    venue: str
    venue_order_id: str


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One balance change in oms's ledger: balance_after = balance_before + amount."""

    ledger_id: str
    account_id: str
    type: str | None
    amount: Decimal
    balance_before: Decimal
    balance_after: Decimal
    currency: str
    deal_id: str
    reference: str
    note: str
    created_at: datetime | None
    method: str = ""
    """How the money moved (BANK_TRANSFER, ..., or an adjustment's type); '' for trading rows."""


@dataclass(frozen=True, slots=True)
class Booking:
    """A balance operation oms booked, and whether it answered a retry of the same request id."""

    entry: LedgerEntry
    replayed: bool


# --- withdrawals awaiting approval (four eyes) ----------------------------------------------------


class WithdrawalStatus(StrEnum):
    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """A withdrawal above the approval threshold, its funds held in oms (``hold_id``)."""

    withdrawal_id: str
    account_id: str
    amount: Decimal
    currency: str
    method: str
    reference: str
    note: str
    request_id: str
    requested_by: str
    status: WithdrawalStatus
    decided_by: str | None
    decided_at: datetime | None
    reason: str
    """The rejection's reason, or oms's error code of a FAILED approval."""
    hold_id: str
    ledger_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WithdrawalResult:
    """A withdrawal as a call left it: ``entry`` is its ledger row once approved; ``replayed``
    when the call repeated one that had done this already (same request id, same approver)."""

    withdrawal: Withdrawal
    entry: LedgerEntry | None
    replayed: bool


@dataclass(frozen=True, slots=True)
class FundsHold:
    """oms's funds hold as a PlaceFundsHold / CaptureFundsHold / ReleaseFundsHold answered it."""

    hold_id: str
    account_id: str
    amount: Decimal
    status: str | None  # ACTIVE, CAPTURED, RELEASED
    entry: LedgerEntry | None
    """The WITHDRAWAL ledger row a capture booked."""
    replayed: bool


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """A change oms is asked to make to one account (already checked); None keeps the value."""

    leverage: int | None = None
    status: str | None = None
    client_group: str | None = None
    margin_call_level: Decimal | None = None
    stop_out_level: Decimal | None = None
    negative_balance_protection: bool | None = None
    max_open_positions: int | None = None
    """0 removes the limit."""
    max_daily_volume: Decimal | None = None
    """0 removes the limit."""


@dataclass(frozen=True, slots=True)
class LpDefinition:
    """An LP as fixgw keeps it (fxmesh.v1.LpDefinition); the id is ``name``."""

    name: str
    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    symbols: tuple[str, ...] = ()
    symbol_map: Mapping[str, str] = field(default_factory=dict)
    order_style: str = ""
    qty_unit: str = ""
    limit_slippage: Decimal | None = None
    order_timeout: timedelta | None = None
    reset_on_logon: bool = False
    market_depth: int | None = None
    heartbeat_seconds: int = 0


@dataclass(frozen=True, slots=True)
class LpHealthFigures:
    """An LP's recent order outcomes (fixgw's rolling window) and whether it is degraded."""

    outcomes: int
    fills: int
    rejects: int
    timeouts: int
    reject_ratio: Decimal | None
    median_fill_latency: timedelta | None
    degraded: bool
    degraded_reason: str
    window: timedelta | None


@dataclass(frozen=True, slots=True)
class LpSession:
    """One LP's FIX session in fixgw (its name is the LP id)."""

    name: str
    session_id: str
    state: str | None
    logged_on: bool
    healthy: bool
    """Logged on and no order held for reconciliation: it takes new orders."""
    orders_unresolved: int
    subscribed_symbols: tuple[str, ...]
    ticks_received: int
    heartbeat_rtt: timedelta | None
    last_message_at: datetime | None
    last_quote_at: datetime | None
    last_order_at: datetime | None
    logon_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    reconnect_attempts: int
    messages_in: Mapping[str, int]
    """Messages received by FIX MsgType."""
    messages_out: Mapping[str, int]
    next_sender_seq_num: int
    next_target_seq_num: int
    definition: LpDefinition | None = None
    """How to reach the LP and trade with it (fixgw.lps)."""
    lp_enabled: bool = True
    """The LP's configured switch: False, disabled (no session, no orders)."""
    source: str = ""
    """SETTINGS (follows fixgw's settings) or ADMIN (created or changed here)."""
    lp_type: str = "FIX"
    health: LpHealthFigures | None = None
    fills_today: int = 0
    rejects_today: int = 0


@dataclass(frozen=True, slots=True)
class SymbolExposure:
    """The house's net position in one symbol (router's GetHouseExposure)."""

    symbol: str
    net_volume: Decimal
    """Signed lots: positive long, negative short."""
    notional_usd: Decimal
    avg_price: Decimal | None
    """None while the house is flat."""
    realized_pnl_usd: Decimal | None
    unrealized_pnl_usd: Decimal | None
    """None without a current quote."""
    client_net_volume: Decimal | None = None
    """Signed lots from client flow (None from a router that does not say)."""
    hedge_net_volume: Decimal | None = None
    """Signed lots the router's auto-hedges traded with LPs (net = client + hedge)."""


@dataclass(frozen=True, slots=True)
class TraderResult:
    """One account's net result over a period (oms's ListTopTraders)."""

    account_id: str
    login: str
    client_group: str
    currency: str
    net: Decimal
    """Realized P&L + commission + swap, in the account currency."""
    net_usd: Decimal | None
    deals: int
    lots: Decimal


@dataclass(frozen=True, slots=True)
class TopTraders:
    since: datetime | None
    winners: tuple[TraderResult, ...]
    losers: tuple[TraderResult, ...]


@dataclass(frozen=True, slots=True)
class MarginWatchEntry:
    """An account at or near its margin-call level (oms's ListMarginWatch)."""

    account_id: str
    login: str
    client_group: str
    currency: str
    balance: Decimal
    equity: Decimal
    margin: Decimal
    margin_level: Decimal | None
    margin_call_level: Decimal
    stop_out_level: Decimal
    open_positions: int


@dataclass(frozen=True, slots=True)
class LpFeed:
    """One LP's price feed of one symbol (quotes' LP statistics)."""

    lp: str
    symbol: str
    ticks_last_minute: int
    ticks_total: int
    dropped_by_reason: dict[str, int]
    dropped_total: int
    latency_p50_ms: int | None
    latency_p99_ms: int | None
    last_tick_at: datetime | None
    streaming_since: datetime | None
    """None while the LP is silent."""


@dataclass(frozen=True, slots=True)
class TradingSummary:
    """The broker's activity since ``since`` (oms's GetTradingSummary)."""

    since: datetime | None
    orders_placed: int
    orders_filled: int
    orders_rejected: int
    deals: int
    lots_traded: Decimal
    active_accounts: int
    open_positions: int
    working_orders: int
    by_book: tuple[BookActivity, ...] = ()


@dataclass(frozen=True, slots=True)
class BookActivity:
    """One book's (A, B, C) share of a period's deals."""

    book: str | None
    deals: int
    lots: Decimal
    client_net: Decimal


@dataclass(frozen=True, slots=True)
class RoutingLeg:
    """What one venue filled of an order."""

    book: str | None
    venue: str
    volume: Decimal
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class OrderRouting:
    """Why an order went where it went (router's Explain; docs/routing.md)."""

    order_id: str
    account_id: str
    symbol: str
    side: str | None
    volume: Decimal
    book: str | None
    routing_reason: str
    level: str
    """The precedence level that decided (RULE, ACCOUNT_OVERRIDE, EXPOSURE_LIMIT, ...)."""
    rule_id: int
    config_version: int
    a_volume: Decimal | None
    b_volume: Decimal | None
    hedge_ratio: Decimal | None
    status: str | None
    reject_reason: str
    decided_at: datetime | None
    legs: tuple[RoutingLeg, ...]
    inputs: tuple[tuple[str, str], ...]
    """Every input the rule engine saw, by name; an empty value: not known."""
    steps: tuple[tuple[str, str, str], ...]
    """(level, outcome, detail) of each precedence level, in the order evaluated."""


# --- system health and key figures ---------------------------------------------------------------


class Status(StrEnum):
    UP = "UP"
    DEGRADED = "DEGRADED"
    DOWN = "DOWN"


class Kind(StrEnum):
    SERVICE = "SERVICE"
    DEPENDENCY = "DEPENDENCY"


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    name: str
    kind: Kind
    status: Status
    critical: bool
    latency: timedelta | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class LpHealth:
    session: LpSession
    status: Status


@dataclass(frozen=True, slots=True)
class SystemHealth:
    status: Status
    checked_at: datetime
    components: list[ComponentHealth]
    lp_sessions: list[LpHealth]
    lp_error: str = ""
    """Why the LP sessions could not be listed ('' when they were)."""


@dataclass(frozen=True, slots=True)
class ExposureSummary:
    symbols: int
    gross_notional_usd: Decimal
    unrealized_pnl_usd: Decimal
    realized_pnl_usd: Decimal


@dataclass(frozen=True, slots=True)
class LpSummary:
    total: int
    logged_on: int
    healthy: int
    orders_unresolved: int
    ticks_received: int


@dataclass(frozen=True, slots=True)
class AccountsSummary:
    counted: int
    by_status: dict[str, int]
    truncated: bool
    """oms answered its listing limit: there may be more accounts than counted."""


@dataclass(frozen=True, slots=True)
class SystemMetrics:
    collected_at: datetime
    exposure: ExposureSummary | None
    lps: LpSummary | None
    accounts: AccountsSummary | None
    locked_logins: int
    unavailable: list[str] = field(default_factory=list)
