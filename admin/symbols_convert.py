"""Boundary: symbol and risk settings between oms's messages and admin's JSON documents.

admin keeps a symbol's settings (and a risk settings row) as the JSON document the REST API shows
and the audit log keeps (camelCase; decimals as strings). ``admin.clients`` turns oms's replies
into these documents and a change's JSON fields into oms's ``SymbolSettingsChange``;
``admin.servicer`` turns AdminService requests into the same fields and documents back into
replies. AdminService carries oms's own messages (``fxmesh.v1.SymbolSettings``, ...).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt
from fxmesh.reasons import Reason
from fxmesh.v1 import oms_pb2


# JSON name -> (protobuf field of SymbolSettings / SymbolSettingsChange, kind)
def invalid(message: str, reason: str, field_name: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field_name})


def decimal_of(value: Any, field_name: str) -> Decimal:
    """A decimal from a JSON string or number (never a float), as ``admin.accounts`` reads
    amounts (kept here: ``admin.clients`` may not import the use cases)."""
    if isinstance(value, bool | float):
        raise invalid(f"{field_name} must be a decimal", Reason.INVALID_DECIMAL, field_name)
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise invalid(
            f"{field_name} is not a decimal: {value!r}", Reason.INVALID_DECIMAL, field_name
        ) from None
    if not number.is_finite():
        raise invalid(f"{field_name} must be finite", Reason.INVALID_DECIMAL, field_name)
    return number


FIELDS: dict[str, tuple[str, str]] = {
    "description": ("description", "str"),
    "assetClass": ("asset_class", "enum"),
    "baseCurrency": ("base_currency", "str"),
    "quoteCurrency": ("quote_currency", "str"),
    "digits": ("digits", "int"),
    "contractSize": ("contract_size", "dec"),
    "volumeMin": ("volume_min", "dec"),
    "volumeMax": ("volume_max", "dec"),
    "volumeStep": ("volume_step", "dec"),
    "marginPercent": ("margin_percent", "dec"),
    "commissionPerLot": ("commission_per_lot", "dec"),
    "commissionCurrency": ("commission_currency", "str"),
    "swapLong": ("swap_long_points", "dec"),
    "swapShort": ("swap_short_points", "dec"),
    "tripleSwapDay": ("swap_triple_weekday", "int"),
    "tradingSessions": ("sessions", "sessions"),
    "stopsLevel": ("stops_level_points", "int"),
    "defaultDeviation": ("default_deviation_points", "int"),
    "enabled": ("enabled", "bool"),
    "spreadMarkup": ("spread_markup_points", "int"),
    "maxSpread": ("max_spread_points", "int"),
    "bbookEnabled": ("bbook_enabled", "bool"),
    "maxQuoteAgeMs": ("max_quote_age_ms", "int"),
}
INT32_MAX = 2**31 - 1
ASSET_CLASSES = ("FX", "METAL", "CRYPTO", "INDEX", "COMMODITY", "STOCK", "ENERGY")
RISK_FIELDS: dict[str, tuple[str, str]] = {
    "marginCallLevel": ("margin_call_level", "dec"),
    "stopOutLevel": ("stop_out_level", "dec"),
    "maxLeverage": ("max_leverage", "int"),
    "maxPositionSize": ("max_position_size", "dec"),
    "maxDailyVolume": ("max_daily_volume", "dec"),
    "maxOpenPositions": ("max_open_positions", "int"),
}


def symbol_of(value: str) -> str:
    text = (value or "").strip().upper()
    if not text:
        raise invalid("symbol is required", Reason.MISSING_FIELD, "symbol")
    return text


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _minutes(value: Any, field_name: str) -> int:
    text = str(value or "")
    hours, sep, mins = text.partition(":")
    if not (sep and hours.isdigit() and mins.isdigit() and len(mins) == 2):
        raise invalid(
            f"{field_name} must be HH:MM, got {value!r}", Reason.INVALID_FIELD, "tradingSessions"
        )
    return int(hours) * 60 + int(mins)


def symbol_to_json(s: oms_pb2.SymbolSettings) -> dict[str, Any]:
    """A symbol's settings as the REST API shows them (and the audit log keeps them)."""
    doc: dict[str, Any] = {"symbol": s.symbol}
    for name, (attr, kind) in FIELDS.items():
        value = getattr(s, attr)
        if kind == "enum":
            doc[name] = oms_pb2.AssetClass.Name(value).removeprefix("ASSET_CLASS_")
        elif kind == "sessions":
            doc[name] = [
                {"weekday": x.weekday, "from": _hhmm(x.start_minute), "to": _hhmm(x.end_minute)}
                for x in value
            ]
        elif attr == "max_quote_age_ms":
            doc[name] = value or None
        else:
            doc[name] = value
    return doc


def change_from_json(values: dict[str, Any]) -> oms_pb2.SymbolSettingsChange:
    """A change from JSON fields (camelCase names of ``FIELDS``; None: not given)."""
    change = oms_pb2.SymbolSettingsChange()
    for name, value in values.items():
        if value is None:
            continue
        attr, kind = FIELDS[name]
        if kind == "dec":
            setattr(change, attr, fmt(decimal_of(value, name)))
        elif kind == "enum":
            text = str(value).strip().upper()
            if text not in ASSET_CLASSES:
                raise invalid(
                    f"assetClass must be one of {', '.join(ASSET_CLASSES)}",
                    Reason.INVALID_FIELD,
                    name,
                )
            change.asset_class = oms_pb2.AssetClass.Value(f"ASSET_CLASS_{text}")
        elif kind == "sessions":
            change.sessions.SetInParent()
            for item in value:
                change.sessions.sessions.add(
                    weekday=int(item["weekday"]),
                    start_minute=_minutes(item["from"], "from"),
                    end_minute=_minutes(item["to"], "to"),
                )
        else:
            setattr(change, attr, value)
    return change


def risk_to_json(r: oms_pb2.RiskSettings) -> dict[str, Any]:
    doc: dict[str, Any] = {"group": r.client_group or None}
    for name, (attr, _kind) in RISK_FIELDS.items():
        doc[name] = getattr(r, attr) or None
    return doc


def risk_from_json(group: str, values: dict[str, Any]) -> oms_pb2.RiskSettings:
    """A risk settings row from JSON (None: inherit the global value / no limit)."""
    row = oms_pb2.RiskSettings(client_group=group.strip())
    for name, value in values.items():
        if value is None:
            continue
        attr, kind = RISK_FIELDS[name]
        if kind == "dec":
            setattr(row, attr, fmt(decimal_of(value, name)))
            continue
        number = int(value)
        if not 0 < number <= INT32_MAX:
            reason = Reason.INVALID_LEVERAGE if name == "maxLeverage" else Reason.INVALID_LIMIT
            raise invalid(f"{name} must be positive, got {value}", reason, name)
        setattr(row, attr, number)
    return row


def symbol_from_json(doc: dict[str, Any]) -> oms_pb2.SymbolSettings:
    """A document (``symbol_to_json``) back as the message AdminService replies with."""
    s = oms_pb2.SymbolSettings(symbol=doc["symbol"])
    for name, (attr, kind) in FIELDS.items():
        value = doc.get(name)
        if value is None:
            continue
        if kind == "enum":
            s.asset_class = oms_pb2.AssetClass.Value(f"ASSET_CLASS_{value}")
        elif kind == "sessions":
            for item in value:
                s.sessions.add(
                    weekday=item["weekday"],
                    start_minute=_minutes(item["from"], "from"),
                    end_minute=_minutes(item["to"], "to"),
                )
        else:
            setattr(s, attr, value)
    return s


def change_to_json(change: oms_pb2.SymbolSettingsChange) -> dict[str, Any]:
    """The JSON fields an AdminService change carries (what ``change_from_json`` reads)."""
    by_attr = {attr: (name, kind) for name, (attr, kind) in FIELDS.items()}
    values: dict[str, Any] = {}
    for descriptor, value in change.ListFields():
        name, kind = by_attr[descriptor.name]
        if kind == "enum":
            values[name] = oms_pb2.AssetClass.Name(value).removeprefix("ASSET_CLASS_")
        elif kind == "sessions":
            values[name] = [
                {"weekday": x.weekday, "from": _hhmm(x.start_minute), "to": _hhmm(x.end_minute)}
                for x in change.sessions.sessions
            ]
        elif kind == "dec":
            values[name] = value  # a string; parsed (INVALID_DECIMAL) by change_from_json
        else:
            values[name] = value
    return values


def risk_values(r: oms_pb2.RiskSettings) -> dict[str, Any]:
    """The JSON fields of an AdminService risk settings row (empty / zero: None)."""
    return {name: getattr(r, attr) or None for name, (attr, _kind) in RISK_FIELDS.items()}


def risk_doc_to_proto(doc: dict[str, Any]) -> oms_pb2.RiskSettings:
    row = oms_pb2.RiskSettings(client_group=doc.get("group") or "")
    for name, (attr, _kind) in RISK_FIELDS.items():
        if doc.get(name) is not None:
            setattr(row, attr, doc[name])
    return row
