"""admin's domain values as JSON documents: camelCase, decimals as strings, times ISO-8601 UTC.

The REST API answers these, and the audit rows keep them as before / after, so one change here
changes both (and the audit documents are hashed: ``admin.audit``). No protobuf here: that is
``admin.convert``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from admin.audit import Verification
from admin.domain import (
    AccountSummary,
    AdminUser,
    AuditEntry,
    ClientAccount,
    ComponentHealth,
    LedgerEntry,
    LpDefinition,
    LpFeed,
    LpHealth,
    LpHealthFigures,
    LpSession,
    MarginWatchEntry,
    OrderRouting,
    Position,
    SymbolExposure,
    SystemHealth,
    SystemMetrics,
    TopTraders,
    TraderResult,
    TradingSummary,
    Withdrawal,
    WithdrawalResult,
)
from fxmesh.money import fmt


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else fmt(value)


def millis(value: timedelta | None) -> str | None:
    """A duration as decimal milliseconds, 3 places ("1.234")."""
    if value is None:
        return None
    return str((Decimal(value.total_seconds()) * 1000).quantize(Decimal("0.001")))


# --- audit ---------------------------------------------------------------------------------------


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


# --- accounts ------------------------------------------------------------------------------------


def account_to_json(account: ClientAccount) -> dict[str, Any]:
    return {
        "accountId": account.account_id,
        "login": account.login,
        "currency": account.currency,
        "leverage": account.leverage,
        "type": account.type,
        "status": account.status,
        "marginMode": account.margin_mode,
        "clientGroup": account.client_group or None,
        "balance": _dec(account.balance),
        "marginCallLevel": _dec(account.margin_call_level),
        "stopOutLevel": _dec(account.stop_out_level),
        "negativeBalanceProtection": account.negative_balance_protection,
        "maxOpenPositions": account.max_open_positions,
        "maxDailyVolume": _dec(account.max_daily_volume),
        "createdAt": _iso(account.created_at),
        "email": account.email or None,
        "name": account.name or None,
    }


def summary_to_json(s: AccountSummary) -> dict[str, Any]:
    return {
        "accountId": s.account_id,
        "login": s.login,
        "currency": s.currency,
        "leverage": s.leverage,
        "type": s.type,
        "status": s.status,
        "marginMode": s.margin_mode,
        "balance": fmt(s.balance),
        "equity": fmt(s.equity),
        "margin": fmt(s.margin),
        "freeMargin": fmt(s.free_margin),
        "marginLevel": _dec(s.margin_level),
        "unrealizedPnl": fmt(s.unrealized_pnl),
        "held": _dec(s.held),
        "asOf": _iso(s.as_of),
    }


def position_to_json(p: Position) -> dict[str, Any]:
    return {
        "positionId": p.position_id,
        "symbol": p.symbol,
        "side": p.side,
        "volume": fmt(p.volume),
        "openPrice": fmt(p.open_price),
        "currentPrice": _dec(p.current_price),
        "profit": _dec(p.profit),
        "stopLoss": _dec(p.stop_loss),
        "takeProfit": _dec(p.take_profit),
        "swap": _dec(p.swap),
        "commission": _dec(p.commission),
        "margin": _dec(p.margin),
        "book": p.book,
        "venue": p.venue or None,
        "openTime": _iso(p.opened_at),
    }


def ledger_to_json(e: LedgerEntry) -> dict[str, Any]:
    return {
        "ledgerId": e.ledger_id,
        "accountId": e.account_id,
        "type": e.type,
        "amount": fmt(e.amount),
        "balanceBefore": fmt(e.balance_before),
        "balanceAfter": fmt(e.balance_after),
        "currency": e.currency,
        "reference": e.reference or None,
        "note": e.note or None,
        "method": e.method or None,
        "createdAt": _iso(e.created_at),
    }


def withdrawal_to_json(w: Withdrawal) -> dict[str, Any]:
    return {
        "withdrawalId": w.withdrawal_id,
        "accountId": w.account_id,
        "amount": fmt(w.amount),
        "currency": w.currency,
        "method": w.method,
        "reference": w.reference or None,
        "note": w.note or None,
        "requestId": w.request_id,
        "requestedBy": w.requested_by,
        "status": w.status.value,
        "decidedBy": w.decided_by,
        "decidedAt": _iso(w.decided_at),
        "reason": w.reason or None,
        "holdId": w.hold_id,
        "ledgerId": w.ledger_id,
        "createdAt": _iso(w.created_at),
    }


def withdrawal_result_to_json(r: WithdrawalResult) -> dict[str, Any]:
    """A withdrawal call's answer: the withdrawal, its ledger entry once approved, replayed."""
    return {
        "withdrawal": withdrawal_to_json(r.withdrawal),
        "entry": ledger_to_json(r.entry) if r.entry is not None else None,
        "replayed": r.replayed,
    }


# --- liquidity providers -------------------------------------------------------------------------


def _ms(value: timedelta | None) -> str | None:
    return str(round(value.total_seconds() * 1000, 3)) if value is not None else None


def lp_definition_to_json(d: LpDefinition) -> dict[str, Any]:
    """How an LP is reached and traded with (what POST / PUT /admin/lps take)."""
    return {
        "id": d.name,
        "host": d.host,
        "port": d.port,
        "senderCompId": d.sender_comp_id,
        "targetCompId": d.target_comp_id,
        "symbols": list(d.symbols),
        "symbolMap": dict(sorted(d.symbol_map.items())),
        "orderStyle": d.order_style or None,
        "qtyUnit": d.qty_unit or None,
        "limitSlippage": _dec(d.limit_slippage),
        "orderTimeoutSeconds": (
            None if d.order_timeout is None else str(d.order_timeout.total_seconds())
        ),
        "resetOnLogon": d.reset_on_logon,
        "marketDepth": d.market_depth,
        "heartbeatSeconds": d.heartbeat_seconds or None,
    }


def lp_figures_to_json(h: LpHealthFigures | None) -> dict[str, Any] | None:
    if h is None:
        return None
    return {
        "outcomes": h.outcomes,
        "fills": h.fills,
        "rejects": h.rejects,
        "timeouts": h.timeouts,
        "rejectRatio": _dec(h.reject_ratio),
        "medianFillLatencyMs": _ms(h.median_fill_latency),
        "degraded": h.degraded,
        "degradedReason": h.degraded_reason or None,
        "windowSeconds": None if h.window is None else h.window.total_seconds(),
    }


def lp_to_json(s: LpSession) -> dict[str, Any]:
    """An LP as the LP list shows it (one FIX session per LP): its definition, its switch and
    source, its session, and its health (recent outcomes, today's fills and rejects)."""
    definition = lp_definition_to_json(s.definition) if s.definition is not None else {}
    return {
        **definition,
        "id": s.name,
        "name": s.name,
        "type": s.lp_type or "FIX",
        "enabled": s.lp_enabled,
        "source": s.source or None,
        "connected": s.logged_on,
        "sessionUp": s.state not in (None, "DISCONNECTED"),
        "healthy": s.healthy,
        "degraded": s.health.degraded if s.health is not None else False,
        "health": lp_figures_to_json(s.health),
        "fillsToday": s.fills_today,
        "rejectsToday": s.rejects_today,
        "state": s.state,
        "latencyMs": _ms(s.heartbeat_rtt),
        "lastQuote": _iso(s.last_quote_at),
        "lastOrder": _iso(s.last_order_at),
        "symbols": list(s.subscribed_symbols),
        "configuredSymbols": definition.get("symbols", []),
        "ordersUnresolved": s.orders_unresolved,
        "lastError": s.last_error or None,
    }


def lp_record(s: LpSession) -> dict[str, Any]:
    """What an audit row keeps of an LP before / after an administration change."""
    definition = lp_definition_to_json(s.definition) if s.definition is not None else {}
    return {
        **definition,
        "lpId": s.name,
        "enabled": s.lp_enabled,
        "source": s.source or None,
        "state": s.state,
    }


def fix_session_to_json(s: LpSession) -> dict[str, Any]:
    """The FIX view of one LP session."""
    return {
        **lp_to_json(s),
        "sessionId": s.session_id,
        "lastMessage": _iso(s.last_message_at),
        "logonTime": _iso(s.logon_at),
        "lastErrorTime": _iso(s.last_error_at),
        "reconnectAttempts": s.reconnect_attempts,
        "ticksReceived": s.ticks_received,
        "messagesIn": dict(sorted(s.messages_in.items())),
        "messagesOut": dict(sorted(s.messages_out.items())),
        "nextSenderSeqNum": s.next_sender_seq_num,
        "nextTargetSeqNum": s.next_target_seq_num,
    }


def lp_state(s: LpSession) -> dict[str, Any]:
    """What an audit row keeps of an LP session before / after a switch."""
    return {"lpId": s.name, "state": s.state, "connected": s.logged_on}


def exposure_to_json(e: SymbolExposure) -> dict[str, Any]:
    return {
        "symbol": e.symbol,
        "netVolume": fmt(e.net_volume),
        "notionalUsd": fmt(e.notional_usd),
        "avgPrice": _dec(e.avg_price),
        "realizedPnlUsd": _dec(e.realized_pnl_usd),
        "unrealizedPnlUsd": _dec(e.unrealized_pnl_usd),
        "clientNetVolume": _dec(e.client_net_volume),
        "hedgeNetVolume": _dec(e.hedge_net_volume),
    }


def lp_feed_to_json(f: LpFeed) -> dict[str, Any]:
    return {
        "lpId": f.lp,
        "symbol": f.symbol,
        "ticksLastMinute": f.ticks_last_minute,
        "ticksTotal": f.ticks_total,
        "droppedByReason": dict(sorted(f.dropped_by_reason.items())),
        "droppedTotal": f.dropped_total,
        "latencyP50Ms": f.latency_p50_ms,
        "latencyP99Ms": f.latency_p99_ms,
        "lastTickAt": _iso(f.last_tick_at),
        "streamingSince": _iso(f.streaming_since),
    }


def _trader_to_json(t: TraderResult) -> dict[str, Any]:
    return {
        "accountId": t.account_id,
        "login": t.login,
        "group": t.client_group or None,
        "currency": t.currency,
        "net": fmt(t.net),
        "netUsd": _dec(t.net_usd),
        "trades": t.deals,
        "volumeLots": fmt(t.lots),
    }


def top_traders_to_json(t: TopTraders) -> dict[str, Any]:
    return {
        "since": _iso(t.since),
        "winners": [_trader_to_json(r) for r in t.winners],
        "losers": [_trader_to_json(r) for r in t.losers],
    }


def margin_watch_to_json(e: MarginWatchEntry) -> dict[str, Any]:
    return {
        "accountId": e.account_id,
        "login": e.login,
        "group": e.client_group or None,
        "currency": e.currency,
        "balance": fmt(e.balance),
        "equity": fmt(e.equity),
        "margin": fmt(e.margin),
        "marginLevel": _dec(e.margin_level),
        "marginCallLevel": fmt(e.margin_call_level),
        "stopOutLevel": fmt(e.stop_out_level),
        "openPositions": e.open_positions,
    }


def trading_summary_to_json(s: TradingSummary) -> dict[str, Any]:
    return {
        "since": _iso(s.since),
        "ordersPlaced": s.orders_placed,
        "ordersFilled": s.orders_filled,
        "ordersRejected": s.orders_rejected,
        "trades": s.deals,
        "volumeLots": fmt(s.lots_traded),
        "activeClients": s.active_accounts,
        "openPositions": s.open_positions,
        "pendingOrders": s.working_orders,
        "byBook": [
            {
                "book": b.book,
                "trades": b.deals,
                "volumeLots": fmt(b.lots),
                "clientNet": fmt(b.client_net),
            }
            for b in s.by_book
        ],
    }


def routing_to_json(r: OrderRouting) -> dict[str, Any]:
    return {
        "orderId": r.order_id,
        "accountId": r.account_id,
        "symbol": r.symbol,
        "side": r.side,
        "volume": fmt(r.volume),
        "book": r.book,
        "routingReason": r.routing_reason,
        "level": r.level or None,
        "ruleId": r.rule_id or None,
        "configVersion": r.config_version or None,
        "aVolume": _dec(r.a_volume),
        "bVolume": _dec(r.b_volume),
        "hedgeRatio": _dec(r.hedge_ratio),
        "status": r.status,
        "rejectReason": r.reject_reason or None,
        "decidedAt": _iso(r.decided_at),
        "legs": [
            {
                "book": leg.book,
                "venue": leg.venue,
                "volume": fmt(leg.volume),
                "price": _dec(leg.price),
            }
            for leg in r.legs
        ],
        "inputs": {name: value or None for name, value in r.inputs},
        "steps": [{"level": a, "outcome": b, "detail": c or None} for a, b, c in r.steps],
    }


# --- admin users ---------------------------------------------------------------------------------


def user_to_json(user: AdminUser) -> dict[str, Any]:
    return {
        "id": user.username,
        "username": user.username,
        "role": user.role.value,
        "disabled": user.disabled,
        "createdAt": iso(user.created_at),
        "updatedAt": _iso(user.updated_at),
        "passwordChangedAt": _iso(user.password_changed_at),
    }


# --- system --------------------------------------------------------------------------------------


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
        "state": s.state,
        "loggedOn": s.logged_on,
        "healthy": s.healthy,
        "heartbeatRttMs": millis(s.heartbeat_rtt),
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
