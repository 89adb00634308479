"""The QuickFIX Application of the gateway: a thin adapter from QuickFIX threads to asyncio.

Each callback parses what it needs from the message (strings into Decimal, via fixgw.fixmsg) into a
small domain object and posts it to the event loop with ``call_soon_threadsafe``. Nothing here
blocks, and no exception escapes into QuickFIX's threads.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import quickfix as fix
import structlog

from fixgw import engine
from fixgw.domain import ExecutionReport, MarketDataUpdate
from fixgw.fixmsg import msg_type, read_execution_report, read_market_data, read_md_reject

log = structlog.stdlib.get_logger(__name__)


class GatewayEvents(Protocol):
    """What the asyncio side receives (all called on the event loop)."""

    def on_logon(self, lp: str) -> None: ...
    def on_logout(self, lp: str) -> None: ...
    def on_message_seen(self, lp: str) -> None: ...
    def on_market_data(self, update: MarketDataUpdate) -> None: ...
    def on_md_reject(self, lp: str, req_id: str, reason: str, text: str) -> None: ...
    def on_execution_report(self, report: ExecutionReport) -> None: ...


class GatewayApplication(fix.Application):  # type: ignore[misc]
    """Maps QuickFIX sessions to LP names and hands parsed messages to ``events``."""

    def __init__(
        self, events: GatewayEvents, loop: asyncio.AbstractEventLoop, lp_by_session: dict[str, str]
    ) -> None:
        super().__init__()
        self._events = events
        self._loop = loop
        self._lp_by_session = lp_by_session

    def _lp(self, session_id: fix.SessionID) -> str:
        key = engine.session_key(session_id)
        return self._lp_by_session.get(key, key)

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._events.on_logon, self._lp(session_id))

    def onLogout(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._events.on_logout, self._lp(session_id))

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._events.on_message_seen, self._lp(session_id))

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        lp = self._lp(session_id)
        try:
            kind = msg_type(message)
            if kind in ("W", "X"):
                update = read_market_data(lp, message, kind)
                engine.post(self._loop, self._events.on_market_data, update)
            elif kind == "Y":
                engine.post(self._loop, self._events.on_md_reject, lp, *read_md_reject(message))
            elif kind == "8":
                report = read_execution_report(lp, message)
                engine.post(self._loop, self._events.on_execution_report, report)
            else:
                engine.post(self._loop, self._events.on_message_seen, lp)
        except Exception:  # never let an exception unwind into QuickFIX's thread
            log.exception("fix_message_parse_failed", lp=lp)
