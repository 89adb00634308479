"""Protobuf <-> client JSON: camelCase keys, decimals as strings, enums as short names.

Out: ``ORDER_STATUS_FILLED`` becomes ``"FILLED"``, ``BOOK_B`` becomes ``"B"``; ``*_UNSPECIFIED``,
empty strings ("not set" in fxmesh.v1) and unset timestamps become ``null``; timestamps are
RFC 3339 UTC (``edge.openapi`` documents the same shape).

In: decimal strings are checked and passed on verbatim in plain notation (never through a float),
enums from their short names, datetimes as Timestamps.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import types_pb2

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")


def enum_prefix(enum: EnumDescriptor) -> str:
    """``OrderStatus`` -> ``ORDER_STATUS_``."""
    return _CAMEL_BOUNDARY.sub("_", enum.name).upper() + "_"


def enum_name(enum: EnumDescriptor, number: int) -> str | None:
    """Short name of an enum value (None for UNSPECIFIED or unknown numbers)."""
    value = enum.values_by_number.get(number)
    if value is None or number == 0:
        return None
    prefix = enum_prefix(enum)
    return value.name[len(prefix) :] if value.name.startswith(prefix) else value.name


def timestamp_json(ts: Timestamp) -> str | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    text: str = ts.ToJsonString()
    return text


def _scalar(field: Any, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return enum_name(field.enum_type, value)
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        if field.message_type.full_name == Timestamp.DESCRIPTOR.full_name:
            return timestamp_json(value)
        return to_json(value)
    if field.type == FieldDescriptor.TYPE_STRING:
        return value or None
    if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64):
        return str(value)
    return value


def is_repeated(field: Any) -> bool:
    """Whether a field descriptor is repeated, on every supported protobuf release."""
    # protobuf >= 6 has is_repeated (and dropped label in 7); older releases only label.
    flag = getattr(field, "is_repeated", None)
    if flag is not None:
        return bool(flag)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def to_json(message: Message) -> dict[str, Any]:
    """Every field of ``message`` (set or not) in the client JSON shape."""
    doc: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if is_repeated(field):
            doc[field.json_name] = [_scalar(field, item) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(field.name):
            doc[field.json_name] = None
        else:
            doc[field.json_name] = _scalar(field, value)
    return doc


def side_from_json(side: str) -> types_pb2.Side.ValueType:
    """``"BUY"`` -> ``SIDE_BUY``."""
    return types_pb2.Side.Value(f"SIDE_{side}")


# --- client JSON -> protobuf -------------------------------------------------------------------


def decimal_text(value: str | None, field: str, *, zero_removes: bool = False) -> str:
    """A client decimal string as oms's wire text; ``""`` (not set) for None.

    Not a number, or not positive, is 400 ``INVALID_DECIMAL`` (the reason oms would give).
    ``zero_removes``: ``"0"`` is allowed and means "none / remove" (MetaTrader's SL/TP = 0).
    """
    if value is None:
        return ""
    number = parse_decimal(value, field, positive=not zero_removes)
    if zero_removes and number < 0:
        raise InvalidArgument(
            f"{field} must not be negative",
            reason=Reason.INVALID_DECIMAL,
            metadata={"field": field},
        )
    return fmt(number)


def stop_level_text(value: str | None, field: str) -> str:
    """SL/TP of a new order: ``"0"`` and omitted both mean none (``""`` for oms)."""
    text = decimal_text(value, field, zero_removes=True)
    return "" if text and Decimal(text) == 0 else text


def modify_level_text(value: str | None, field: str) -> str:
    """SL/TP of a modify: omitted is ``""`` (keep), ``"0"`` removes, else the new price."""
    text = decimal_text(value, field, zero_removes=True)
    return "0" if text and Decimal(text) == 0 else text


def timestamp_pb(moment: datetime) -> Timestamp:
    """An aware datetime as a protobuf Timestamp (UTC)."""
    ts = Timestamp()
    ts.FromDatetime(moment.astimezone(UTC))
    return ts


def time_in_force_from_json(name: str | None) -> types_pb2.TimeInForce.ValueType:
    """``"GTD"`` -> ``TIME_IN_FORCE_GTD``; None -> UNSPECIFIED (the server default)."""
    if name is None:
        return types_pb2.TIME_IN_FORCE_UNSPECIFIED
    return types_pb2.TimeInForce.Value(f"TIME_IN_FORCE_{name}")
