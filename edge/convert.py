"""Protobuf -> client JSON: camelCase keys, decimals as strings, enums as short names.

``ORDER_STATUS_FILLED`` becomes ``"FILLED"``, ``BOOK_B`` becomes ``"B"``; ``*_UNSPECIFIED``, empty
strings ("not set" in fxmesh.v1) and unset timestamps become ``null``; timestamps are RFC 3339 UTC.
"""

from __future__ import annotations

import re
from typing import Any

from google.protobuf.descriptor import EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

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


def _is_repeated(field: Any) -> bool:
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
        if _is_repeated(field):
            doc[field.json_name] = [_scalar(field, item) for item in value]
        elif field.type == FieldDescriptor.TYPE_MESSAGE and not message.HasField(field.name):
            doc[field.json_name] = None
        else:
            doc[field.json_name] = _scalar(field, value)
    return doc


def side_from_json(side: str) -> types_pb2.Side.ValueType:
    """``"BUY"`` -> ``SIDE_BUY``."""
    return types_pb2.Side.Value(f"SIDE_{side}")
