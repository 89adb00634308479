"""The only place protobuf and admin's domain meet: admin's own messages, and the oms, fixgw and
router messages admin reads (through ``admin.clients``) and answers again in its gRPC API.

Those other services' messages convert both ways without losing a field, so AdminService answers
them exactly as oms, fixgw and router sent them (held by ``tests/unit/admin/test_admin_convert.py``).
The REST and audit JSON of the same values is in ``admin.documents``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from admin.audit import Verification
from admin.domain import (
    AccountSummary,
    AdminUser,
    AuditEntry,
    BookActivity,
    ClientAccount,
    FundsHold,
    LedgerEntry,
    LpDefinition,
    LpFeed,
    LpHealthFigures,
    LpSession,
    MarginWatchEntry,
    OrderRouting,
    Position,
    Role,
    RoutingLeg,
    SymbolExposure,
    SystemHealth,
    SystemMetrics,
    TopTraders,
    TraderResult,
    TradingSummary,
    Withdrawal,
)
from fxmesh.money import fmt
from fxmesh.v1 import admin_pb2, fixgw_pb2, oms_pb2, quotes_pb2, router_pb2, types_pb2

# --- scalars -------------------------------------------------------------------------------------


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def from_timestamp(ts: Timestamp, present: bool) -> datetime | None:
    return ts.ToDatetime(tzinfo=UTC) if present else None


def duration(value: timedelta) -> Duration:
    d = Duration()
    d.FromTimedelta(value)
    return d


def _time(message: Any, field: str) -> datetime | None:
    return from_timestamp(getattr(message, field), message.HasField(field))


def _set_time(message: Any, field: str, value: datetime | None) -> None:
    if value is not None:
        getattr(message, field).CopyFrom(timestamp(value))


def _decimal(text: str) -> Decimal | None:
    """A decimal field of another service; None when it left it empty."""
    return Decimal(text) if text else None


def _required(text: str) -> Decimal:
    """A decimal field the other service always fills (an empty one is its bug: INTERNAL)."""
    return Decimal(text)


def enum_name(enum: Any, value: int, prefix: str) -> str | None:
    """An enum value's name without ``prefix``; None for the UNSPECIFIED zero."""
    return None if value == 0 else str(enum.Name(value)).removeprefix(prefix)


def enum_value(enum: Any, prefix: str, name: str | None) -> Any:
    """The enum value named ``prefix + name``; the UNSPECIFIED zero for None."""
    return enum.Value(f"{prefix}{name}") if name else 0


# --- admin users, roles, audit -------------------------------------------------------------------


def role_to_proto(role: Role | str) -> admin_pb2.AdminRole.ValueType:
    if not role:
        return admin_pb2.ADMIN_ROLE_UNSPECIFIED
    return admin_pb2.AdminRole.Value(f"ADMIN_ROLE_{Role(role).value}")


def role_from_proto(value: admin_pb2.AdminRole.ValueType) -> Role | None:
    """The role of an AdminRole value; None for UNSPECIFIED."""
    if value == admin_pb2.ADMIN_ROLE_UNSPECIFIED:
        return None
    return Role(str(admin_pb2.AdminRole.Name(value)).removeprefix("ADMIN_ROLE_"))


def user_to_proto(user: AdminUser) -> admin_pb2.AdminUser:
    message = admin_pb2.AdminUser(
        username=user.username,
        role=role_to_proto(user.role),
        disabled=user.disabled,
        create_time=timestamp(user.created_at),
    )
    _set_time(message, "update_time", user.updated_at)
    _set_time(message, "password_change_time", user.password_changed_at)
    return message


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


def verification_to_proto(v: Verification) -> admin_pb2.VerifyAuditLogResponse:
    return admin_pb2.VerifyAuditLogResponse(
        ok=v.ok,
        checked=v.checked,
        first_broken_audit_id=v.first_broken_audit_id or 0,
        broken_reason=v.broken_reason,
        unchained=v.unchained,
        head_hash=v.head_hash,
    )


# --- oms: accounts, positions, ledger ------------------------------------------------------------


def account_from_proto(m: types_pb2.AccountInfo) -> ClientAccount:
    return ClientAccount(
        account_id=m.account_id,
        login=m.login,
        currency=m.currency,
        leverage=m.leverage,
        type=enum_name(types_pb2.AccountType, m.type, "ACCOUNT_TYPE_"),
        status=enum_name(types_pb2.AccountStatus, m.status, "ACCOUNT_STATUS_"),
        margin_mode=enum_name(types_pb2.MarginMode, m.margin_mode, "MARGIN_MODE_"),
        client_group=m.client_group,
        balance=_decimal(m.balance),
        margin_call_level=_decimal(m.margin_call_level),
        stop_out_level=_decimal(m.stop_out_level),
        negative_balance_protection=m.negative_balance_protection,
        max_open_positions=m.max_open_positions,
        max_daily_volume=_decimal(m.max_daily_volume),
        created_at=_time(m, "create_time"),
        email=m.email,
        name=m.name,
    )


def account_to_proto(a: ClientAccount) -> types_pb2.AccountInfo:
    message = types_pb2.AccountInfo(
        account_id=a.account_id,
        login=a.login,
        currency=a.currency,
        leverage=a.leverage,
        type=enum_value(types_pb2.AccountType, "ACCOUNT_TYPE_", a.type),
        status=enum_value(types_pb2.AccountStatus, "ACCOUNT_STATUS_", a.status),
        margin_mode=enum_value(types_pb2.MarginMode, "MARGIN_MODE_", a.margin_mode),
        client_group=a.client_group,
        balance=fmt(a.balance),
        margin_call_level=fmt(a.margin_call_level),
        stop_out_level=fmt(a.stop_out_level),
        negative_balance_protection=a.negative_balance_protection,
        max_open_positions=a.max_open_positions,
        max_daily_volume=fmt(a.max_daily_volume),
        email=a.email,
        name=a.name,
    )
    _set_time(message, "create_time", a.created_at)
    return message


def summary_from_proto(m: oms_pb2.GetAccountSummaryResponse) -> AccountSummary:
    return AccountSummary(
        account_id=m.account_id,
        login=m.login,
        currency=m.currency,
        leverage=m.leverage,
        type=enum_name(types_pb2.AccountType, m.type, "ACCOUNT_TYPE_"),
        status=enum_name(types_pb2.AccountStatus, m.status, "ACCOUNT_STATUS_"),
        margin_mode=enum_name(types_pb2.MarginMode, m.margin_mode, "MARGIN_MODE_"),
        balance=_required(m.balance),
        equity=_required(m.equity),
        margin=_required(m.margin),
        free_margin=_required(m.free_margin),
        margin_level=_decimal(m.margin_level),
        unrealized_pnl=_required(m.unrealized_pnl),
        as_of=_time(m, "summary_time"),
        held=_decimal(m.held),
    )


def summary_to_proto(s: AccountSummary) -> oms_pb2.GetAccountSummaryResponse:
    message = oms_pb2.GetAccountSummaryResponse(
        account_id=s.account_id,
        login=s.login,
        currency=s.currency,
        leverage=s.leverage,
        balance=fmt(s.balance),
        equity=fmt(s.equity),
        margin=fmt(s.margin),
        free_margin=fmt(s.free_margin),
        margin_level=fmt(s.margin_level),
        unrealized_pnl=fmt(s.unrealized_pnl),
        type=enum_value(types_pb2.AccountType, "ACCOUNT_TYPE_", s.type),
        status=enum_value(types_pb2.AccountStatus, "ACCOUNT_STATUS_", s.status),
        margin_mode=enum_value(types_pb2.MarginMode, "MARGIN_MODE_", s.margin_mode),
        held=fmt(s.held),
    )
    _set_time(message, "summary_time", s.as_of)
    return message


def position_from_proto(m: types_pb2.Position) -> Position:
    return Position(
        position_id=m.position_id,
        account_id=m.account_id,
        symbol=m.symbol,
        side=enum_name(types_pb2.Side, m.side, "SIDE_"),
        volume=_required(m.volume),
        open_price=_required(m.open_price),
        current_price=_decimal(m.current_price),
        profit=_decimal(m.profit),
        stop_loss=_decimal(m.stop_loss),
        take_profit=_decimal(m.take_profit),
        opened_at=_time(m, "open_time"),
        commission=_decimal(m.commission),
        swap=_decimal(m.swap),
        trailing_distance_points=m.trailing_distance_points,
        trailing_step_points=m.trailing_step_points,
        margin=_decimal(m.margin),
        close_price=_decimal(m.close_price),
        closed_at=_time(m, "close_time"),
        close_reason=enum_name(types_pb2.CloseReason, m.close_reason, "CLOSE_REASON_"),
        realized_pnl=_decimal(m.realized_pnl),
        book=enum_name(types_pb2.Book, m.book, "BOOK_"),
        venue=m.venue,
        venue_order_id=m.venue_order_id,
    )


def position_to_proto(p: Position) -> types_pb2.Position:
    message = types_pb2.Position(
        position_id=p.position_id,
        account_id=p.account_id,
        symbol=p.symbol,
        side=enum_value(types_pb2.Side, "SIDE_", p.side),
        volume=fmt(p.volume),
        open_price=fmt(p.open_price),
        current_price=fmt(p.current_price),
        profit=fmt(p.profit),
        stop_loss=fmt(p.stop_loss),
        take_profit=fmt(p.take_profit),
        commission=fmt(p.commission),
        swap=fmt(p.swap),
        trailing_distance_points=p.trailing_distance_points,
        trailing_step_points=p.trailing_step_points,
        margin=fmt(p.margin),
        close_price=fmt(p.close_price),
        close_reason=enum_value(types_pb2.CloseReason, "CLOSE_REASON_", p.close_reason),
        realized_pnl=fmt(p.realized_pnl),
        book=enum_value(types_pb2.Book, "BOOK_", p.book),
        venue=p.venue,
        venue_order_id=p.venue_order_id,
    )
    _set_time(message, "open_time", p.opened_at)
    _set_time(message, "close_time", p.closed_at)
    return message


def ledger_from_proto(m: types_pb2.LedgerEntry) -> LedgerEntry:
    return LedgerEntry(
        ledger_id=m.ledger_id,
        account_id=m.account_id,
        type=enum_name(types_pb2.LedgerEntryType, m.type, "LEDGER_ENTRY_TYPE_"),
        amount=_required(m.amount),
        balance_before=_required(m.balance_before),
        balance_after=_required(m.balance_after),
        currency=m.currency,
        deal_id=m.deal_id,
        reference=m.reference,
        note=m.note,
        created_at=_time(m, "create_time"),
        method=m.method,
    )


def ledger_to_proto(e: LedgerEntry) -> types_pb2.LedgerEntry:
    message = types_pb2.LedgerEntry(
        ledger_id=e.ledger_id,
        account_id=e.account_id,
        type=enum_value(types_pb2.LedgerEntryType, "LEDGER_ENTRY_TYPE_", e.type),
        amount=fmt(e.amount),
        balance_before=fmt(e.balance_before),
        balance_after=fmt(e.balance_after),
        currency=e.currency,
        deal_id=e.deal_id,
        reference=e.reference,
        note=e.note,
        method=e.method,
    )
    _set_time(message, "create_time", e.created_at)
    return message


def hold_from_proto(
    m: oms_pb2.FundsHold, *, entry: LedgerEntry | None, replayed: bool
) -> FundsHold:
    return FundsHold(
        hold_id=m.hold_id,
        account_id=m.account_id,
        amount=_required(m.amount),
        status=enum_name(oms_pb2.FundsHoldStatus, m.status, "FUNDS_HOLD_STATUS_"),
        entry=entry,
        replayed=replayed,
    )


def withdrawal_to_proto(w: Withdrawal) -> admin_pb2.Withdrawal:
    message = admin_pb2.Withdrawal(
        withdrawal_id=w.withdrawal_id,
        account_id=w.account_id,
        amount=fmt(w.amount),
        currency=w.currency,
        method=enum_value(admin_pb2.PaymentMethod, "PAYMENT_METHOD_", w.method or None),
        reference=w.reference,
        note=w.note,
        request_id=w.request_id,
        requested_by=w.requested_by,
        status=enum_value(admin_pb2.WithdrawalStatus, "WITHDRAWAL_STATUS_", w.status.value),
        decided_by=w.decided_by or "",
        reason=w.reason,
        hold_id=w.hold_id,
        ledger_id=w.ledger_id or "",
    )
    _set_time(message, "decide_time", w.decided_at)
    _set_time(message, "create_time", w.created_at)
    return message


# --- fixgw: LP sessions; router: house exposure --------------------------------------------------


def lp_session_from_proto(m: fixgw_pb2.LpSession) -> LpSession:
    return LpSession(
        name=m.name,
        session_id=m.session_id,
        state=enum_name(fixgw_pb2.SessionState, m.state, "SESSION_STATE_"),
        logged_on=m.logged_on,
        healthy=m.healthy,
        orders_unresolved=m.orders_unresolved,
        subscribed_symbols=tuple(m.subscribed_symbols),
        ticks_received=m.ticks_received,
        heartbeat_rtt=m.heartbeat_rtt.ToTimedelta() if m.HasField("heartbeat_rtt") else None,
        last_message_at=_time(m, "last_message_time"),
        last_quote_at=_time(m, "last_quote_time"),
        last_order_at=_time(m, "last_order_time"),
        logon_at=_time(m, "logon_time"),
        last_error=m.last_error,
        last_error_at=_time(m, "last_error_time"),
        reconnect_attempts=m.reconnect_attempts,
        messages_in=dict(m.messages_in),
        messages_out=dict(m.messages_out),
        next_sender_seq_num=m.next_sender_seq_num,
        next_target_seq_num=m.next_target_seq_num,
        definition=lp_definition_from_proto(m.definition) if m.HasField("definition") else None,
        lp_enabled=m.enabled,
        source=enum_name(fixgw_pb2.LpSource, m.source, "LP_SOURCE_") or "",
        lp_type=m.lp_type,
        health=lp_health_from_proto(m.health) if m.HasField("health") else None,
        fills_today=m.fills_today,
        rejects_today=m.rejects_today,
    )


def _duration(m: Any, name: str) -> timedelta | None:
    return getattr(m, name).ToTimedelta() if m.HasField(name) else None


def lp_definition_from_proto(m: fixgw_pb2.LpDefinition) -> LpDefinition:
    return LpDefinition(
        name=m.name,
        host=m.host,
        port=m.port,
        sender_comp_id=m.sender_comp_id,
        target_comp_id=m.target_comp_id,
        symbols=tuple(m.symbols),
        symbol_map=dict(m.symbol_map),
        order_style=m.order_style,
        qty_unit=m.qty_unit,
        limit_slippage=_decimal(m.limit_slippage),
        order_timeout=_duration(m, "order_timeout"),
        reset_on_logon=m.reset_on_logon,
        market_depth=m.market_depth if m.HasField("market_depth") else None,
        heartbeat_seconds=m.heartbeat_seconds,
    )


def lp_definition_to_proto(d: LpDefinition) -> fixgw_pb2.LpDefinition:
    m = fixgw_pb2.LpDefinition(
        name=d.name,
        host=d.host,
        port=d.port,
        sender_comp_id=d.sender_comp_id,
        target_comp_id=d.target_comp_id,
        symbols=list(d.symbols),
        symbol_map=dict(d.symbol_map),
        order_style=d.order_style,
        qty_unit=d.qty_unit,
        limit_slippage="" if d.limit_slippage is None else str(d.limit_slippage),
        reset_on_logon=d.reset_on_logon,
        heartbeat_seconds=d.heartbeat_seconds,
    )
    if d.order_timeout is not None:
        m.order_timeout.CopyFrom(duration(d.order_timeout))
    if d.market_depth is not None:
        m.market_depth = d.market_depth
    return m


def lp_health_from_proto(m: fixgw_pb2.LpHealth) -> LpHealthFigures:
    return LpHealthFigures(
        outcomes=m.outcomes,
        fills=m.fills,
        rejects=m.rejects,
        timeouts=m.timeouts,
        reject_ratio=_decimal(m.reject_ratio),
        median_fill_latency=_duration(m, "median_fill_latency"),
        degraded=m.degraded,
        degraded_reason=m.degraded_reason,
        window=_duration(m, "window"),
    )


def lp_health_to_proto(h: LpHealthFigures) -> fixgw_pb2.LpHealth:
    m = fixgw_pb2.LpHealth(
        outcomes=h.outcomes,
        fills=h.fills,
        rejects=h.rejects,
        timeouts=h.timeouts,
        reject_ratio="" if h.reject_ratio is None else str(h.reject_ratio),
        degraded=h.degraded,
        degraded_reason=h.degraded_reason,
    )
    if h.median_fill_latency is not None:
        m.median_fill_latency.CopyFrom(duration(h.median_fill_latency))
    if h.window is not None:
        m.window.CopyFrom(duration(h.window))
    return m


def lp_session_to_proto(s: LpSession) -> fixgw_pb2.LpSession:
    message = fixgw_pb2.LpSession(
        name=s.name,
        session_id=s.session_id,
        logged_on=s.logged_on,
        subscribed_symbols=s.subscribed_symbols,
        ticks_received=s.ticks_received,
        state=enum_value(fixgw_pb2.SessionState, "SESSION_STATE_", s.state),
        last_error=s.last_error,
        reconnect_attempts=s.reconnect_attempts,
        messages_in=s.messages_in,
        messages_out=s.messages_out,
        healthy=s.healthy,
        orders_unresolved=s.orders_unresolved,
        next_sender_seq_num=s.next_sender_seq_num,
        next_target_seq_num=s.next_target_seq_num,
        enabled=s.lp_enabled,
        source=enum_value(fixgw_pb2.LpSource, "LP_SOURCE_", s.source or None),
        lp_type=s.lp_type,
        fills_today=s.fills_today,
        rejects_today=s.rejects_today,
    )
    if s.definition is not None:
        message.definition.CopyFrom(lp_definition_to_proto(s.definition))
    if s.health is not None:
        message.health.CopyFrom(lp_health_to_proto(s.health))
    if s.heartbeat_rtt is not None:
        message.heartbeat_rtt.CopyFrom(duration(s.heartbeat_rtt))
    _set_time(message, "last_message_time", s.last_message_at)
    _set_time(message, "last_error_time", s.last_error_at)
    _set_time(message, "last_order_time", s.last_order_at)
    _set_time(message, "last_quote_time", s.last_quote_at)
    _set_time(message, "logon_time", s.logon_at)
    return message


def exposure_from_proto(m: router_pb2.SymbolExposure) -> SymbolExposure:
    return SymbolExposure(
        symbol=m.symbol,
        net_volume=_required(m.net_volume),
        notional_usd=_required(m.notional_usd),
        avg_price=_decimal(m.avg_price),
        realized_pnl_usd=_decimal(m.realized_pnl_usd),
        unrealized_pnl_usd=_decimal(m.unrealized_pnl_usd),
        client_net_volume=_decimal(m.client_net_volume),
        hedge_net_volume=_decimal(m.hedge_net_volume),
    )


def exposure_to_proto(e: SymbolExposure) -> router_pb2.SymbolExposure:
    return router_pb2.SymbolExposure(
        symbol=e.symbol,
        net_volume=fmt(e.net_volume),
        notional_usd=fmt(e.notional_usd),
        avg_price=fmt(e.avg_price),
        realized_pnl_usd=fmt(e.realized_pnl_usd),
        unrealized_pnl_usd=fmt(e.unrealized_pnl_usd),
        client_net_volume=fmt(e.client_net_volume),
        hedge_net_volume=fmt(e.hedge_net_volume),
    )


def lp_feed_from_proto(m: quotes_pb2.LpFeedStatistics) -> LpFeed:
    return LpFeed(
        lp=m.lp,
        symbol=m.symbol,
        ticks_last_minute=m.ticks_last_minute,
        ticks_total=m.ticks_total,
        dropped_by_reason=dict(m.dropped_by_reason),
        dropped_total=m.dropped_total,
        latency_p50_ms=m.latency_p50_ms if m.HasField("latency_p50_ms") else None,
        latency_p99_ms=m.latency_p99_ms if m.HasField("latency_p99_ms") else None,
        last_tick_at=_time(m, "last_tick_time"),
        streaming_since=_time(m, "streaming_since"),
    )


def lp_feed_to_proto(f: LpFeed) -> quotes_pb2.LpFeedStatistics:
    message = quotes_pb2.LpFeedStatistics(
        lp=f.lp,
        symbol=f.symbol,
        ticks_last_minute=f.ticks_last_minute,
        ticks_total=f.ticks_total,
        dropped_by_reason=f.dropped_by_reason,
        dropped_total=f.dropped_total,
        latency_p50_ms=f.latency_p50_ms,
        latency_p99_ms=f.latency_p99_ms,
    )
    _set_time(message, "last_tick_time", f.last_tick_at)
    _set_time(message, "streaming_since", f.streaming_since)
    return message


def _trader_from_proto(m: oms_pb2.TraderResult) -> TraderResult:
    return TraderResult(
        account_id=m.account_id,
        login=m.login,
        client_group=m.client_group,
        currency=m.currency,
        net=_required(m.net),
        net_usd=_decimal(m.net_usd),
        deals=m.deals,
        lots=_required(m.lots),
    )


def _trader_to_proto(t: TraderResult) -> oms_pb2.TraderResult:
    return oms_pb2.TraderResult(
        account_id=t.account_id,
        login=t.login,
        client_group=t.client_group,
        currency=t.currency,
        net=fmt(t.net),
        net_usd=fmt(t.net_usd),
        deals=t.deals,
        lots=fmt(t.lots),
    )


def top_traders_from_proto(m: oms_pb2.ListTopTradersResponse) -> TopTraders:
    return TopTraders(
        since=_time(m, "since"),
        winners=tuple(_trader_from_proto(t) for t in m.winners),
        losers=tuple(_trader_from_proto(t) for t in m.losers),
    )


def top_traders_to_proto(t: TopTraders) -> oms_pb2.ListTopTradersResponse:
    message = oms_pb2.ListTopTradersResponse(
        winners=[_trader_to_proto(r) for r in t.winners],
        losers=[_trader_to_proto(r) for r in t.losers],
    )
    _set_time(message, "since", t.since)
    return message


def margin_watch_from_proto(m: oms_pb2.MarginWatchEntry) -> MarginWatchEntry:
    return MarginWatchEntry(
        account_id=m.account_id,
        login=m.login,
        client_group=m.client_group,
        currency=m.currency,
        balance=_required(m.balance),
        equity=_required(m.equity),
        margin=_required(m.margin),
        margin_level=_decimal(m.margin_level),
        margin_call_level=_required(m.margin_call_level),
        stop_out_level=_required(m.stop_out_level),
        open_positions=m.open_positions,
    )


def margin_watch_to_proto(e: MarginWatchEntry) -> oms_pb2.MarginWatchEntry:
    return oms_pb2.MarginWatchEntry(
        account_id=e.account_id,
        login=e.login,
        client_group=e.client_group,
        currency=e.currency,
        balance=fmt(e.balance),
        equity=fmt(e.equity),
        margin=fmt(e.margin),
        margin_level=fmt(e.margin_level),
        margin_call_level=fmt(e.margin_call_level),
        stop_out_level=fmt(e.stop_out_level),
        open_positions=e.open_positions,
    )


def trading_summary_from_proto(m: oms_pb2.GetTradingSummaryResponse) -> TradingSummary:
    return TradingSummary(
        since=_time(m, "since"),
        orders_placed=m.orders_placed,
        orders_filled=m.orders_filled,
        orders_rejected=m.orders_rejected,
        deals=m.deals,
        lots_traded=_required(m.lots_traded),
        active_accounts=m.active_accounts,
        open_positions=m.open_positions,
        working_orders=m.working_orders,
        by_book=tuple(
            BookActivity(
                book=enum_name(types_pb2.Book, b.book, "BOOK_"),
                deals=b.deals,
                lots=_required(b.lots),
                client_net=_required(b.client_net),
            )
            for b in m.by_book
        ),
    )


def trading_summary_to_proto(s: TradingSummary) -> oms_pb2.GetTradingSummaryResponse:
    message = oms_pb2.GetTradingSummaryResponse(
        orders_placed=s.orders_placed,
        orders_filled=s.orders_filled,
        orders_rejected=s.orders_rejected,
        deals=s.deals,
        lots_traded=fmt(s.lots_traded),
        active_accounts=s.active_accounts,
        open_positions=s.open_positions,
        working_orders=s.working_orders,
        by_book=[
            oms_pb2.BookActivity(
                book=enum_value(types_pb2.Book, "BOOK_", b.book),
                deals=b.deals,
                lots=fmt(b.lots),
                client_net=fmt(b.client_net),
            )
            for b in s.by_book
        ],
    )
    _set_time(message, "since", s.since)
    return message


def routing_from_proto(m: router_pb2.ExplainResponse) -> OrderRouting:
    return OrderRouting(
        order_id=m.order_id,
        account_id=m.account_id,
        symbol=m.symbol,
        side=enum_name(types_pb2.Side, m.side, "SIDE_"),
        volume=_required(m.volume),
        book=enum_name(types_pb2.Book, m.book, "BOOK_"),
        routing_reason=m.routing_reason,
        level=m.level,
        rule_id=m.rule_id,
        config_version=m.config_version,
        a_volume=_decimal(m.a_volume),
        b_volume=_decimal(m.b_volume),
        hedge_ratio=_decimal(m.hedge_ratio),
        status=enum_name(router_pb2.ExecutionStatus, m.status, "EXECUTION_STATUS_"),
        reject_reason=m.reject_reason,
        decided_at=_time(m, "decide_time"),
        legs=tuple(
            RoutingLeg(
                book=enum_name(types_pb2.Book, leg.book, "BOOK_"),
                venue=leg.venue,
                volume=_required(leg.volume),
                price=_decimal(leg.price),
            )
            for leg in m.legs
        ),
        inputs=tuple((i.name, i.value) for i in m.inputs),
        steps=tuple((s.level, s.outcome, s.detail) for s in m.steps),
    )


def routing_to_proto(r: OrderRouting) -> router_pb2.ExplainResponse:
    message = router_pb2.ExplainResponse(
        order_id=r.order_id,
        account_id=r.account_id,
        symbol=r.symbol,
        side=enum_value(types_pb2.Side, "SIDE_", r.side),
        volume=fmt(r.volume),
        book=enum_value(types_pb2.Book, "BOOK_", r.book),
        routing_reason=r.routing_reason,
        level=r.level,
        rule_id=r.rule_id,
        config_version=r.config_version,
        a_volume=fmt(r.a_volume),
        b_volume=fmt(r.b_volume),
        hedge_ratio=fmt(r.hedge_ratio),
        status=enum_value(router_pb2.ExecutionStatus, "EXECUTION_STATUS_", r.status),
        reject_reason=r.reject_reason,
        legs=[
            router_pb2.RoutingLeg(
                book=enum_value(types_pb2.Book, "BOOK_", leg.book),
                venue=leg.venue,
                volume=fmt(leg.volume),
                price=fmt(leg.price),
            )
            for leg in r.legs
        ],
        inputs=[router_pb2.RoutingInput(name=n, value=v) for n, v in r.inputs],
        steps=[router_pb2.RoutingStep(level=a, outcome=b, detail=c) for a, b, c in r.steps],
    )
    _set_time(message, "decide_time", r.decided_at)
    return message


# --- system --------------------------------------------------------------------------------------


def _health_status(name: str) -> admin_pb2.HealthStatus.ValueType:
    return admin_pb2.HealthStatus.Value(f"HEALTH_STATUS_{name}")


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
            state=enum_value(fixgw_pb2.SessionState, "SESSION_STATE_", s.state),
            logged_on=s.logged_on,
            healthy=s.healthy,
            orders_unresolved=s.orders_unresolved,
        )
        if s.heartbeat_rtt is not None:
            session.heartbeat_rtt.CopyFrom(duration(s.heartbeat_rtt))
    return reply


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
