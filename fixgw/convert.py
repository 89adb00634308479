"""The only place fixgw converts between protobuf and its domain objects."""

from __future__ import annotations

from datetime import datetime, timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from fixgw.domain import RawTick
from fixgw.service import SessionStatus, SessionView
from fxmesh.v1 import fixgw_pb2, types_pb2


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


def session_to_proto(view: SessionView) -> fixgw_pb2.LpSession:
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
