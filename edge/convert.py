"""Protobuf <-> client JSON: camelCase keys, decimals as strings, enums as short names.

Out: ``ORDER_STATUS_FILLED`` becomes ``"FILLED"``, ``BOOK_B`` becomes ``"B"``; ``*_UNSPECIFIED``,
empty strings ("not set" in fxmesh.v1) and unset timestamps become ``null``; timestamps are
RFC 3339 UTC (``edge.openapi`` documents the same shape).

In: decimal strings are checked and passed on verbatim in plain notation (never through a float),
enums from their short names, datetimes as Timestamps.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
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
    for name, json_name, convert, repeated, has_presence in _plan(message.DESCRIPTOR):
        value = getattr(message, name)
        if repeated:
            doc[json_name] = [convert(item) for item in value]
        elif has_presence and not message.HasField(name):
            doc[json_name] = None
        else:
            doc[json_name] = convert(value)
    return doc


# (field name, JSON name, value -> JSON, repeated, None when unset)
_FieldPlan = tuple[str, str, Callable[[Any], Any], bool, bool]


@functools.cache
def _plan(descriptor: Descriptor) -> tuple[_FieldPlan, ...]:
    """How ``to_json`` renders each field of a message type, worked out once per type: read
    field by field from the descriptors on every response, it was ~100 us of edge's CPU per
    placed order (an order, its fills, positions and deals: ~80 fields)."""
    return tuple(
        (
            field.name,
            field.json_name,
            _converter(field),
            is_repeated(field),
            field.type == FieldDescriptor.TYPE_MESSAGE and not is_repeated(field),
        )
        for field in descriptor.fields
    )


def _converter(field: FieldDescriptor) -> Callable[[Any], Any]:
    if field.type == FieldDescriptor.TYPE_ENUM:
        return _enum_names(field.enum_type).get
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        message_type = field.message_type
        if message_type is not None and message_type.full_name == Timestamp.DESCRIPTOR.full_name:
            return timestamp_json
        return to_json
    if field.type == FieldDescriptor.TYPE_STRING:
        return _text_or_none
    if field.type in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64):
        return str
    return _same


@functools.cache
def _enum_names(enum: EnumDescriptor) -> dict[int, str | None]:
    return {value.number: enum_name(enum, value.number) for value in enum.values}


def _text_or_none(value: str) -> str | None:
    return value or None


def _same(value: Any) -> Any:
    return value


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
