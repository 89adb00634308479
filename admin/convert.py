"""admin <-> protobuf and REST JSON (camelCase, decimals as strings, times ISO-8601 UTC).

The JSON documents built here are also what audit rows keep as before / after.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from admin.audit import Verification
from admin.domain import AdminUser, AuditEntry, Role
from fxmesh.v1 import admin_pb2, fixgw_pb2, oms_pb2, router_pb2, types_pb2

if TYPE_CHECKING:  # admin.system imports this module (through admin.accounts)
    from admin.system import ComponentHealth, LpHealth, SystemHealth, SystemMetrics


def role_to_proto(role: Role | str) -> admin_pb2.AdminRole.ValueType:
    if not role:
        return admin_pb2.ADMIN_ROLE_UNSPECIFIED
    return admin_pb2.AdminRole.Value(f"ADMIN_ROLE_{Role(role).value}")


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def from_timestamp(ts: Timestamp, present: bool) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if present else None


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _ts_iso(message: Any, field: str) -> str | None:
    if not message.HasField(field):
        return None
    return iso(getattr(message, field).ToDatetime(tzinfo=UTC))


def short(enum_name: str, prefix: str) -> str | None:
    if enum_name.endswith("_UNSPECIFIED"):
        return None
    return enum_name.removeprefix(prefix)


# --- audit ---------------------------------------------------------------------------------------


def audit_to_proto(entry: AuditEntry) -> admin_pb2.AuditEntry:
    return admin_pb2.AuditEntry(
        audit_id=entry.audit_id,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        before_json=entry.before_json,
        after_json=entry.after_json,
        create_time=timestamp(entry.created_at),
        role=role_to_proto(entry.role if entry.role in Role.__members__ else ""),
        source_ip=entry.source_ip,
        user_agent=entry.user_agent,
        request_id=entry.request_id,
        outcome=admin_pb2.AuditOutcome.Value(f"AUDIT_OUTCOME_{entry.outcome}"),
        error_code=entry.error_code,
        trace_id=entry.trace_id,
        prev_hash=entry.prev_hash,
        row_hash=entry.row_hash,
    )


def audit_to_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "auditId": str(entry.audit_id),
        "createdAt": iso(entry.created_at),
        "actor": entry.actor,
        "role": entry.role or None,
        "sourceIp": entry.source_ip or None,
        "userAgent": entry.user_agent or None,
        "action": entry.action,
        "resource": entry.target,
        "before": json.loads(entry.before_json) if entry.before_json else None,
        "after": json.loads(entry.after_json) if entry.after_json else None,
        "requestId": entry.request_id or None,
        "outcome": entry.outcome,
        "errorCode": entry.error_code or None,
        "traceId": entry.trace_id or None,
        "prevHash": entry.prev_hash or None,
        "rowHash": entry.row_hash or None,
    }


def verification_to_json(v: Verification) -> dict[str, Any]:
    return {
        "ok": v.ok,
        "checked": v.checked,
        "firstBrokenAuditId": str(v.first_broken_audit_id) if v.first_broken_audit_id else None,
        "brokenReason": v.broken_reason or None,
        "unchained": v.unchained,
        "headHash": v.head_hash or None,
    }


def verification_to_proto(v: Verification) -> admin_pb2.VerifyAuditLogResponse:
    return admin_pb2.VerifyAuditLogResponse(
        ok=v.ok,
        checked=v.checked,
        first_broken_audit_id=v.first_broken_audit_id or 0,
        broken_reason=v.broken_reason,
        unchained=v.unchained,
        head_hash=v.head_hash,
    )


# --- accounts ------------------------------------------------------------------------------------


def account_to_json(account: types_pb2.AccountInfo) -> dict[str, Any]:
    return {
        "accountId": account.account_id,
        "login": account.login,
        "currency": account.currency,
        "leverage": account.leverage,
        "type": short(types_pb2.AccountType.Name(account.type), "ACCOUNT_TYPE_"),
        "status": short(types_pb2.AccountStatus.Name(account.status), "ACCOUNT_STATUS_"),
        "marginMode": short(types_pb2.MarginMode.Name(account.margin_mode), "MARGIN_MODE_"),
        "clientGroup": account.client_group or None,
        "balance": account.balance or None,
        "marginCallLevel": account.margin_call_level or None,
        "stopOutLevel": account.stop_out_level or None,
        "negativeBalanceProtection": account.negative_balance_protection,
        "maxOpenPositions": account.max_open_positions,
        "maxDailyVolume": account.max_daily_volume or None,
        "createdAt": _ts_iso(account, "create_time"),
    }


def summary_to_json(s: oms_pb2.GetAccountSummaryResponse) -> dict[str, Any]:
    return {
        "accountId": s.account_id,
        "login": s.login,
        "currency": s.currency,
        "leverage": s.leverage,
        "type": short(types_pb2.AccountType.Name(s.type), "ACCOUNT_TYPE_"),
        "status": short(types_pb2.AccountStatus.Name(s.status), "ACCOUNT_STATUS_"),
        "marginMode": short(types_pb2.MarginMode.Name(s.margin_mode), "MARGIN_MODE_"),
        "balance": s.balance,
        "equity": s.equity,
        "margin": s.margin,
        "freeMargin": s.free_margin,
        "marginLevel": s.margin_level or None,
        "unrealizedPnl": s.unrealized_pnl,
        "asOf": _ts_iso(s, "summary_time"),
    }


def position_to_json(p: types_pb2.Position) -> dict[str, Any]:
    return {
        "positionId": p.position_id,
        "symbol": p.symbol,
        "side": short(types_pb2.Side.Name(p.side), "SIDE_"),
        "volume": p.volume,
        "openPrice": p.open_price,
        "currentPrice": p.current_price or None,
        "profit": p.profit or None,
        "stopLoss": p.stop_loss or None,
        "takeProfit": p.take_profit or None,
        "swap": p.swap or None,
        "commission": p.commission or None,
        "margin": p.margin or None,
        "book": short(types_pb2.Book.Name(p.book), "BOOK_"),
        "venue": p.venue or None,
        "openTime": _ts_iso(p, "open_time"),
    }


def ledger_to_json(e: types_pb2.LedgerEntry) -> dict[str, Any]:
    return {
        "ledgerId": e.ledger_id,
        "accountId": e.account_id,
        "type": short(types_pb2.LedgerEntryType.Name(e.type), "LEDGER_ENTRY_TYPE_"),
        "amount": e.amount,
        "balanceBefore": e.balance_before,
        "balanceAfter": e.balance_after,
        "currency": e.currency,
        "reference": e.reference or None,
        "note": e.note or None,
        "createdAt": _ts_iso(e, "create_time"),
    }


# --- liquidity providers -------------------------------------------------------------------------


def lp_to_json(s: fixgw_pb2.LpSession) -> dict[str, Any]:
    """An LP as the LP list shows it (one FIX session per LP)."""
    state = short(fixgw_pb2.SessionState.Name(s.state), "SESSION_STATE_")
    rtt = s.heartbeat_rtt.ToTimedelta() if s.HasField("heartbeat_rtt") else None
    return {
        "id": s.name,
        "name": s.name,
        "type": "FIX",
        "connected": s.logged_on,
        "enabled": state not in (None, "DISCONNECTED"),
        "healthy": s.healthy,
        "state": state,
        "latencyMs": str(round(rtt.total_seconds() * 1000, 3)) if rtt is not None else None,
        "lastQuote": _ts_iso(s, "last_quote_time"),
        "lastOrder": _ts_iso(s, "last_order_time"),
        "symbols": list(s.subscribed_symbols),
        "ordersUnresolved": s.orders_unresolved,
        "lastError": s.last_error or None,
    }


def fix_session_to_json(s: fixgw_pb2.LpSession) -> dict[str, Any]:
    """The FIX view of one LP session."""
    return {
        **lp_to_json(s),
        "sessionId": s.session_id,
        "lastMessage": _ts_iso(s, "last_message_time"),
        "logonTime": _ts_iso(s, "logon_time"),
        "lastErrorTime": _ts_iso(s, "last_error_time"),
        "reconnectAttempts": s.reconnect_attempts,
        "ticksReceived": s.ticks_received,
        "messagesIn": dict(sorted(s.messages_in.items())),
        "messagesOut": dict(sorted(s.messages_out.items())),
        "nextSenderSeqNum": s.next_sender_seq_num,
        "nextTargetSeqNum": s.next_target_seq_num,
    }


def lp_state(s: fixgw_pb2.LpSession) -> dict[str, Any]:
    """What an audit row keeps of an LP session before / after a switch."""
    return {
        "lpId": s.name,
        "state": short(fixgw_pb2.SessionState.Name(s.state), "SESSION_STATE_"),
        "connected": s.logged_on,
    }


def exposure_to_json(e: router_pb2.SymbolExposure) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "netVolume": e.net_volume,
        "notionalUsd": e.notional_usd,
        "avgPrice": e.avg_price or None,
        "realizedPnlUsd": e.realized_pnl_usd or None,
        "unrealizedPnlUsd": e.unrealized_pnl_usd or None,
    }


# --- admin users ---------------------------------------------------------------------------------


def user_to_json(user: AdminUser) -> dict[str, Any]:
    return {
        "id": user.username,
        "username": user.username,
        "role": user.role.value,
        "disabled": user.disabled,
        "createdAt": iso(user.created_at),
        "updatedAt": iso(user.updated_at) if user.updated_at else None,
        "passwordChangedAt": iso(user.password_changed_at) if user.password_changed_at else None,
    }


def user_to_proto(user: AdminUser) -> admin_pb2.AdminUser:
    message = admin_pb2.AdminUser(
        username=user.username,
        role=role_to_proto(user.role),
        disabled=user.disabled,
        create_time=timestamp(user.created_at),
    )
    if user.updated_at:
        message.update_time.CopyFrom(timestamp(user.updated_at))
    if user.password_changed_at:
        message.password_change_time.CopyFrom(timestamp(user.password_changed_at))
    return message


def role_from_proto(value: admin_pb2.AdminRole.ValueType) -> Role | None:
    """The role of an AdminRole value; None for UNSPECIFIED."""
    if value == admin_pb2.ADMIN_ROLE_UNSPECIFIED:
        return None
    return Role(str(admin_pb2.AdminRole.Name(value)).removeprefix("ADMIN_ROLE_"))


# --- system --------------------------------------------------------------------------------------


def millis(value: timedelta | None) -> str | None:
    """A duration as decimal milliseconds, 3 places ("1.234")."""
    if value is None:
        return None
    return str((Decimal(value.total_seconds()) * 1000).quantize(Decimal("0.001")))


def duration(value: timedelta) -> Duration:
    d = Duration()
    d.FromTimedelta(value)
    return d


def _rtt(s: fixgw_pb2.LpSession) -> timedelta | None:
    return s.heartbeat_rtt.ToTimedelta() if s.HasField("heartbeat_rtt") else None


def _health_status(name: str) -> admin_pb2.HealthStatus.ValueType:
    return admin_pb2.HealthStatus.Value(f"HEALTH_STATUS_{name}")


def component_to_json(c: ComponentHealth) -> dict[str, Any]:
    return {
        "name": c.name,
        "kind": c.kind.value,
        "status": c.status.value,
        "critical": c.critical,
        "latencyMs": millis(c.latency),
        "detail": c.detail or None,
    }


def lp_health_to_json(lp: LpHealth) -> dict[str, Any]:
    s = lp.session
    return {
        "lpId": s.name,
        "status": lp.status.value,
        "state": short(fixgw_pb2.SessionState.Name(s.state), "SESSION_STATE_"),
        "loggedOn": s.logged_on,
        "healthy": s.healthy,
        "heartbeatRttMs": millis(_rtt(s)),
        "ordersUnresolved": s.orders_unresolved,
    }


def health_to_json(h: SystemHealth) -> dict[str, Any]:
    return {
        "status": h.status.value,
        "checkedAt": iso(h.checked_at),
        "components": [component_to_json(c) for c in h.components],
        "lpSessions": [lp_health_to_json(lp) for lp in h.lp_sessions],
        "lpSessionsError": h.lp_error or None,
    }


def health_to_proto(h: SystemHealth) -> admin_pb2.GetSystemHealthResponse:
    reply = admin_pb2.GetSystemHealthResponse(
        status=_health_status(h.status.value),
        check_time=timestamp(h.checked_at),
        lp_sessions_error=h.lp_error,
    )
    for c in h.components:
        component = reply.components.add(
            name=c.name,
            kind=admin_pb2.ComponentKind.Value(f"COMPONENT_KIND_{c.kind.value}"),
            status=_health_status(c.status.value),
            critical=c.critical,
            detail=c.detail,
        )
        if c.latency is not None:
            component.latency.CopyFrom(duration(c.latency))
    for lp in h.lp_sessions:
        s = lp.session
        session = reply.lp_sessions.add(
            lp_id=s.name,
            status=_health_status(lp.status.value),
            state=s.state,
            logged_on=s.logged_on,
            healthy=s.healthy,
            orders_unresolved=s.orders_unresolved,
        )
        if s.HasField("heartbeat_rtt"):
            session.heartbeat_rtt.CopyFrom(s.heartbeat_rtt)
    return reply


def metrics_to_json(m: SystemMetrics) -> dict[str, Any]:
    return {
        "collectedAt": iso(m.collected_at),
        "exposure": None
        if m.exposure is None
        else {
            "openSymbols": m.exposure.symbols,
            "grossNotionalUsd": str(m.exposure.gross_notional_usd),
            "unrealizedPnlUsd": str(m.exposure.unrealized_pnl_usd),
            "realizedPnlUsd": str(m.exposure.realized_pnl_usd),
        },
        "lpSessions": None
        if m.lps is None
        else {
            "total": m.lps.total,
            "loggedOn": m.lps.logged_on,
            "healthy": m.lps.healthy,
            "ordersUnresolved": m.lps.orders_unresolved,
            "ticksReceived": str(m.lps.ticks_received),
        },
        "accounts": None
        if m.accounts is None
        else {
            "counted": m.accounts.counted,
            "byStatus": m.accounts.by_status,
            "truncated": m.accounts.truncated,
        },
        "lockedLogins": m.locked_logins,
        "unavailable": m.unavailable,
    }


def metrics_to_proto(m: SystemMetrics) -> admin_pb2.GetSystemMetricsResponse:
    reply = admin_pb2.GetSystemMetricsResponse(
        collect_time=timestamp(m.collected_at),
        locked_logins=m.locked_logins,
        unavailable_sources=m.unavailable,
    )
    if m.exposure is not None:
        reply.exposure.CopyFrom(
            admin_pb2.HouseExposureSummary(
                open_symbols=m.exposure.symbols,
                gross_notional_usd=str(m.exposure.gross_notional_usd),
                unrealized_pnl_usd=str(m.exposure.unrealized_pnl_usd),
                realized_pnl_usd=str(m.exposure.realized_pnl_usd),
            )
        )
    if m.lps is not None:
        reply.lp_sessions.CopyFrom(
            admin_pb2.LpSessionSummary(
                total=m.lps.total,
                logged_on=m.lps.logged_on,
                healthy=m.lps.healthy,
                orders_unresolved=m.lps.orders_unresolved,
                ticks_received=m.lps.ticks_received,
            )
        )
    if m.accounts is not None:
        reply.accounts.CopyFrom(
            admin_pb2.ClientAccountCounts(
                counted=m.accounts.counted,
                by_status=m.accounts.by_status,
                truncated=m.accounts.truncated,
            )
        )
    return reply
