"""The gateway: LP sessions over QuickFIX, their market data as raw ticks, forwarded to quotes.

It is also the seam for A-book orders: the orders package registers an ``OrderFlow`` and sends its
messages with ``Gateway.send``; sessions, symbol mapping, prices and health live here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import quickfix as fix
import structlog
from prometheus_client import Counter, Gauge

from fixgw import engine
from fixgw.application import OWN_LOGOUT_PREFIX, GatewayApplication
from fixgw.config import LpConfig, QtyUnit
from fixgw.domain import (
    BusinessReject,
    CancelReject,
    ExecutionReport,
    MarketDataUpdate,
    RawTick,
    SessionReject,
    TopOfBook,
    count_reasons,
)
from fixgw.fixmsg import make_test_request, market_data_request, send
from fixgw.lphealth import HealthFigures, LpHealth
from fxmesh.background import BackgroundLoop
from fxmesh.errors import AlreadyExists, FailedPrecondition, NotFound
from fxmesh.reasons import Reason

log = structlog.stdlib.get_logger(__name__)

TICKS_RECEIVED = Counter(
    "fxmesh_fixgw_ticks_received_total", "Two-sided LP prices received over FIX.", ["lp"]
)
ENTRIES_SKIPPED = Counter(
    "fxmesh_fixgw_md_entries_skipped_total",
    "Market-data entries not used, by reason (malformed price, unknown entry type...).",
    ["lp", "reason"],
)
LOGGED_ON = Gauge("fxmesh_fixgw_session_logged_on", "1 while the LP session is logged on.", ["lp"])
MD_REJECTS = Counter(
    "fxmesh_fixgw_md_requests_rejected_total", "MarketDataRequests rejected by the LP.", ["lp"]
)
EXEC_REPORTS = Counter(
    "fxmesh_fixgw_execution_reports_total", "ExecutionReports received.", ["lp", "exec_type"]
)
SESSION_STATE = Gauge(
    "fxmesh_fixgw_session_state",
    "LP session state: 1 DISCONNECTED, 2 CONNECTING, 3 LOGGED_ON, 4 FAILED.",
    ["lp"],
)
CONNECT_FAILURES = Counter(
    "fxmesh_fixgw_session_connect_failures_total",
    "Connection attempts that did not end in a logon (each followed by a backoff).",
    ["lp"],
)
HEARTBEAT_RTT = Gauge(
    "fxmesh_fixgw_heartbeat_rtt_seconds",
    "Round trip of the last TestRequest -> Heartbeat on the LP session.",
    ["lp"],
)
REJECTS = Counter(
    "fxmesh_fixgw_rejects_received_total",
    "Session Rejects (3), BusinessMessageRejects (j) and OrderCancelRejects (9) from LPs.",
    ["lp", "msg_type"],
)

FAILED_AFTER_ATTEMPTS = 3  # consecutive failed connection attempts before the state is FAILED
CONNECT_MARGIN_SECONDS = 1.5  # beyond ReconnectInterval, for QuickFIX's 1 s timer granularity
MONITOR_INTERVAL_SECONDS = 0.1
MAX_PENDING_TEST_REQUESTS = 16


class SessionStatus(StrEnum):
    """Where an LP session stands (fxmesh.v1.SessionState)."""

    DISCONNECTED = "DISCONNECTED"
    CONNECTING = "CONNECTING"
    LOGGED_ON = "LOGGED_ON"
    FAILED = "FAILED"


_STATE_VALUE = {
    SessionStatus.DISCONNECTED: 1,
    SessionStatus.CONNECTING: 2,
    SessionStatus.LOGGED_ON: 3,
    SessionStatus.FAILED: 4,
}


class OrderFlow(Protocol):
    """The A-book order flow (fixgw.orders implements it); every call is on the event loop."""

    def on_logon(self, lp: str) -> None: ...  # after the session logged on (resends follow)
    def on_logout(self, lp: str) -> None: ...
    def on_execution_report(self, report: ExecutionReport) -> None: ...  # 35=8
    def on_cancel_reject(self, reject: CancelReject) -> None: ...  # 35=9
    def on_business_reject(self, reject: BusinessReject) -> None: ...  # 35=j
    def on_session_reject(self, reject: SessionReject) -> None: ...  # 35=3
    def on_order_sent(self, lp: str, cl_ord_id: str, seq_num: int) -> None: ...  # 35=D left
    def unresolved(self, lp: str) -> int: ...  # orders of this LP whose fate is unknown
    def reconciling(self, lp: str) -> bool: ...  # True: no new flow to this LP yet


class LpSource(StrEnum):
    """Where an LP's configuration comes from (fixgw.lps.source)."""

    SETTINGS = "SETTINGS"  # FXMESH_FIXGW_LPS (or the default LP); follows the settings
    ADMIN = "ADMIN"  # created or changed through the RPCs; wins over the settings


class UnknownLp(NotFound):
    """An LP name that is not configured."""

    default_reason = Reason.LP_NOT_FOUND

    def __init__(self, lp: str) -> None:
        super().__init__(f"unknown LP {lp!r}", metadata={"lp": lp})


@dataclass(slots=True)
class LpSessionState:
    """One LP session: configuration, connection state machine and what ListSessions reports."""

    config: LpConfig
    spec: engine.SessionSpec
    symbols: list[str]  # broker symbols to subscribe
    logged_on: bool = False
    subscribed: dict[str, str] = field(default_factory=dict)  # broker symbol -> MDReqID
    last_message_time: datetime | None = None
    ticks_received: int = 0
    book: TopOfBook = field(init=False)
    # -- state machine (owned by the monitor and the RPCs, all on the loop)
    status: SessionStatus = SessionStatus.DISCONNECTED
    enabled: bool = True  # wanted up (Connect) or down (Disconnect)
    relogon_pending: bool = False  # Reconnect: log on again once the logout is through
    attempt_started: float | None = None  # monotonic start of the current connection attempt
    next_attempt_at: float = 0.0  # monotonic time the next attempt may start
    reconnect_attempts: int = 0  # consecutive failed attempts since the last stable logon
    logon_refused: bool = False
    last_error: str = ""
    last_error_time: datetime | None = None
    logon_time: datetime | None = None
    logon_monotonic: float | None = None
    # -- heartbeat round trip
    heartbeat_rtt: float | None = None
    test_requests: dict[str, float] = field(default_factory=dict)  # TestReqID -> sent monotonic
    last_test_request: float | None = None
    last_order_time: datetime | None = None
    last_quote_time: datetime | None = None
    # -- administration: one QuickFIX initiator per LP, so an LP changes alone
    lp_enabled: bool = True  # the LP's configured switch (fixgw.lps.enabled): False, no session
    source: LpSource = LpSource.SETTINGS
    fix_engine: engine.FixEngine | None = None
    app: GatewayApplication | None = None
    stopping: bool = False  # its engine is being stopped: the logout is ours, not a drop

    def __post_init__(self) -> None:
        # Depth sizes go to quotes in base units only (TopOfBook): not from an LP counting lots.
        self.book = TopOfBook(self.config.name, forward_depth=self.config.qty_unit is QtyUnit.UNITS)

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def session_id(self) -> str:
        return engine.session_key(self.spec.session_id())


@dataclass(frozen=True, slots=True)
class SessionView:
    """A consistent read of one LP session for the RPCs (fxmesh.v1.LpSession)."""

    name: str
    session_id: str
    logged_on: bool
    subscribed_symbols: list[str]
    last_message_time: datetime | None
    ticks_received: int
    state: SessionStatus
    last_error: str
    last_error_time: datetime | None
    reconnect_attempts: int
    heartbeat_rtt: float | None
    messages_in: dict[str, int]
    messages_out: dict[str, int]
    last_order_time: datetime | None
    last_quote_time: datetime | None
    healthy: bool
    orders_unresolved: int
    logon_time: datetime | None
    next_sender_seq_num: int
    next_target_seq_num: int
    config: LpConfig
    lp_enabled: bool
    source: LpSource
    health: HealthFigures


class _ScopedEvents:
    """The events of one LP's engine, forwarded while that LP's state is still the gateway's
    (a replaced or deleted LP's late callbacks are dropped)."""

    def __init__(self, gateway: Gateway, state: LpSessionState) -> None:
        self._gateway = gateway
        self._state = state

    def __getattr__(self, name: str) -> Callable[..., None]:
        target = getattr(self._gateway, name)
        gateway, state = self._gateway, self._state

        def call(*args: Any) -> None:
            if gateway.lps.get(state.name) is state:
                target(*args)

        return call


class Gateway:
    """Runs one QuickFIX initiator per LP (adding, changing or removing an LP touches no other
    session), turns market data into ticks, and carries A-book order messages for the order flow.

    Reconnects with exponential backoff (``_supervise``): QuickFIX's initiator re-connects an
    *enabled* session every ReconnectInterval, a fixed period. The monitor gates it with
    ``Session.logon()`` (enable) / ``Session.logout()`` (disable): one attempt is a window of
    ReconnectInterval + 1.5 s (extended by QuickFIX's LogonTimeout once a Logon went out) during
    which the session is enabled. An attempt that ends without a logon disables the session and
    the next one starts ``reconnect_seconds x 2^(failed attempts - 1)`` later, capped at
    ``reconnect_max_seconds``. A logon that lasts ``stable_logon_seconds`` resets the count, so
    the first reconnect after a long-lived session is immediate (QuickFIX's own interval). It
    covers connection refused, logon unanswered, logon refused (the Logout's text becomes
    ``last_error``, the state FAILED at once) and sessions that drop right after logon; it does not
    throttle a session that stays logged on. After ``FAILED_AFTER_ATTEMPTS`` failures in a row the
    state is FAILED (still retried). Disconnect keeps a session down until Connect or Reconnect.
    """

    def __init__(
        self,
        lps: list[LpConfig],
        default_symbols: list[str],
        run_dir: Path,
        on_tick: Callable[[RawTick], None],
        heartbeat_seconds: int = 30,
        reconnect_seconds: int = 1,
        message_log: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_execution_report: Callable[[ExecutionReport], None] | None = None,
        *,
        symbol_lps: dict[str, list[str]] | None = None,
        reconnect_max_seconds: float = 30.0,
        stable_logon_seconds: float = 10.0,
        test_request_seconds: float = 10.0,
        stop_grace_seconds: float = engine.DEFAULT_STOP_GRACE_SECONDS,
        health: LpHealth | None = None,
    ) -> None:
        self._on_tick = on_tick
        self._default_symbols = list(default_symbols)
        self._stop_grace = stop_grace_seconds
        self.health = health or LpHealth()
        self._running = False
        self._on_execution_report = on_execution_report
        self._clock = clock
        self._run_dir = run_dir
        self._heartbeat = heartbeat_seconds
        self._reconnect = reconnect_seconds
        self._reconnect_max = reconnect_max_seconds
        self._stable = stable_logon_seconds
        self._test_request_interval = test_request_seconds
        self._message_log = message_log
        self.lps: dict[str, LpSessionState] = {}
        for lp in lps:
            self.lps[lp.name] = self._new_state(lp, LpSource.SETTINGS, True)
        self._symbol_lps = {s: list(names) for s, names in (symbol_lps or {}).items()}
        for symbol, names in self._symbol_lps.items():
            unknown = [n for n in names if n not in self.lps]
            if unknown:
                raise ValueError(f"symbol {symbol}: unknown LPs {unknown}")
        self._req_ids = itertools.count(1)
        self._test_req_ids = itertools.count(1)
        # TICKS_RECEIVED's child per LP: ``labels()`` takes a lock and builds a key on every call.
        self._received: dict[str, Any] = {}
        self._monitor = BackgroundLoop("fixgw-session-monitor", self._run_monitor)
        self._flow: OrderFlow | None = None

    async def start(self) -> None:
        """Start an initiator per enabled LP; the monitor keeps each session up (with backoff)
        until stopped."""
        self._running = True
        await asyncio.gather(*(self._start_engine(s) for s in self.lps.values()))
        self._monitor.start()
        log.info("fixgw_initiators_started", lps=[s.session_id for s in self.lps.values()])

    async def stop(self) -> None:
        """Stop the monitor and every initiator at once, each within the stop grace."""
        self._running = False
        await self._monitor.stop()
        await asyncio.gather(*(self._stop_engine(s) for s in self.lps.values()))

    def _new_state(self, config: LpConfig, source: LpSource, enabled: bool) -> LpSessionState:
        spec = engine.SessionSpec(config.sender_comp_id, config.target_comp_id)
        state = LpSessionState(config, spec, list(config.symbols or self._default_symbols))
        state.source = source
        state.lp_enabled = enabled
        LOGGED_ON.labels(config.name).set(0)
        SESSION_STATE.labels(config.name).set(_STATE_VALUE[SessionStatus.DISCONNECTED])
        return state

    async def _start_engine(self, state: LpSessionState) -> None:
        """Start this LP's own initiator (nothing for a disabled LP)."""
        if not state.lp_enabled or state.fix_engine is not None:
            return
        config = state.config
        settings = engine.initiator_settings(
            self._run_dir,
            [(state.spec, config.host, config.port)],
            self._heartbeat,
            self._reconnect,
            self._message_log,
            options={state.spec: config.session_options()},
        )
        events: Any = _ScopedEvents(self, state)
        state.app = GatewayApplication(
            events,
            asyncio.get_running_loop(),
            {state.session_id: state.name},
            {state.name: config.broker_symbols()},
        )
        fix_engine = engine.FixEngine("initiator", state.app, settings, self._message_log)
        if state.enabled:
            state.attempt_started = time.monotonic()
            self._set_status(state, SessionStatus.CONNECTING)
        state.fix_engine = fix_engine
        try:
            await fix_engine.start()
        except BaseException:
            state.fix_engine = None
            await fix_engine.stop(0)
            self._set_status(state, SessionStatus.DISCONNECTED)
            raise
        if not state.enabled:
            self._session_call(state, "logout", OWN_LOGOUT_PREFIX + "disconnected on request")

    async def _stop_engine(self, state: LpSessionState) -> None:
        """Stop this LP's initiator within the stop grace; its session is down afterwards."""
        fix_engine = state.fix_engine
        if fix_engine is not None:
            state.stopping = True
            try:
                await fix_engine.stop(self._stop_grace)
            finally:
                state.fix_engine = None
                state.stopping = False
        was = state.logged_on
        state.logged_on = False
        state.subscribed.clear()
        state.book.clear()
        state.test_requests.clear()
        state.relogon_pending = False
        state.attempt_started = None
        LOGGED_ON.labels(state.name).set(0)
        self._set_status(state, SessionStatus.DISCONNECTED)
        if was:
            self._notify("on_logout", state.name)

    # -- LP administration (fixgw.lps calls these, one change at a time) ---------------------

    def configure(self, lps: list[tuple[LpConfig, LpSource, bool]]) -> None:
        """Replace the LPs before ``start`` (the stored list: configuration, source, enabled)."""
        if self._running:
            raise RuntimeError("configure() before start()")
        self.lps = {c.name: self._new_state(c, source, on) for c, source, on in lps}

    def check_session_free(self, config: LpConfig, replacing: str | None = None) -> None:
        """FAILED_PRECONDITION LP_SESSION_IN_USE when another LP has this FIX session."""
        spec = engine.SessionSpec(config.sender_comp_id, config.target_comp_id)
        for name, state in self.lps.items():
            if name != replacing and state.spec == spec:
                raise FailedPrecondition(
                    f"LP {name} already uses the FIX session "
                    f"{config.sender_comp_id}->{config.target_comp_id}",
                    reason=Reason.LP_SESSION_IN_USE,
                    metadata={"lp": name, "sessionId": engine.session_key(spec.session_id())},
                )

    def check_new(self, config: LpConfig) -> None:
        """ALREADY_EXISTS LP_EXISTS for a known name, then LP_SESSION_IN_USE (as add_lp)."""
        if config.name in self.lps:
            raise AlreadyExists(
                f"LP {config.name} exists", reason=Reason.LP_EXISTS, metadata={"lp": config.name}
            )
        self.check_session_free(config)

    def check_no_orders(self, lp: str) -> None:
        """FAILED_PRECONDITION LP_SESSION_IN_USE while orders sent to the LP are unresolved."""
        unresolved = self._flow.unresolved(lp) if self._flow is not None else 0
        if unresolved:
            raise FailedPrecondition(
                f"LP {lp} has {unresolved} order(s) whose fate is not known yet",
                reason=Reason.LP_SESSION_IN_USE,
                metadata={"lp": lp, "ordersUnresolved": str(unresolved)},
            )

    async def add_lp(self, config: LpConfig, source: LpSource, enabled: bool = True) -> None:
        """Add an LP and start its session (ALREADY_EXISTS LP_EXISTS for a known name)."""
        self.check_new(config)
        state = self._new_state(config, source, enabled)
        self.lps[config.name] = state
        self.health.forget(config.name)
        if self._running:
            try:
                await self._start_engine(state)
            except BaseException:
                self.lps.pop(config.name, None)
                raise
        log.info("lp_added", lp=config.name, source=source.value, enabled=enabled)

    async def replace_lp(self, config: LpConfig, source: LpSource) -> None:
        """Change an LP: its session is stopped and started again with the new configuration
        (other LPs' sessions are not touched); ``enabled`` and Connect/Disconnect stay."""
        old = self.state(config.name)
        self.check_session_free(config, replacing=config.name)
        self.check_no_orders(config.name)
        await self._stop_engine(old)
        state = self._new_state(config, source, old.lp_enabled)
        state.enabled = old.enabled
        self.lps[config.name] = state
        if self._running:
            await self._start_engine(state)
        log.info("lp_replaced", lp=config.name, source=source.value)

    async def remove_lp(self, lp: str) -> None:
        """Stop the LP's session and forget the LP."""
        state = self.state(lp)
        self.check_no_orders(lp)
        await self._stop_engine(state)
        del self.lps[lp]
        self.health.forget(lp)
        for metric in (LOGGED_ON, SESSION_STATE, HEARTBEAT_RTT):
            with contextlib.suppress(KeyError):
                metric.remove(lp)
        log.info("lp_removed", lp=lp)

    async def set_lp_enabled(self, lp: str, enabled: bool, source: LpSource) -> None:
        """Enable (start its session) or disable (stop it; no orders, no prices) an LP."""
        state = self.state(lp)
        state.source = source
        if state.lp_enabled == enabled:
            return
        state.lp_enabled = enabled
        if enabled:
            state.enabled = True
            state.reconnect_attempts = 0
            state.next_attempt_at = 0.0
            if self._running:
                await self._start_engine(state)
        else:
            await self._stop_engine(state)
        log.info("lp_enabled" if enabled else "lp_disabled", lp=lp)

    # -- the seam for the order flow (all on the loop) ---------------------------------------

    def set_order_flow(self, flow: OrderFlow | None) -> None:
        """Route order events (reports, rejects, logons) to ``flow``."""
        self._flow = flow

    def state(self, lp: str) -> LpSessionState:
        """The LP's session state; UnknownLp (NOT_FOUND) for a name not configured."""
        state = self.lps.get(lp)
        if state is None:
            raise UnknownLp(lp)
        return state

    def config(self, lp: str) -> LpConfig:
        return self.state(lp).config

    def lp_symbol(self, lp: str, symbol: str) -> str:
        """The LP's name for a broker symbol."""
        return self.state(lp).config.lp_symbol(symbol)

    def logged_on(self, lp: str) -> bool:
        return self.state(lp).logged_on

    def healthy(self, lp: str) -> bool:
        """Logged on, not being logged out on request, and not reconciling: the LP may take new
        orders. A Disconnect or Reconnect takes the LP out of the flow at once, before its
        Logout is answered."""
        state = self.state(lp)
        if not state.lp_enabled or not state.logged_on or not state.enabled:
            return False
        if state.relogon_pending:
            return False
        return self._flow is None or not self._flow.reconciling(lp)

    def top_of_book(self, lp: str, symbol: str) -> tuple[Decimal, Decimal] | None:
        """The LP's current (bid, ask) for a broker symbol; None without both sides."""
        state = self.state(lp)
        if not state.logged_on:
            return None
        bid = state.book.bids.get(symbol)
        ask = state.book.asks.get(symbol)
        if bid is None or ask is None:
            return None
        return bid, ask

    def shown_size(self, lp: str, symbol: str, buying: bool) -> Decimal | None:
        """What the LP's depth shows on the side an order takes (the asks for a buy), in the LP's
        size units; None without depth (top of book only) or while logged off."""
        state = self.state(lp)
        if not state.logged_on:
            return None
        levels = (state.book.ask_depth if buying else state.book.bid_depth).get(symbol)
        return sum((size for _, size in levels), Decimal(0)) if levels else None

    def lps_for(self, symbol: str) -> list[str]:
        """The symbol's LP priority list (FXMESH_FIXGW_SYMBOL_LPS; default every LP in order)."""
        names = self._symbol_lps.get(symbol)
        if names is None:
            return list(self.lps)
        return [n for n in names if n in self.lps]  # a deleted LP is skipped

    def send(self, lp: str, message: fix.Message) -> bool:
        """Send an application message to the LP; False when not logged on or QuickFIX refused."""
        state = self.state(lp)
        if not state.logged_on:
            return False
        return send(message, state.spec.session_id())

    # -- session control (RPCs) ---------------------------------------------------------------

    def connect(self, lp: str) -> LpSessionState:
        """Enable the session: it logs on now, and after drops with backoff."""
        state = self._switchable(lp)
        was_enabled = state.enabled
        state.enabled = True
        state.reconnect_attempts = 0
        state.next_attempt_at = 0.0
        if state.logged_on and not was_enabled:
            # A Disconnect's Logout is still on its way: log on again once it is through. Until
            # then the LP takes no order (``healthy``), so none is sent on a session about to drop.
            state.relogon_pending = True
            state.attempt_started = None
            self._set_status(state, SessionStatus.CONNECTING)
        elif not state.logged_on:
            state.relogon_pending = False
            self._start_attempt(state, time.monotonic())
            self._set_status(state, SessionStatus.CONNECTING)
        log.info("lp_connect_requested", lp=lp)
        return state

    def disconnect(self, lp: str) -> LpSessionState:
        """Log the session out and keep it down until connect or reconnect."""
        state = self.state(lp)
        state.enabled = False
        state.relogon_pending = False
        state.attempt_started = None
        self._session_call(state, "logout", OWN_LOGOUT_PREFIX + "disconnected on request")
        self._set_status(state, SessionStatus.DISCONNECTED)
        log.info("lp_disconnect_requested", lp=lp)
        return state

    def reconnect(self, lp: str) -> LpSessionState:
        """Log the session out and on again at once (backoff reset)."""
        state = self._switchable(lp)
        state.enabled = True
        state.reconnect_attempts = 0
        state.next_attempt_at = 0.0
        if state.logged_on:
            state.relogon_pending = True
            state.attempt_started = None
            self._session_call(state, "logout", OWN_LOGOUT_PREFIX + "reconnect requested")
            self._set_status(state, SessionStatus.CONNECTING)
        else:
            state.relogon_pending = False
            self._start_attempt(state, time.monotonic())
            self._set_status(state, SessionStatus.CONNECTING)
        log.info("lp_reconnect_requested", lp=lp)
        return state

    def _switchable(self, lp: str) -> LpSessionState:
        state = self.state(lp)
        if not state.lp_enabled:
            raise FailedPrecondition(
                f"LP {lp} is disabled; enable it first",
                reason=Reason.LP_DISABLED,
                metadata={"lp": lp},
            )
        return state

    def view(self, lp: str) -> SessionView:
        """Everything GetSession reports about one LP."""
        state = self.state(lp)
        messages_in: dict[str, int] = {}
        messages_out: dict[str, int] = {}
        if state.app is not None:
            counts = state.app.counts.get(lp)
            if counts is not None:
                messages_in, messages_out = counts.snapshot()
        next_sender = next_target = 0
        session = self._session(state)
        if session is not None:
            next_sender = int(session.getExpectedSenderNum())
            next_target = int(session.getExpectedTargetNum())
        return SessionView(
            name=lp,
            session_id=state.session_id,
            logged_on=state.logged_on,
            subscribed_symbols=sorted(state.subscribed),
            last_message_time=state.last_message_time,
            ticks_received=state.ticks_received,
            state=state.status,
            last_error=state.last_error,
            last_error_time=state.last_error_time,
            reconnect_attempts=state.reconnect_attempts,
            heartbeat_rtt=state.heartbeat_rtt,
            messages_in=messages_in,
            messages_out=messages_out,
            last_order_time=state.last_order_time,
            last_quote_time=state.last_quote_time,
            healthy=self.healthy(lp),
            orders_unresolved=self._flow.unresolved(lp) if self._flow is not None else 0,
            logon_time=state.logon_time,
            next_sender_seq_num=next_sender,
            next_target_seq_num=next_target,
            config=state.config,
            lp_enabled=state.lp_enabled,
            source=state.source,
            health=self.health.figures(lp),
        )

    def views(self) -> list[SessionView]:
        return [self.view(lp) for lp in self.lps]

    # -- the monitor: backoff, state, TestRequest RTT -----------------------------------------

    def _session(self, state: LpSessionState) -> Any:
        if state.fix_engine is None:
            return None
        return fix.Session.lookupSession(state.spec.session_id())

    def _session_call(self, state: LpSessionState, method: str, *args: Any) -> None:
        session = self._session(state)
        if session is not None:
            getattr(session, method)(*args)

    def _set_status(self, state: LpSessionState, status: SessionStatus) -> None:
        if state.status is not status:
            state.status = status
            SESSION_STATE.labels(state.name).set(_STATE_VALUE[status])

    def _error(self, state: LpSessionState, text: str) -> None:
        state.last_error = text
        state.last_error_time = self._clock()

    def _start_attempt(self, state: LpSessionState, now: float) -> None:
        state.attempt_started = now
        state.logon_refused = False
        self._session_call(state, "logon")
        if state.status is not SessionStatus.FAILED:
            self._set_status(state, SessionStatus.CONNECTING)

    async def _run_monitor(self) -> None:
        while True:
            now = time.monotonic()
            for state in self.lps.values():
                try:
                    self._supervise(state, now)
                except Exception:
                    log.exception("fixgw_session_monitor_failed", lp=state.name)
            await asyncio.sleep(MONITOR_INTERVAL_SECONDS)

    def _supervise(self, state: LpSessionState, now: float) -> None:
        if state.stopping:
            return  # its engine is going away: no logon, no backoff
        session = self._session(state)
        if session is None:
            return
        if state.logged_on:
            if state.relogon_pending:
                return  # Reconnect: the logout is on its way
            self._set_status(state, SessionStatus.LOGGED_ON)
            if (
                state.reconnect_attempts
                and state.logon_monotonic is not None
                and now - state.logon_monotonic >= self._stable
            ):
                state.reconnect_attempts = 0
            if (
                state.last_test_request is None
                or now - state.last_test_request >= self._test_request_interval
            ):
                self._send_test_request(state, now)
            return
        if not state.enabled:
            if session.isEnabled():
                session.logout(OWN_LOGOUT_PREFIX + "disconnected on request")
            self._set_status(state, SessionStatus.DISCONNECTED)
            return
        if state.relogon_pending:
            state.relogon_pending = False
            self._start_attempt(state, now)
            return
        if session.isEnabled():
            started = state.attempt_started if state.attempt_started is not None else now
            state.attempt_started = started
            window = self._reconnect + CONNECT_MARGIN_SECONDS
            if session.sentLogon():
                window += float(session.getLogonTimeout())
            if now - started < window:
                return
            state.reconnect_attempts += 1
            CONNECT_FAILURES.labels(state.name).inc()
            session.logout(OWN_LOGOUT_PREFIX + "reconnect backoff")
            delay = min(self._reconnect * 2 ** (state.reconnect_attempts - 1), self._reconnect_max)
            state.next_attempt_at = now + delay
            state.attempt_started = None
            if not state.logon_refused:
                self._error(
                    state,
                    f"no logon to {state.config.host}:{state.config.port} within {window:g} s "
                    f"(attempt {state.reconnect_attempts})",
                )
            failed = state.logon_refused or state.reconnect_attempts >= FAILED_AFTER_ATTEMPTS
            self._set_status(state, SessionStatus.FAILED if failed else SessionStatus.CONNECTING)
            log.warning(
                "lp_connect_failed",
                lp=state.name,
                attempts=state.reconnect_attempts,
                retry_in=delay,
                error=state.last_error,
            )
        elif now >= state.next_attempt_at:
            self._start_attempt(state, now)

    def _send_test_request(self, state: LpSessionState, now: float) -> None:
        state.last_test_request = now
        test_req_id = f"RTT-{next(self._test_req_ids)}"
        if len(state.test_requests) >= MAX_PENDING_TEST_REQUESTS:
            state.test_requests.clear()
        state.test_requests[test_req_id] = time.monotonic()
        if not send(make_test_request(test_req_id), state.spec.session_id()):
            state.test_requests.pop(test_req_id, None)

    # -- events from the QuickFIX adapter (on the loop) --------------------------------------

    def _seen(self, lp: str) -> LpSessionState | None:
        state = self.lps.get(lp)
        if state is not None:
            state.last_message_time = self._clock()
        return state

    def _notify(self, method: str, *args: Any) -> None:
        flow = self._flow
        if flow is None:
            return
        try:
            getattr(flow, method)(*args)
        except Exception:
            log.exception("order_flow_failed", handler=method)

    def on_logon(self, lp: str) -> None:
        state = self._seen(lp)
        if state is None:
            return
        state.logged_on = True
        state.logon_refused = False
        state.attempt_started = None
        state.logon_time = self._clock()
        state.logon_monotonic = time.monotonic()
        state.last_test_request = None
        state.test_requests.clear()
        state.subscribed.clear()
        state.book.clear()
        LOGGED_ON.labels(lp).set(1)
        if not state.relogon_pending:
            self._set_status(state, SessionStatus.LOGGED_ON)
        log.info("lp_logged_on", lp=lp, session=state.session_id)
        for symbol in state.symbols:
            req_id = f"{lp}-{symbol}-{next(self._req_ids)}"
            request = market_data_request(
                req_id, state.config.lp_symbol(symbol), depth=state.config.market_depth
            )
            if send(request, state.spec.session_id()):
                state.subscribed[symbol] = req_id
            else:
                log.warning("md_request_not_sent", lp=lp, symbol=symbol)
        self._notify("on_logon", lp)

    def on_logout(self, lp: str) -> None:
        state = self.lps.get(lp)
        if state is None:
            return
        was = state.logged_on
        state.logged_on = False
        state.subscribed.clear()
        state.book.clear()
        state.test_requests.clear()
        LOGGED_ON.labels(lp).set(0)
        if was:
            requested = not state.enabled or state.relogon_pending or state.stopping
            if not requested:
                if state.last_error_time is None or (
                    state.logon_time is not None and state.last_error_time < state.logon_time
                ):
                    self._error(state, "session dropped")
                state.attempt_started = time.monotonic()
                self._set_status(state, SessionStatus.CONNECTING)
            log.warning("lp_logged_out", lp=lp, session=state.session_id, requested=requested)
            self._notify("on_logout", lp)

    def on_logout_message(self, lp: str, text: str) -> None:
        """A Logout with a text, received or sent: the reason a session ended or was refused."""
        state = self._seen(lp)
        if state is None:
            return
        if not state.enabled or state.relogon_pending or state.stopping:
            return
        self._error(state, text)
        if not state.logged_on:
            state.logon_refused = True
            self._set_status(state, SessionStatus.FAILED)
        log.warning("lp_logout_message", lp=lp, text=text)

    def on_message_seen(self, lp: str) -> None:
        self._seen(lp)

    def on_heartbeat(self, lp: str, test_req_id: str, received_monotonic: float) -> None:
        state = self._seen(lp)
        if state is None:
            return
        sent = state.test_requests.pop(test_req_id, None)
        if sent is None:
            return
        state.heartbeat_rtt = max(received_monotonic - sent, 0.0)
        HEARTBEAT_RTT.labels(lp).set(state.heartbeat_rtt)

    def on_order_sent(self, lp: str, cl_ord_id: str, seq_num: int) -> None:
        state = self.lps.get(lp)
        if state is not None:
            state.last_order_time = self._clock()
        self._notify("on_order_sent", lp, cl_ord_id, seq_num)

    def on_market_data(self, update: MarketDataUpdate) -> None:
        state = self.lps.get(update.lp)
        if state is None:
            return
        now = self._clock()
        state.last_message_time = now
        state.last_quote_time = now
        if update.skipped:
            for reason, n in count_reasons(update.skipped).items():
                ENTRIES_SKIPPED.labels(update.lp, reason.value).inc(n)
        ticks = state.book.apply(update, now)
        if not ticks:
            return
        received = self._received.get(update.lp)
        if received is None:
            received = self._received[update.lp] = TICKS_RECEIVED.labels(update.lp)
        for tick in ticks:
            state.ticks_received += 1
            received.inc()
            self._on_tick(tick)

    def on_md_reject(self, lp: str, req_id: str, reason: str, text: str) -> None:
        state = self._seen(lp)
        MD_REJECTS.labels(lp).inc()
        if state is not None:
            for symbol, rid in list(state.subscribed.items()):
                if rid == req_id:
                    del state.subscribed[symbol]
        log.warning("md_request_rejected", lp=lp, req_id=req_id, reason=reason, text=text)

    def on_execution_report(self, report: ExecutionReport) -> None:
        """Counted, then handed to the order flow (logged when there is none)."""
        self._seen(report.lp)
        EXEC_REPORTS.labels(report.lp, report.exec_type).inc()
        if self._on_execution_report is not None:
            self._on_execution_report(report)
        if self._flow is not None:
            self._notify("on_execution_report", report)
        elif self._on_execution_report is None:
            log.info(
                "execution_report_unhandled",
                lp=report.lp,
                cl_ord_id=report.cl_ord_id,
                exec_type=report.exec_type,
                poss_dup=report.poss_dup,
            )

    def on_cancel_reject(self, reject: CancelReject) -> None:
        self._seen(reject.lp)
        REJECTS.labels(reject.lp, "9").inc()
        if self._flow is not None:
            self._notify("on_cancel_reject", reject)
        else:
            log.info("cancel_reject_unhandled", lp=reject.lp, cl_ord_id=reject.cl_ord_id)

    def on_business_reject(self, reject: BusinessReject) -> None:
        self._seen(reject.lp)
        REJECTS.labels(reject.lp, "j").inc()
        log.warning(
            "business_reject_received",
            lp=reject.lp,
            ref_msg_type=reject.ref_msg_type,
            ref_id=reject.ref_id,
            reason=reject.reason,
            text=reject.text,
        )
        self._notify("on_business_reject", reject)

    def on_session_reject(self, reject: SessionReject) -> None:
        self._seen(reject.lp)
        REJECTS.labels(reject.lp, "3").inc()
        log.warning(
            "session_reject_received",
            lp=reject.lp,
            ref_seq_num=reject.ref_seq_num,
            ref_msg_type=reject.ref_msg_type,
            reason=reject.reason,
            text=reject.text,
        )
        self._notify("on_session_reject", reject)
