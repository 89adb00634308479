"""What oms keeps: positions, deals, fills and ledger entries as plain values.

The store modules (``oms.store``) read and write them; the use cases (``oms.trading``) change them
with ``dataclasses.replace``. Orders and accounts, which carry rules, live in ``oms.domain.model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fxmesh.money import ZERO
from oms.domain.model import (
    AccountId,
    CloseReason,
    DealEntry,
    OpenPosition,
    OrderId,
    PositionId,
    Side,
)

__all__ = ["DealRow", "Fill", "LedgerRow", "PositionRow", "SwapPosition"]


@dataclass(frozen=True, slots=True)
class PositionRow:
    """A position as stored; changed with ``dataclasses.replace`` and written with ``update``."""

    position_id: PositionId
    account_id: AccountId
    symbol: str
    side: Side
    volume: Decimal
    open_price: Decimal
    stop_loss: Decimal | None
    take_profit: Decimal | None
    commission: Decimal
    swap: Decimal
    open_order_id: OrderId
    opened_at: datetime
    trailing_distance_points: int = 0
    trailing_step_points: int = 0
    realized_pnl: Decimal = ZERO
    closed_at: datetime | None = None
    close_price: Decimal | None = None
    close_reason: CloseReason | None = None
    book: str = "B"
    """Who holds the risk: the book of the opening fill ("A", "B")."""
    venue: str = "BBOOK"
    """The venue of the opening fill: "BBOOK" or an LP session name; closes are sent there."""
    venue_order_id: str | None = None
    """The venue's order id of the opening fill (an LP's OrderID)."""

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def as_open(self) -> OpenPosition:
        return OpenPosition(self.position_id, self.symbol, self.side, self.volume, self.open_price)


@dataclass(frozen=True, slots=True)
class DealRow:
    deal_id: int
    order_id: OrderId | None
    position_id: PositionId
    account_id: AccountId
    symbol: str
    side: Side
    entry: DealEntry
    volume: Decimal
    price: Decimal
    commission: Decimal
    swap: Decimal
    realized_pnl: Decimal
    venue: str
    book: str | None
    fill_id: str
    deal_time: datetime
    reason: CloseReason
    magic: int = 0  # of the order that made the deal
    comment: str = ""


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of an order: as the venue reported it (the router's answer), or as applied (read
    back from its deal, ``Fill.of``). A deal does not keep the venue's order id and price, so a
    fill read back carries their defaults."""

    fill_id: str
    price: Decimal
    volume: Decimal
    book: str | None
    venue: str
    fill_time: datetime
    venue_order_id: str = ""
    """The venue's own order id (an LP's OrderID); empty for the B-book."""
    venue_price: Decimal | None = None
    """The venue's price before the broker's markup (A-book); None for the B-book."""

    @staticmethod
    def of(deal: DealRow) -> Fill:
        return Fill(deal.fill_id, deal.price, deal.volume, deal.book, deal.venue, deal.deal_time)


@dataclass(frozen=True, slots=True)
class LedgerRow:
    ledger_id: int
    account_id: AccountId
    type: str
    amount: Decimal
    balance_before: Decimal
    balance_after: Decimal
    currency: str
    deal_id: int | None
    reference: str | None
    note: str | None
    request_id: str | None
    created_at: datetime
    method: str | None = None
    """How the money moved (BANK_TRANSFER, CRYPTO, CARD, ...); None for trading rows."""


@dataclass(frozen=True, slots=True)
class SwapPosition:
    """An open position due a swap at one rollover."""

    position_id: PositionId
    symbol: str
    side: Side
    volume: Decimal
