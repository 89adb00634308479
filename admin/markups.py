"""Client group markups: quotes owns ``quotes.group_markups``; admin lists and changes them through
quotes's group markup RPCs (``admin.markups_clients``), role-guarded and audited with before /
after (``admin.gate``).

A markup's document (REST bodies and answers, audit rows): ``{clientGroup, symbol, unit
POINTS|PERCENT, markupBid, markupAsk, minSpreadPoints, updateTime}``, decimals as strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from admin.domain import RequestContext
from admin.gate import Gate
from admin.permissions import Op

Doc = dict[str, Any]


@dataclass(frozen=True, slots=True)
class GroupMarkup:
    """One group's own markup on one symbol, as quotes keeps it (values as quotes judges them)."""

    client_group: str
    symbol: str
    unit: str
    """POINTS or PERCENT ("" when not given: quotes refuses it)."""
    markup_bid: str
    markup_ask: str
    min_spread_points: int = 0
    update_time: datetime | None = None


def markup_doc(markup: GroupMarkup) -> Doc:
    """A markup as the REST API shows it and the audit log keeps it."""
    stamp = markup.update_time
    return {
        "clientGroup": markup.client_group,
        "symbol": markup.symbol,
        "unit": markup.unit,
        "markupBid": markup.markup_bid,
        "markupAsk": markup.markup_ask,
        "minSpreadPoints": markup.min_spread_points,
        "updateTime": stamp.isoformat().replace("+00:00", "Z") if stamp is not None else None,
    }


class MarkupsBackend(Protocol):
    """quotes's group markup RPCs (``admin.markups_clients.QuotesMarkups``)."""

    async def list(self, group: str, symbol: str) -> list[GroupMarkup]: ...

    async def set(
        self, markup: GroupMarkup, request_id: str
    ) -> tuple[GroupMarkup | None, GroupMarkup]: ...

    async def delete(self, group: str, symbol: str, request_id: str) -> GroupMarkup: ...


class MarkupsDesk:
    """List, set and delete group markups in quotes."""

    def __init__(self, gate: Gate, quotes: MarkupsBackend) -> None:
        self._gate = gate
        self._quotes = quotes

    async def list(
        self, ctx: RequestContext, group: str = "", symbol: str = ""
    ) -> list[GroupMarkup]:
        async with self._gate.guard(ctx, Op.MARKUPS_LIST):
            return await self._quotes.list(group.strip(), symbol.strip().upper())

    async def set(self, ctx: RequestContext, markup: GroupMarkup) -> GroupMarkup:
        target = f"markup:{markup.client_group.strip()}/{markup.symbol.strip().upper()}"
        async with self._gate.guard(ctx, Op.MARKUP_SET, target) as audit:
            audit.details = markup_doc(markup)
            before, after = await self._quotes.set(markup, ctx.request_id)
            audit.before = markup_doc(before) if before is not None else None
            audit.after = markup_doc(after)
            return after

    async def delete(self, ctx: RequestContext, group: str, symbol: str) -> GroupMarkup:
        group, symbol = group.strip(), symbol.strip().upper()
        async with self._gate.guard(ctx, Op.MARKUP_DELETE, f"markup:{group}/{symbol}") as audit:
            removed = await self._quotes.delete(group, symbol, ctx.request_id)
            audit.before = markup_doc(removed)
            audit.after = None
            return removed
