"""protobuf <-> domain for symbol and risk settings (``oms.domain.settings``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fxmesh.money import fmt, parse_decimal
from fxmesh.v1 import oms_pb2
from oms.domain.model import AssetClass, Session
from oms.domain.settings import RiskSettings, SymbolChange, SymbolSettings

# Change fields (proto name == domain name) by kind.
_DECIMALS = (
    "contract_size",
    "volume_min",
    "volume_max",
    "volume_step",
    "margin_percent",
    "commission_per_lot",
    "swap_long_points",
    "swap_short_points",
)
_STRINGS = ("description", "base_currency", "quote_currency", "commission_currency")
_INTS = (
    "digits",
    "swap_triple_weekday",
    "stops_level_points",
    "default_deviation_points",
    "spread_markup_points",
    "max_spread_points",
)
_BOOLS = ("enabled", "bbook_enabled")


def _asset_class(value: int) -> AssetClass:
    return AssetClass(oms_pb2.AssetClass.Name(value).removeprefix("ASSET_CLASS_"))  # type: ignore[arg-type]


def settings_to_proto(s: SymbolSettings) -> oms_pb2.SymbolSettings:
    return oms_pb2.SymbolSettings(
        symbol=s.symbol,
        description=s.description,
        asset_class=oms_pb2.AssetClass.Value(f"ASSET_CLASS_{s.asset_class.value}"),
        base_currency=s.base_currency,
        quote_currency=s.quote_currency,
        digits=s.digits,
        contract_size=fmt(s.contract_size),
        volume_min=fmt(s.volume_min),
        volume_max=fmt(s.volume_max),
        volume_step=fmt(s.volume_step),
        margin_percent=fmt(s.margin_percent),
        commission_per_lot=fmt(s.commission_per_lot),
        commission_currency=s.commission_currency,
        swap_long_points=fmt(s.swap_long_points),
        swap_short_points=fmt(s.swap_short_points),
        swap_triple_weekday=s.swap_triple_weekday,
        sessions=[
            oms_pb2.SymbolTradingSession(
                weekday=x.weekday, start_minute=x.start_minute, end_minute=x.end_minute
            )
            for x in s.sessions
        ],
        stops_level_points=s.stops_level_points,
        default_deviation_points=s.default_deviation_points,
        enabled=s.enabled,
        spread_markup_points=s.spread_markup_points,
        max_spread_points=s.max_spread_points,
        bbook_enabled=s.bbook_enabled,
        max_quote_age_ms=s.max_quote_age_ms or 0,
    )


def change_from_proto(symbol: str, change: oms_pb2.SymbolSettingsChange) -> SymbolChange:
    """The fields the message carries; decimals parsed (INVALID_DECIMAL / MISSING_FIELD)."""
    values: dict[str, Any] = {}
    for name in _DECIMALS:
        if change.HasField(name):  # type: ignore[arg-type]
            values[name] = parse_decimal(getattr(change, name), name)
    for name in (*_STRINGS, *_INTS, *_BOOLS):
        if change.HasField(name):  # type: ignore[arg-type]
            values[name] = getattr(change, name)
    for name in ("base_currency", "quote_currency", "commission_currency"):
        if name in values:
            values[name] = values[name].strip().upper()
    if change.asset_class:
        values["asset_class"] = _asset_class(change.asset_class)
    if change.HasField("sessions"):
        values["sessions"] = tuple(
            Session(x.weekday, x.start_minute, x.end_minute) for x in change.sessions.sessions
        )
    if change.HasField("max_quote_age_ms"):
        values["max_quote_age_ms"] = change.max_quote_age_ms or None
    return SymbolChange(symbol.strip().upper(), values)


def _dec(text: str, name: str) -> Decimal | None:
    return parse_decimal(text, name) if text.strip() else None


def risk_from_proto(r: oms_pb2.RiskSettings) -> RiskSettings:
    return RiskSettings(
        client_group=r.client_group.strip(),
        margin_call_level=_dec(r.margin_call_level, "margin_call_level"),
        stop_out_level=_dec(r.stop_out_level, "stop_out_level"),
        max_leverage=r.max_leverage or None,
        max_position_size=_dec(r.max_position_size, "max_position_size"),
        max_daily_volume=_dec(r.max_daily_volume, "max_daily_volume"),
        max_open_positions=r.max_open_positions or None,
    )


def risk_to_proto(r: RiskSettings) -> oms_pb2.RiskSettings:
    return oms_pb2.RiskSettings(
        client_group=r.client_group,
        margin_call_level=fmt(r.margin_call_level),
        stop_out_level=fmt(r.stop_out_level),
        max_leverage=r.max_leverage or 0,
        max_position_size=fmt(r.max_position_size),
        max_daily_volume=fmt(r.max_daily_volume),
        max_open_positions=r.max_open_positions or 0,
    )
