"""Client group markups (``quotes.group_markups``): validate, store, list.

quotes owns the table; admin changes it through QuotesService's group markup RPCs. A change is
applied by every quotes process from its next tick: the table's trigger NOTIFYs
``quotes_settings`` and ``SettingsSync`` reloads (``docs/ARCHITECTURE.md``, client groups).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from fxmesh.db import Pool
from fxmesh.errors import InvalidArgument, NotFound
from fxmesh.reasons import Reason
from quotes import repository
from quotes.domain import GroupMarkup, MarkupUnit

_GROUP = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_POINTS = Decimal("100000000")
"""Largest markup part in points the table holds (numeric(12, 4))."""


@dataclass(frozen=True, slots=True)
class GroupMarkupEntry:
    """A stored group markup."""

    client_group: str
    symbol: str
    markup: GroupMarkup
    updated_at: datetime


def _entry(row: repository.GroupMarkupRow) -> GroupMarkupEntry:
    return GroupMarkupEntry(*row)


def group_of(value: str) -> str:
    group = value.strip()
    if not group:
        raise InvalidArgument(
            "client_group is required",
            reason=Reason.MISSING_FIELD,
            metadata={"field": "client_group"},
        )
    if not _GROUP.match(group):
        raise InvalidArgument(
            "client_group is 1..64 letters, digits, '.', '_' or '-'",
            reason=Reason.INVALID_CLIENT_GROUP,
            metadata={"field": "client_group"},
        )
    return group


def symbol_of(value: str) -> str:
    symbol = value.strip().upper()
    if not symbol:
        raise InvalidArgument(
            "symbol is required", reason=Reason.MISSING_FIELD, metadata={"field": "symbol"}
        )
    return symbol


def _invalid(message: str, field: str) -> InvalidArgument:
    return InvalidArgument(message, reason=Reason.INVALID_MARKUP, metadata={"field": field})


def part_of(text: str, field: str, unit: MarkupUnit) -> Decimal:
    """A markup part: a finite decimal >= 0 of at most 4 places (below 100 for a percent)."""
    if not text.strip():
        raise InvalidArgument(
            f"{field} is required", reason=Reason.MISSING_FIELD, metadata={"field": field}
        )
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise _invalid(f"{field} is not a decimal", field) from None
    if not value.is_finite() or value < 0:
        raise _invalid(f"{field} must be a decimal >= 0", field)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise _invalid(f"{field} has more than 4 decimal places", field)
    if unit is MarkupUnit.PERCENT and value >= 100:
        raise _invalid(f"{field} is a percent below 100", field)
    if value >= MAX_POINTS:
        raise _invalid(f"{field} is too large", field)
    return value


def markup_of(unit: MarkupUnit | None, bid: str, ask: str, min_spread_points: int) -> GroupMarkup:
    """A validated group markup from its request fields."""
    if unit is None:
        raise InvalidArgument(
            "unit is required (POINTS or PERCENT)",
            reason=Reason.MISSING_FIELD,
            metadata={"field": "unit"},
        )
    if min_spread_points < 0:
        raise _invalid("min_spread_points must be >= 0", "min_spread_points")
    return GroupMarkup(
        part_of(bid, "markup_bid", unit),
        part_of(ask, "markup_ask", unit),
        unit,
        min_spread_points,
    )


class GroupMarkups:
    """The group markup use cases, on the quotes database."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def list(self, group: str = "", symbol: str = "") -> list[GroupMarkupEntry]:
        rows = await repository.load_group_markups(
            self._pool,
            group=group.strip() or None,
            symbol=symbol.strip().upper() or None,
        )
        return [_entry(r) for r in rows]

    async def set(
        self, group: str, symbol: str, markup: GroupMarkup
    ) -> tuple[GroupMarkupEntry | None, GroupMarkupEntry]:
        """Insert or replace; (before, after). NOT_FOUND UNKNOWN_SYMBOL for a symbol quotes
        does not price."""
        group, symbol = group_of(group), symbol_of(symbol)
        known = await self._pool.fetchval(
            "SELECT true FROM quotes.symbol_settings WHERE symbol = $1", symbol
        )
        if not known:
            raise NotFound(
                f"unknown symbol {symbol}",
                reason=Reason.UNKNOWN_SYMBOL,
                metadata={"symbol": symbol},
            )
        before, after = await repository.upsert_group_markup(self._pool, group, symbol, markup)
        return (_entry(before) if before is not None else None), _entry(after)

    async def delete(self, group: str, symbol: str) -> GroupMarkupEntry:
        group, symbol = group_of(group), symbol_of(symbol)
        row = await repository.delete_group_markup(self._pool, group, symbol)
        if row is None:
            raise NotFound(
                f"group {group} has no markup of its own on {symbol}",
                reason=Reason.MARKUP_NOT_FOUND,
                metadata={"client_group": group, "symbol": symbol},
            )
        return _entry(row)
