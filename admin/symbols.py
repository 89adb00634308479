"""Symbols and risk settings, over oms's RPCs: oms owns a symbol (and writes quotes' and router's
copies of it in the same transaction) and the risk settings; admin owns none of it.

A symbol's settings and a risk settings row are JSON documents here (camelCase, decimals as
strings: what the REST API shows and the audit log keeps; ``admin.symbols_convert`` is where they
meet oms's messages). Every call runs through the gate: one role check, one audit row for a
change with the symbol's (or the row's) settings before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from admin.accounts import invalid
from admin.clients import OmsClient
from admin.domain import RequestContext
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.reasons import Reason

Doc = dict[str, Any]


def symbol_of(value: str) -> str:
    text = (value or "").strip().upper()
    if not text:
        raise invalid("symbol is required", Reason.MISSING_FIELD, "symbol")
    return text


def _text(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _requested(values: Doc) -> Doc:
    """What a change asks for (kept in a FAILED audit row)."""
    return {k: _text(v) for k, v in values.items()}


@dataclass(frozen=True, slots=True)
class SymbolsDesk:
    """Symbol and risk settings administration, each call through the gate."""

    gate: Gate
    oms: OmsClient

    async def list_symbols(self, ctx: RequestContext, symbol: str = "") -> list[Doc]:
        """Every symbol's settings, or the one named (404 SYMBOL_NOT_FOUND)."""
        target = f"symbol:{symbol}" if symbol else ""
        async with self.gate.guard(ctx, Op.SYMBOLS_LIST, target):
            return await self.oms.symbol_settings(symbol.strip().upper() if symbol else "")

    async def create(self, ctx: RequestContext, symbol: str, values: Doc) -> Doc:
        """A new symbol from JSON fields (409 SYMBOL_ALREADY_EXISTS)."""
        async with self.gate.guard(ctx, Op.SYMBOL_CREATE, f"symbol:{symbol}") as audit:
            audit.details = _requested(values)
            _, after = await self.oms.upsert_symbol(symbol_of(symbol), values, create=True)
            audit.after = after
            return after

    async def update(self, ctx: RequestContext, symbol: str, values: Doc) -> Doc:
        """Change the given fields of a symbol (400 NO_CHANGES when none is given)."""
        async with self.gate.guard(ctx, Op.SYMBOL_UPDATE, f"symbol:{symbol}") as audit:
            audit.details = _requested(values)
            if not any(v is not None for v in values.values()):
                raise invalid("the request changes nothing", Reason.NO_CHANGES, "settings")
            before, after = await self.oms.upsert_symbol(symbol_of(symbol), values, create=False)
            audit.before = before
            audit.after = after
            return after

    async def set_enabled(self, ctx: RequestContext, symbol: str, enabled: bool) -> Doc:
        """Allow (or refuse: SYMBOL_DISABLED) new orders in a symbol."""
        op = Op.SYMBOL_ENABLE if enabled else Op.SYMBOL_DISABLE
        async with self.gate.guard(ctx, op, f"symbol:{symbol}") as audit:
            audit.details = {"enabled": enabled}
            before, after = await self.oms.set_symbol_enabled(symbol_of(symbol), enabled)
            audit.before = {"enabled": before["enabled"]}
            audit.after = {"enabled": after["enabled"]}
            return after

    async def risk_settings(self, ctx: RequestContext, group: str | None = None) -> list[Doc]:
        """Every stored row (global first), or the effective settings of ``group``."""
        async with self.gate.guard(ctx, Op.RISK_SETTINGS_LIST):
            return await self.oms.risk_settings(group)

    async def update_risk_settings(self, ctx: RequestContext, group: str, values: Doc) -> Doc:
        """Replace the global row (group '') or a group's with JSON fields (None: no limit)."""
        target = f"risk-settings:{group or 'global'}"
        async with self.gate.guard(ctx, Op.RISK_SETTINGS_UPDATE, target) as audit:
            audit.details = _requested(values)
            before, after = await self.oms.set_risk_settings(group, values)
            audit.before = before
            audit.after = after
            return after
