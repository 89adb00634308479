"""The house book's commit discipline, shared by B-book fills and C-book B legs.

The in-process house book (``bbook.BBookEngine``) applies a symbol's fills in the order they
commit: every statement that commits a house fill runs under the symbol's lock, and the fill is
booked right after the commit with no await in between (so no cancellation either).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from decimal import Decimal

import structlog

from bbook import BBookEngine, BookFill
from router.abook import AbookOrder

log = structlog.stdlib.get_logger(__name__)


class House:
    """The B-book engine and the per-symbol locks its commits take."""

    def __init__(self, engine: BBookEngine) -> None:
        self.engine = engine
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def lock(self, symbol: str) -> asyncio.Lock:
        return self._locks[symbol]

    async def commit(self, fill: BookFill, write: Callable[[], Awaitable[bool]]) -> bool:
        """Run ``write`` (the statement committing ``fill``) and book the fill if it won."""
        async with self._locks[fill.symbol]:
            won = await write()
            if won:
                self.engine.apply(fill)
        return won

    async def ensure_booked(self, fill: BookFill, order_id: str) -> None:
        """Book a committed fill this process has not booked (committed elsewhere, or its
        committer died between the commit and the booking)."""
        # The committer books under the symbol's lock: waiting for it keeps this from booking it
        # a second time.
        async with self._locks[fill.symbol]:
            if not self.engine.is_booked(fill.fill_id):
                log.warning("bbook_fill_booked_late", fill_id=fill.fill_id, order_id=order_id)
                self.engine.apply(fill)

    @staticmethod
    def leg_fill(order: AbookOrder, a_filled: Decimal) -> BookFill | None:
        """The B leg fill of a C-book order whose A leg filled ``a_filled`` (None: no B leg, or
        nothing left for it)."""
        leg = order.leg
        if leg is None:
            return None
        volume = leg.fill_volume(order.volume, a_filled)
        if volume <= 0:
            return None
        return BookFill(
            fill_id=str(uuid.uuid4()),
            order_id=order.order_id,
            account_id=order.account_id,
            symbol=order.symbol,
            client_side=order.side,
            volume=volume,
            price=leg.price,
            contract_size=order.contract_size,
            quote_to_usd_rate=leg.quote_to_usd_rate,
            filled_at=leg.priced_at,
        )
