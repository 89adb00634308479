"""Symbols (``/admin/symbols``) and risk settings (``/admin/risk-settings``), over oms.

A symbol change lands in oms, quotes and router in one transaction or not at all, and applies to
the next order or tick. Unknown symbol: 404 SYMBOL_NOT_FOUND; bad values: 400 with the field's
code (INVALID_FIELD, INVALID_DECIMAL, ...); unknown fields: 422 UNKNOWN_FIELD.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, read_body

router = APIRouter(tags=["symbols"])
Num = Decimal | str
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
AssetClassName = Literal["FX", "METAL", "CRYPTO", "INDEX", "COMMODITY", "STOCK", "ENERGY"]


class SessionBody(Body):
    weekday: int = Field(ge=1, le=7)
    from_: str = Field(alias="from", pattern=r"^\d{2}:\d{2}$")
    to: str = Field(pattern=r"^\d{2}:\d{2}$")


class SymbolSettingsBody(Body):
    """Fields to set; absent or null: unchanged (on create: the default)."""

    description: str | None = Field(None, max_length=200)
    asset_class: AssetClassName | None = None
    base_currency: str | None = Field(None, max_length=8)
    quote_currency: str | None = Field(None, max_length=3)
    digits: Int32 | None = None
    contract_size: Num | None = None
    volume_min: Num | None = None
    volume_max: Num | None = None
    volume_step: Num | None = None
    margin_percent: Num | None = None
    commission_per_lot: Num | None = None
    commission_currency: str | None = Field(None, max_length=3)
    swap_long: Num | None = None
    swap_short: Num | None = None
    triple_swap_day: Int32 | None = None
    trading_sessions: list[SessionBody] | None = None
    stops_level: Int32 | None = None
    default_deviation: Int32 | None = None
    enabled: bool | None = None
    spread_markup: Int32 | None = None
    max_spread: Int32 | None = None
    bbook_enabled: bool | None = None
    max_quote_age_ms: Int32 | None = None
    request_id: str | None = Field(None, max_length=64)

    def values(self) -> dict[str, Any]:
        data = self.model_dump(by_alias=True, exclude={"request_id"}, exclude_none=True)
        data.pop("requestId", None)
        return data


class CreateSymbolBody(SymbolSettingsBody):
    symbol: str = Field(min_length=1, max_length=32)

    def values(self) -> dict[str, Any]:
        data = super().values()
        data.pop("symbol", None)
        return data


class RiskSettingsBody(Body):
    """The whole row: null or absent is "inherit the global value" (a group) / "no limit"."""

    group: str | None = Field(None, max_length=64)
    margin_call_level: Num | None = None
    stop_out_level: Num | None = None
    max_leverage: int | None = None
    max_position_size: Num | None = None
    max_daily_volume: Num | None = None
    max_open_positions: int | None = None
    request_id: str | None = Field(None, max_length=64)

    def values(self) -> dict[str, Any]:
        data = self.model_dump(by_alias=True, exclude={"request_id", "group"})
        data.pop("requestId", None)
        return data


def _doc(body: type[BaseModel]) -> dict[str, Any]:
    return body_schema(body)


@router.get("/admin/symbols")
async def list_symbols(ctx: Ctx, service: Service, symbol: str = "") -> dict[str, Any]:
    """Every symbol's settings (oms, quotes and router's parts), or the one named."""
    found = await service.symbols.list_symbols(ctx, symbol)
    return {"symbols": found}


@router.get("/admin/symbols/{symbol}")
async def get_symbol(symbol: str, ctx: Ctx, service: Service) -> dict[str, Any]:
    """One symbol's settings (404 SYMBOL_NOT_FOUND)."""
    [found] = await service.symbols.list_symbols(ctx, symbol)
    return {"symbol": found}


@router.post("/admin/symbols", status_code=201, openapi_extra=_doc(CreateSymbolBody))
async def create_symbol(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """A new symbol (409 SYMBOL_ALREADY_EXISTS): assetClass, baseCurrency, quoteCurrency, digits,
    contractSize, volumeMin / Max / Step are required."""
    body = await read_body(request, service, ctx, Op.SYMBOL_CREATE, "", CreateSymbolBody)
    created = await service.symbols.create(
        ctx.with_request_id(body.request_id or ""), body.symbol, body.values()
    )
    return {"symbol": created}


async def _update(symbol: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    target = f"symbol:{symbol}"
    body = await read_body(request, service, ctx, Op.SYMBOL_UPDATE, target, SymbolSettingsBody)
    updated = await service.symbols.update(
        ctx.with_request_id(body.request_id or ""), symbol, body.values()
    )
    return {"symbol": updated}


@router.put("/admin/symbols/{symbol}", openapi_extra=_doc(SymbolSettingsBody))
async def update_symbol(
    symbol: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    """Change a symbol's settings (absent fields unchanged); 404 SYMBOL_NOT_FOUND."""
    return await _update(symbol, request, ctx, service)


@router.put("/admin/symbols/{symbol}/settings", openapi_extra=_doc(SymbolSettingsBody))
async def update_symbol_settings(
    symbol: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    """The same as PUT /admin/symbols/{symbol}."""
    return await _update(symbol, request, ctx, service)


@router.post("/admin/symbols/{symbol}/enable")
async def enable_symbol(symbol: str, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Allow new orders in the symbol."""
    return {"symbol": await service.symbols.set_enabled(ctx, symbol, True)}


@router.post("/admin/symbols/{symbol}/disable")
async def disable_symbol(symbol: str, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Refuse new orders in the symbol (SYMBOL_DISABLED); closes keep working."""
    return {"symbol": await service.symbols.set_enabled(ctx, symbol, False)}


@router.get("/admin/risk-settings")
async def list_risk_settings(
    ctx: Ctx,
    service: Service,
    group: Annotated[
        str | None,
        Query(description="A client group: its effective settings ('' = global)"),
    ] = None,
) -> dict[str, Any]:
    """Every stored row (global first), or the effective settings of ``group``."""
    rows = await service.symbols.risk_settings(ctx, group)
    return {"settings": rows}


@router.put("/admin/risk-settings", openapi_extra=_doc(RiskSettingsBody))
async def update_risk_settings(
    request: Request,
    ctx: Ctx,
    service: Service,
    group: Annotated[str | None, Query(description="A client group; absent: global")] = None,
) -> dict[str, Any]:
    """Replace the global row, or a group's (``?group=`` or ``group`` in the body)."""
    body = await read_body(
        request, service, ctx, Op.RISK_SETTINGS_UPDATE, "risk-settings", RiskSettingsBody
    )
    name = group if group is not None else (body.group or "")
    row = await service.symbols.update_risk_settings(
        ctx.with_request_id(body.request_id or ""), name, body.values()
    )
    return {"settings": row}
