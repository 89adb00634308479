"""The gateway: LP sessions over QuickFIX, their market data as raw ticks, forwarded to quotes."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import Counter, Gauge

from fixgw import engine
from fixgw.application import GatewayApplication
from fixgw.config import LpConfig
from fixgw.domain import ExecutionReport, MarketDataUpdate, RawTick, TopOfBook, count_reasons
from fixgw.fixmsg import market_data_request, send

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


@dataclass(slots=True)
class LpSessionState:
    """What ListSessions reports for one LP."""

    config: LpConfig
    spec: engine.SessionSpec
    symbols: list[str]
    logged_on: bool = False
    subscribed: dict[str, str] = field(default_factory=dict)  # symbol -> MDReqID
    last_message_time: datetime | None = None
    ticks_received: int = 0
    book: TopOfBook = field(init=False)

    def __post_init__(self) -> None:
        self.book = TopOfBook(self.config.name)

    @property
    def session_id(self) -> str:
        return engine.session_key(self.spec.session_id())


class Gateway:
    """Runs one QuickFIX initiator with a session per LP and turns market data into ticks."""

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
    ) -> None:
        self._on_tick = on_tick
        self._on_execution_report = on_execution_report
        self._clock = clock
        self._run_dir = run_dir
        self._heartbeat = heartbeat_seconds
        self._reconnect = reconnect_seconds
        self._message_log = message_log
        self.lps: dict[str, LpSessionState] = {}
        for lp in lps:
            spec = engine.SessionSpec(lp.sender_comp_id, lp.target_comp_id)
            self.lps[lp.name] = LpSessionState(lp, spec, list(lp.symbols or default_symbols))
            LOGGED_ON.labels(lp.name).set(0)
        self._req_ids = itertools.count(1)
        # TICKS_RECEIVED's child per LP: ``labels()`` takes a lock and builds a key on every call.
        self._received: dict[str, Any] = {}
        self._engine: engine.FixEngine | None = None

    async def start(self) -> None:
        """Start the initiator; sessions log on (and re-log on) by themselves."""
        sessions = [(s.spec, s.config.host, s.config.port) for s in self.lps.values()]
        settings = engine.initiator_settings(
            self._run_dir, sessions, self._heartbeat, self._reconnect, self._message_log
        )
        lp_by_session = {s.session_id: name for name, s in self.lps.items()}
        app = GatewayApplication(self, asyncio.get_running_loop(), lp_by_session)
        self._engine = engine.FixEngine("initiator", app, settings, self._message_log)
        await self._engine.start()
        log.info("fixgw_initiator_started", lps=[s.session_id for s in self.lps.values()])

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.stop()
            self._engine = None
        for name, state in self.lps.items():
            state.logged_on = False
            LOGGED_ON.labels(name).set(0)

    # -- events from the QuickFIX adapter (on the loop) --------------------------------------

    def _seen(self, lp: str) -> LpSessionState | None:
        state = self.lps.get(lp)
        if state is not None:
            state.last_message_time = self._clock()
        return state

    def on_logon(self, lp: str) -> None:
        state = self._seen(lp)
        if state is None:
            return
        state.logged_on = True
        state.subscribed.clear()
        state.book.clear()
        LOGGED_ON.labels(lp).set(1)
        log.info("lp_logged_on", lp=lp, session=state.session_id)
        for symbol in state.symbols:
            req_id = f"{lp}-{symbol}-{next(self._req_ids)}"
            if send(market_data_request(req_id, symbol), state.spec.session_id()):
                state.subscribed[symbol] = req_id
            else:
                log.warning("md_request_not_sent", lp=lp, symbol=symbol)

    def on_logout(self, lp: str) -> None:
        state = self.lps.get(lp)
        if state is None:
            return
        was = state.logged_on
        state.logged_on = False
        state.subscribed.clear()
        state.book.clear()
        LOGGED_ON.labels(lp).set(0)
        if was:
            log.warning("lp_logged_out", lp=lp, session=state.session_id)

    def on_message_seen(self, lp: str) -> None:
        self._seen(lp)

    def on_market_data(self, update: MarketDataUpdate) -> None:
        state = self.lps.get(update.lp)
        if state is None:
            return
        now = self._clock()
        state.last_message_time = now
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
        """A-book order flow arrives in a later change; until then reports are counted and logged."""
        self._seen(report.lp)
        EXEC_REPORTS.labels(report.lp, report.exec_type).inc()
        if self._on_execution_report is not None:
            self._on_execution_report(report)
        else:
            log.info(
                "execution_report_unhandled",
                lp=report.lp,
                cl_ord_id=report.cl_ord_id,
                exec_type=report.exec_type,
            )
