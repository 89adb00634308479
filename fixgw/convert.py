"""The only place fixgw converts between protobuf and its domain objects."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from fixgw.domain import RawTick
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
    )


def session_to_proto(
    name: str,
    session_id: str,
    logged_on: bool,
    subscribed: list[str],
    last_message_time: datetime | None,
    ticks_received: int,
) -> fixgw_pb2.LpSession:
    msg = fixgw_pb2.LpSession(
        name=name,
        session_id=session_id,
        logged_on=logged_on,
        subscribed_symbols=subscribed,
        ticks_received=ticks_received,
    )
    if last_message_time is not None:
        msg.last_message_time.CopyFrom(timestamp(last_message_time))
    return msg
