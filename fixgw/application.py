"""The QuickFIX Application of the gateway: a thin adapter from QuickFIX threads to asyncio.

Each callback parses what it needs from the message (strings into Decimal, via fixgw.fixmsg) into a
small domain object and posts it to the event loop with ``call_soon_threadsafe``. Nothing here
blocks, and no exception escapes into QuickFIX's threads except ``fix.DoNotSend``, raised on
purpose from ``toApp``:

- a NewOrderSingle (35=D) being *resent* (PossDupFlag=Y, answering a ResendRequest after a
  restart or a gap) is never sent again: QuickFIX gap-fills over it instead, and the order's fate
  is learned from the LP's reports and status queries;
- a NewOrderSingle while the session is not logged on is refused (``sendToTarget`` answers False)
  rather than stored and resent later;
- a resent MarketDataRequest (35=V) first sent before the current logon is gap-filled too:
  subscriptions are renewed on every logon. One sent since (the renewal itself, when the LP asks
  for a resend that covers it because of a gap before it) is resent: gap-filling it would make the
  LP drop the renewal it holds queued, and leave the session without market data.

Messages in and out are counted here by MsgType (a lock-guarded dict per LP, read by the gateway).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import quickfix as fix
import structlog
from prometheus_client import Counter

from fixgw import engine
from fixgw.domain import (
    BusinessReject,
    CancelReject,
    ExecutionReport,
    MarketDataUpdate,
    SessionReject,
    map_update_symbols,
    parse_sending_time,
)
from fixgw.fixmsg import (
    MSG_SEQ_NUM,
    ORIG_SENDING_TIME,
    POSS_DUP_FLAG,
    get_str,
    msg_type,
    read_business_reject,
    read_cancel_reject,
    read_execution_report,
    read_market_data,
    read_md_reject,
    read_session_reject,
)

log = structlog.stdlib.get_logger(__name__)

MESSAGES_RECEIVED = Counter(
    "fxmesh_fixgw_messages_received_total",
    "FIX messages received from LPs, by MsgType (rare types as 'other').",
    ["lp", "msg_type"],
)
MESSAGES_SENT = Counter(
    "fxmesh_fixgw_messages_sent_total",
    "FIX messages sent to LPs, by MsgType (rare types as 'other'; resends included).",
    ["lp", "msg_type"],
)
ORDERS_SUPPRESSED = Counter(
    "fxmesh_fixgw_orders_not_resent_total",
    "NewOrderSingles QuickFIX was about to resend (PossDup) and that were gap-filled instead.",
    ["lp"],
)

# MsgTypes counted by name (the metric's label stays bounded); anything else is "other".
COUNTED_MSG_TYPES = frozenset(
    ("0", "1", "2", "3", "4", "5", "A", "D", "F", "G", "H", "8", "9", "j", "V", "W", "X", "Y")
)
OTHER = "other"
# Text of the Logouts the gateway asks for (Disconnect, Reconnect, backoff).
OWN_LOGOUT_PREFIX = "fxmesh: "


def count_key(kind: str) -> str:
    return kind if kind in COUNTED_MSG_TYPES else OTHER


class MessageCounts:
    """Messages in and out of one session by MsgType; safe to bump from any thread."""

    def __init__(self, lp: str) -> None:
        self.lp = lp
        self._lock = threading.Lock()
        self._in: dict[str, int] = {}
        self._out: dict[str, int] = {}
        self._metric_in: dict[str, Any] = {}
        self._metric_out: dict[str, Any] = {}

    def received(self, kind: str) -> None:
        key = count_key(kind)
        with self._lock:
            self._in[key] = self._in.get(key, 0) + 1
            child = self._metric_in.get(key)
            if child is None:
                child = self._metric_in[key] = MESSAGES_RECEIVED.labels(self.lp, key)
        child.inc()

    def sent(self, kind: str) -> None:
        key = count_key(kind)
        with self._lock:
            self._out[key] = self._out.get(key, 0) + 1
            child = self._metric_out.get(key)
            if child is None:
                child = self._metric_out[key] = MESSAGES_SENT.labels(self.lp, key)
        child.inc()

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        """(messages in, messages out) by MsgType, copied."""
        with self._lock:
            return dict(self._in), dict(self._out)


class GatewayEvents(Protocol):
    """What the asyncio side receives (all called on the event loop)."""

    def on_logon(self, lp: str) -> None: ...
    def on_logout(self, lp: str) -> None: ...
    def on_message_seen(self, lp: str) -> None: ...
    def on_market_data(self, update: MarketDataUpdate) -> None: ...
    def on_md_reject(self, lp: str, req_id: str, reason: str, text: str) -> None: ...
    def on_execution_report(self, report: ExecutionReport) -> None: ...
    def on_cancel_reject(self, reject: CancelReject) -> None: ...
    def on_business_reject(self, reject: BusinessReject) -> None: ...
    def on_session_reject(self, reject: SessionReject) -> None: ...
    def on_order_sent(self, lp: str, cl_ord_id: str, seq_num: int) -> None: ...
    def on_heartbeat(self, lp: str, test_req_id: str, received_monotonic: float) -> None: ...
    def on_logout_message(self, lp: str, text: str) -> None: ...


class GatewayApplication(fix.Application):  # type: ignore[misc]
    """Maps QuickFIX sessions to LP names and hands parsed messages to ``events``."""

    def __init__(
        self,
        events: GatewayEvents,
        loop: asyncio.AbstractEventLoop,
        lp_by_session: dict[str, str],
        broker_symbols: Mapping[str, dict[str, str]] | None = None,
    ) -> None:
        super().__init__()
        self._events = events
        self._loop = loop
        self._lp_by_session = lp_by_session
        self._broker_symbols = dict(broker_symbols or {})
        self.counts: dict[str, MessageCounts] = {
            lp: MessageCounts(lp) for lp in lp_by_session.values()
        }
        # Written by onLogon/onLogout on QuickFIX's thread, read by toApp on any sending thread.
        self._logged_on: dict[str, bool] = {}
        self._logon_time: dict[str, datetime] = {}

    def _lp(self, session_id: fix.SessionID) -> str:
        key = engine.session_key(session_id)
        return self._lp_by_session.get(key, key)

    def _counts(self, lp: str) -> MessageCounts:
        counts = self.counts.get(lp)
        if counts is None:
            counts = self.counts.setdefault(lp, MessageCounts(lp))
        return counts

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        lp = self._lp(session_id)
        self._logged_on[lp] = True
        # Millisecond precision, as OrigSendingTime (122) carries it.
        now = datetime.now(UTC)
        self._logon_time[lp] = now.replace(microsecond=now.microsecond // 1000 * 1000)
        engine.post(self._loop, self._events.on_logon, lp)

    def onLogout(self, session_id: fix.SessionID) -> None:
        lp = self._lp(session_id)
        self._logged_on[lp] = False
        engine.post(self._loop, self._events.on_logout, lp)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            lp = self._lp(session_id)
            kind = msg_type(message)
            self._counts(lp).sent(kind)
            if kind == "5":
                # QuickFIX's own reason for ending a session (e.g. "MsgSeqNum too low"); the
                # gateway's requested logouts carry OWN_LOGOUT_PREFIX and are not errors.
                text = get_str(message, 58)
                if text and not text.startswith(OWN_LOGOUT_PREFIX):
                    engine.post(self._loop, self._events.on_logout_message, lp, text)
        except Exception:  # never let an exception unwind into QuickFIX's thread
            log.exception("fix_to_admin_failed")

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        refuse = False
        try:
            lp = self._lp(session_id)
            header = message.getHeader()
            kind = str(header.getField(35))
            resend = get_str(header, POSS_DUP_FLAG) == "Y"
            if kind == "D":
                cl_ord_id = get_str(message, 11) or ""
                if resend:
                    ORDERS_SUPPRESSED.labels(lp).inc()
                    log.warning("order_resend_suppressed", lp=lp, cl_ord_id=cl_ord_id)
                    refuse = True
                elif not self._logged_on.get(lp, False):
                    log.warning("order_not_sent_session_down", lp=lp, cl_ord_id=cl_ord_id)
                    refuse = True
                else:
                    seq = int(get_str(header, MSG_SEQ_NUM) or 0)
                    engine.post(self._loop, self._events.on_order_sent, lp, cl_ord_id, seq)
            elif kind == "V" and resend:
                first_sent = parse_sending_time(get_str(header, ORIG_SENDING_TIME))
                logon = self._logon_time.get(lp)
                refuse = first_sent is None or logon is None or first_sent < logon
            if not refuse:
                self._counts(lp).sent(kind)
        except Exception:  # never let an exception unwind into QuickFIX's thread
            log.exception("fix_to_app_failed")
        if refuse:
            raise fix.DoNotSend()

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        lp = self._lp(session_id)
        try:
            kind = msg_type(message)
            self._counts(lp).received(kind)
            if kind == "0":
                test_req_id = get_str(message, 112)
                if test_req_id:
                    now = time.monotonic()
                    engine.post(self._loop, self._events.on_heartbeat, lp, test_req_id, now)
                    return
            elif kind == "3":
                reject = read_session_reject(lp, message, datetime.now(UTC))
                engine.post(self._loop, self._events.on_session_reject, reject)
                return
            elif kind == "5":
                text = get_str(message, 58)
                if text:
                    engine.post(self._loop, self._events.on_logout_message, lp, text)
                    return
            engine.post(self._loop, self._events.on_message_seen, lp)
        except Exception:  # never let an exception unwind into QuickFIX's thread
            log.exception("fix_message_parse_failed", lp=lp)

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        lp = self._lp(session_id)
        try:
            kind = msg_type(message)
            self._counts(lp).received(kind)
            if kind in ("W", "X"):
                update = read_market_data(lp, message, kind)
                back = self._broker_symbols.get(lp)
                if back:
                    update = map_update_symbols(update, back)
                engine.post(self._loop, self._events.on_market_data, update)
            elif kind == "Y":
                engine.post(self._loop, self._events.on_md_reject, lp, *read_md_reject(message))
            elif kind == "8":
                report = read_execution_report(
                    lp, message, self._broker_symbols.get(lp), datetime.now(UTC)
                )
                engine.post(self._loop, self._events.on_execution_report, report)
            elif kind == "9":
                cancel_reject = read_cancel_reject(lp, message, datetime.now(UTC))
                engine.post(self._loop, self._events.on_cancel_reject, cancel_reject)
            elif kind == "j":
                business_reject = read_business_reject(lp, message, datetime.now(UTC))
                engine.post(self._loop, self._events.on_business_reject, business_reject)
            else:
                engine.post(self._loop, self._events.on_message_seen, lp)
        except Exception:  # never let an exception unwind into QuickFIX's thread
            log.exception("fix_message_parse_failed", lp=lp)
