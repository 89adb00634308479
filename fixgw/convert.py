"""The only place fixgw converts between protobuf and its domain objects."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import ValidationError

from fixgw.config import LpConfig
from fixgw.domain import RawTick
from fixgw.lphealth import HealthFigures
from fixgw.service import LpSource, SessionStatus, SessionView
from fxmesh.errors import InvalidArgument
from fxmesh.reasons import Reason
from fxmesh.v1 import fixgw_pb2, types_pb2

LP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RATIO_PLACES = Decimal("0.0001")
# LpConfig fields only the settings set (file paths, parser strictness): an update keeps them.
SETTINGS_ONLY = (
    "data_dictionary",
    "validate_user_defined_fields",
    "allow_unknown_msg_fields",
    "validate_fields_out_of_order",
    "validate_fields_have_values",
)


def timestamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def tick_to_proto(tick: RawTick) -> types_pb2.Quote:
    """A raw LP tick as a Quote; prices travel as their exact decimal strings."""
    return types_pb2.Quote(
        symbol=tick.symbol,
        bid=str(tick.bid),
        ask=str(tick.ask),
        quote_time=timestamp(tick.lp_time),
        source=tick.source,
        bid_levels=[types_pb2.PriceLevel(price=str(p), size=str(n)) for p, n in tick.bid_levels],
        ask_levels=[types_pb2.PriceLevel(price=str(p), size=str(n)) for p, n in tick.ask_levels],
    )


_STATE = {
    SessionStatus.DISCONNECTED: fixgw_pb2.SESSION_STATE_DISCONNECTED,
    SessionStatus.CONNECTING: fixgw_pb2.SESSION_STATE_CONNECTING,
    SessionStatus.LOGGED_ON: fixgw_pb2.SESSION_STATE_LOGGED_ON,
    SessionStatus.FAILED: fixgw_pb2.SESSION_STATE_FAILED,
}


_SOURCE = {
    LpSource.SETTINGS: fixgw_pb2.LP_SOURCE_SETTINGS,
    LpSource.ADMIN: fixgw_pb2.LP_SOURCE_ADMIN,
}


def health_to_proto(h: HealthFigures, window_seconds: float) -> fixgw_pb2.LpHealth:
    msg = fixgw_pb2.LpHealth(
        outcomes=h.outcomes,
        fills=h.fills,
        rejects=h.rejects,
        timeouts=h.timeouts,
        reject_ratio="" if h.reject_ratio is None else str(h.reject_ratio.quantize(RATIO_PLACES)),
        degraded=h.degraded,
        degraded_reason=h.reason,
    )
    if h.median_fill_latency is not None:
        msg.median_fill_latency.FromTimedelta(timedelta(seconds=h.median_fill_latency))
    msg.window.FromTimedelta(timedelta(seconds=window_seconds))
    return msg


def definition_to_proto(c: LpConfig) -> fixgw_pb2.LpDefinition:
    msg = fixgw_pb2.LpDefinition(
        name=c.name,
        host=c.host,
        port=c.port,
        sender_comp_id=c.sender_comp_id,
        target_comp_id=c.target_comp_id,
        symbols=list(c.symbols or []),
        symbol_map=dict(c.symbol_map),
        order_style=c.order_style.value,
        qty_unit=c.qty_unit.value,
        limit_slippage=str(c.limit_slippage),
        reset_on_logon=c.reset_on_logon,
        market_depth=c.market_depth,
        heartbeat_seconds=c.heartbeat_seconds or 0,
    )
    msg.order_timeout.FromTimedelta(timedelta(seconds=c.order_timeout_seconds))
    return msg


def _invalid(message: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, reason=Reason.INVALID_LP_CONFIG, metadata={"field": field})


def lp_config_from_proto(msg: fixgw_pb2.LpDefinition, current: LpConfig | None = None) -> LpConfig:
    """An LP definition as the gateway's LpConfig (INVALID_ARGUMENT INVALID_LP_CONFIG naming the
    field). Settings-only fields (data dictionary, validation flags) are kept from ``current``."""
    if not LP_ID.match(msg.name):
        raise _invalid("name must be 1..64 letters, digits, '_', '.' or '-'", "name")
    fields: dict[str, Any] = {
        "name": msg.name,
        "host": msg.host.strip(),
        "port": msg.port,
        "target_comp_id": msg.target_comp_id.strip(),
        "symbols": [s.strip().upper() for s in msg.symbols] or None,
        "symbol_map": {k.strip().upper(): v.strip() for k, v in msg.symbol_map.items()},
        "reset_on_logon": msg.reset_on_logon,
        "heartbeat_seconds": msg.heartbeat_seconds or None,
    }
    if msg.sender_comp_id.strip():
        fields["sender_comp_id"] = msg.sender_comp_id.strip()
    for field in ("order_style", "qty_unit", "limit_slippage"):
        if getattr(msg, field):
            fields[field] = getattr(msg, field)
    if msg.HasField("order_timeout"):
        try:
            fields["order_timeout_seconds"] = msg.order_timeout.ToTimedelta().total_seconds()
        except (ValueError, OverflowError):
            raise _invalid("order_timeout is not a valid duration", "order_timeout") from None
    if msg.HasField("market_depth"):
        fields["market_depth"] = msg.market_depth
    for field in ("host", "target_comp_id"):
        if not fields[field]:
            raise _invalid(f"{field} is required", field)
    base = {}
    if current is not None:
        dumped = current.model_dump()
        base = {k: dumped[k] for k in SETTINGS_ONLY}
    try:
        return LpConfig.model_validate({**base, **fields})
    except ValidationError as e:
        first = e.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "lp"
        raise _invalid(f"{field}: {first['msg']}", field) from None


def session_to_proto(view: SessionView, window_seconds: float = 60.0) -> fixgw_pb2.LpSession:
    """Every field of an LP session; unset timestamps and RTT stay unset."""
    msg = fixgw_pb2.LpSession(
        name=view.name,
        session_id=view.session_id,
        logged_on=view.logged_on,
        subscribed_symbols=view.subscribed_symbols,
        ticks_received=view.ticks_received,
        state=_STATE[view.state],
        last_error=view.last_error,
        reconnect_attempts=view.reconnect_attempts,
        messages_in=view.messages_in,
        messages_out=view.messages_out,
        healthy=view.healthy,
        orders_unresolved=view.orders_unresolved,
        next_sender_seq_num=view.next_sender_seq_num,
        next_target_seq_num=view.next_target_seq_num,
        definition=definition_to_proto(view.config),
        enabled=view.lp_enabled,
        source=_SOURCE[view.source],
        lp_type="FIX",
        health=health_to_proto(view.health, window_seconds),
        fills_today=view.health.fills_today,
        rejects_today=view.health.rejects_today,
    )
    for name, when in (
        ("last_message_time", view.last_message_time),
        ("last_error_time", view.last_error_time),
        ("last_order_time", view.last_order_time),
        ("last_quote_time", view.last_quote_time),
        ("logon_time", view.logon_time),
    ):
        if when is not None:
            getattr(msg, name).CopyFrom(timestamp(when))
    if view.heartbeat_rtt is not None:
        msg.heartbeat_rtt.FromTimedelta(timedelta(seconds=view.heartbeat_rtt))
    return msg
