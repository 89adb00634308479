"""Symbols and risk settings, over oms's RPCs: oms owns a symbol (and writes quotes' and router's
copies of it in the same transaction) and the risk settings; admin owns none of it.

The settings travel as oms's own messages (``fxmesh.v1.SymbolSettings``, ``SymbolSettingsChange``,
``RiskSettings``: AdminService replies with them too); this module is where they meet JSON
(camelCase, decimals as strings or numbers, never floats). Every call runs through the gate: one
role check, one audit row for a change with the symbol's (or row's) settings before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from admin.accounts import decimal_of, invalid
from admin.clients import OmsClient
from admin.domain import RequestContext
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.money import fmt
from fxmesh.reasons import Reason
from fxmesh.v1 import oms_pb2

# JSON name -> (protobuf field of SymbolSettings / SymbolSettingsChange, kind)
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


@dataclass(frozen=True, slots=True)
class SymbolsDesk:
    """Symbol and risk settings administration, each call through the gate."""

    gate: Gate
    oms: OmsClient

    async def list_symbols(
        self, ctx: RequestContext, symbol: str = ""
    ) -> list[oms_pb2.SymbolSettings]:
        target = f"symbol:{symbol}" if symbol else ""
        async with self.gate.guard(ctx, Op.SYMBOLS_LIST, target):
            return await self.oms.symbol_settings(symbol.strip().upper() if symbol else "")

    async def create(
        self, ctx: RequestContext, symbol: str, settings: SymbolInput
    ) -> oms_pb2.SymbolSettings:
        """A new symbol from a change (protobuf, or the REST body's JSON fields)."""
        async with self.gate.guard(ctx, Op.SYMBOL_CREATE, f"symbol:{symbol}") as audit:
            audit.details = _requested(settings)
            change = _change(settings)
            _, after = await self.oms.upsert_symbol(symbol_of(symbol), change, create=True)
            audit.after = symbol_to_json(after)
            return after

    async def update(
        self, ctx: RequestContext, symbol: str, settings: SymbolInput
    ) -> oms_pb2.SymbolSettings:
        """Change the given fields of a symbol (400 NO_CHANGES when none is given)."""
        async with self.gate.guard(ctx, Op.SYMBOL_UPDATE, f"symbol:{symbol}") as audit:
            audit.details = _requested(settings)
            change = _change(settings)
            if not change.ListFields():
                raise invalid("the request changes nothing", Reason.NO_CHANGES, "settings")
            before, after = await self.oms.upsert_symbol(symbol_of(symbol), change, create=False)
            audit.before = symbol_to_json(before) if before is not None else None
            audit.after = symbol_to_json(after)
            return after

    async def set_enabled(
        self, ctx: RequestContext, symbol: str, enabled: bool
    ) -> oms_pb2.SymbolSettings:
        op = Op.SYMBOL_ENABLE if enabled else Op.SYMBOL_DISABLE
        async with self.gate.guard(ctx, op, f"symbol:{symbol}") as audit:
            audit.details = {"enabled": enabled}
            before, after = await self.oms.set_symbol_enabled(symbol_of(symbol), enabled)
            audit.before = {"enabled": before.enabled}
            audit.after = {"enabled": after.enabled}
            return after

    async def risk_settings(
        self, ctx: RequestContext, group: str | None = None
    ) -> list[oms_pb2.RiskSettings]:
        """Every stored row (global first), or the effective settings of ``group``."""
        async with self.gate.guard(ctx, Op.RISK_SETTINGS_LIST):
            return await self.oms.risk_settings(group)

    async def update_risk_settings(
        self, ctx: RequestContext, group: str, settings: oms_pb2.RiskSettings | dict[str, Any]
    ) -> oms_pb2.RiskSettings:
        """Replace the global row (group '') or a group's."""
        target = f"risk-settings:{group or 'global'}"
        async with self.gate.guard(ctx, Op.RISK_SETTINGS_UPDATE, target) as audit:
            if isinstance(settings, dict):
                audit.details = {k: _text(v) for k, v in settings.items()}
                row = risk_from_json(group, settings)
            else:
                row = oms_pb2.RiskSettings()
                row.CopyFrom(settings)
                row.client_group = group
                audit.details = risk_to_json(row)
            before, after = await self.oms.set_risk_settings(row)
            audit.before = risk_to_json(before) if before is not None else None
            audit.after = risk_to_json(after)
            return after


SymbolInput = oms_pb2.SymbolSettingsChange | dict[str, Any]


def _change(settings: SymbolInput) -> oms_pb2.SymbolSettingsChange:
    return change_from_json(settings) if isinstance(settings, dict) else settings


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _requested(settings: SymbolInput) -> dict[str, Any]:
    """What a change asks for (kept in a FAILED audit row)."""
    if isinstance(settings, dict):
        return {k: _text(v) for k, v in settings.items()}
    return {"settings": _change_doc(settings)}


def _change_doc(change: oms_pb2.SymbolSettingsChange) -> dict[str, Any]:
    """What a change asks for, for a FAILED audit row."""
    doc: dict[str, Any] = {}
    for descriptor, value in change.ListFields():
        if descriptor.name == "sessions":
            doc["sessions"] = [
                [x.weekday, x.start_minute, x.end_minute] for x in change.sessions.sessions
            ]
        else:
            doc[descriptor.name] = value if not isinstance(value, Decimal) else fmt(value)
    return doc
