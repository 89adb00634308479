"""Exposure limits per symbol and the hedge requests raised when the house book exceeds them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class HedgeRequest:
    """The house's net in ``symbol`` is beyond its limit; hedging ``excess_lots`` brings it back.

    ``excess_lots`` is signed like the house net: hedge by trading the opposite of it with an LP.
    """

    symbol: str
    house_net_lots: Decimal
    max_net_lots: Decimal
    excess_lots: Decimal
    fill_id: str


def check_limit(
    limits: Mapping[str, Decimal],
    symbol: str,
    before: Decimal,
    after: Decimal,
    fill_id: str,
) -> HedgeRequest | None:
    """A hedge request when a fill grew the house net beyond the symbol's limit.

    Fills that reduce exposure never raise one, even while the net is still beyond the limit.
    """
    limit = limits.get(symbol)
    if limit is None or abs(after) <= limit or abs(after) <= abs(before):
        return None
    excess = abs(after) - limit
    return HedgeRequest(symbol, after, limit, excess if after > 0 else -excess, fill_id)
