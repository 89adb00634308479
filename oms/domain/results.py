"""What oms answers: the results of its use cases and the router's answer, as plain values.

``oms.api`` turns them into protobuf; nothing here knows about the wire.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Generic, TypeVar

from oms.domain.holds import HoldRow
from oms.domain.model import Account, AccountFigures, AccountId, Order, SymbolSpec
from oms.domain.paging import Cursor
from oms.domain.records import DealRow, Fill, LedgerRow, PositionRow

__all__ = [
    "AccountSummary",
    "BalanceResult",
    "CloseByResult",
    "CloseResult",
    "CloseVenue",
    "Execution",
    "HoldResult",
    "LotResult",
    "MarginPreview",
    "Page",
    "PlaceResult",
    "PositionView",
    "Statement",
    "StoredTriggers",
    "SymbolView",
]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PositionView:
    """A position with its mark: current closing price, profit and own margin (None: no quote)."""

    row: PositionRow
    current_price: Decimal | None
    profit: Decimal | None
    margin: Decimal | None = None


# --- trading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceResult:
    order: Order
    fills: list[Fill]
    positions: list[PositionView]
    replayed: bool
    deals: list[DealRow] = field(default_factory=list)  # what the fills booked


@dataclass(frozen=True, slots=True)
class CloseResult:
    order: Order  # the closing order (REJECTED with a reason when the close was refused)
    deals: list[DealRow]
    position: PositionView  # after the close
    replayed: bool


@dataclass(frozen=True, slots=True)
class CloseByResult:
    deals: list[DealRow]
    positions: list[PositionView]


@dataclass(frozen=True, slots=True)
class TraderResult:
    """One account's trading result over a period (admin's top winners and losers)."""

    account: Account
    net: Decimal
    """Realized P&L + commission + swap, in the account currency."""
    net_usd: Decimal | None
    """``net`` in USD at the current quotes (the ranking); None when no quote converts it."""
    deals: int
    lots: Decimal


@dataclass(frozen=True, slots=True)
class MarginWatch:
    """An account whose margin level is at or near its margin-call level."""

    account: Account
    figures: AccountFigures
    open_positions: int


@dataclass(frozen=True, slots=True)
class TradingSummary:
    """The broker's activity since a moment (the start of the UTC day by default)."""

    since: datetime
    orders_placed: int
    orders_filled: int
    orders_rejected: int
    deals: int
    lots_traded: Decimal
    """Lots of every deal (opening and closing), all symbols together."""
    active_accounts: int
    """Accounts with at least one deal since ``since``."""
    open_positions: int
    working_orders: int
    """Pending orders waiting for their price now."""
    by_book: tuple[BookActivity, ...] = ()
    """The A / B / C split of the period's deals."""


@dataclass(frozen=True, slots=True)
class BookActivity:
    """One book's share of a period's deals."""

    book: str
    deals: int
    lots: Decimal
    client_net: Decimal
    """Clients' realized P&L + commission + swap on these deals, account currencies summed as
    booked (the house's result on the B-book is its opposite)."""


@dataclass(frozen=True, slots=True)
class AccountSummary:
    account: Account
    figures: AccountFigures


@dataclass(frozen=True, slots=True)
class StoredTriggers:
    """Everything the trigger books arm, as stored now (read once at start, in one snapshot)."""

    orders: list[Order]  # every WORKING order (price, stop-limit state, expiry)
    positions: list[PositionRow]  # every open position (SL, TP, trailing distance and step)
    accounts: dict[AccountId, Account]  # the accounts of those positions and orders


# --- the router's answer -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloseVenue:
    """Who holds the risk a closing order closes: the book and venue of the position."""

    book: str
    venue: str


@dataclass(frozen=True, slots=True)
class Execution:
    status: str  # FILLED | PARTIALLY_FILLED | REJECTED
    book: str | None
    routing_reason: str
    fills: list[Fill]
    reject_reason: str
    reject_message: str


# --- money, accounts and risk tools --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceResult:
    entry: LedgerRow
    replayed: bool


@dataclass(frozen=True, slots=True)
class HoldResult:
    """A funds hold after a move; ``entry`` is the WITHDRAWAL row of a captured hold."""

    hold: HoldRow
    entry: LedgerRow | None
    replayed: bool


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: Cursor | None


@dataclass(frozen=True, slots=True)
class Statement:
    account: Account
    start: datetime
    end: datetime
    opening_balance: Decimal
    closing_balance: Decimal
    totals: list[tuple[str, Decimal, int]]  # (ledger type, amount, count), in ledger type order
    deals: list[DealRow]  # oldest first
    positions: list[PositionView]
    figures: AccountFigures
    at: datetime


@dataclass(frozen=True, slots=True)
class LotResult:
    volume: Decimal  # lots, at the volume step's places; 0 when the minimum risks too much
    risk_amount: Decimal  # what ``volume`` loses at the stop, in the account currency
    margin: Decimal  # margin of ``volume`` at the entry price, in the account currency
    entry_price: Decimal
    stop_loss: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class MarginPreview:
    margin: Decimal  # additional margin the order needs (larger-leg rule)
    commission: Decimal
    free_margin_before: Decimal
    free_margin_after: Decimal
    margin_level_after: Decimal | None
    sufficient: bool
    currency: str


@dataclass(frozen=True, slots=True)
class SymbolView:
    """A symbol's contract specification and whether its trading session is open at ``at``."""

    spec: SymbolSpec
    session_open: bool


@dataclass(frozen=True, slots=True)
class VenueSplit:
    """One venue's share of a book's deals (``venue``: an LP, or BBOOK)."""

    venue: str
    book: str
    deals: int
    volume: Decimal
    client_net: Decimal


@dataclass(frozen=True, slots=True)
class BookSplit:
    """One order book's share of a period's deals (account currencies summed as booked)."""

    book: str
    deals: int
    volume: Decimal
    volume_percent: Decimal
    realized_pnl: Decimal
    commission: Decimal
    swap: Decimal
    venues: tuple[VenueSplit, ...]

    @property
    def client_net(self) -> Decimal:
        return self.realized_pnl + self.commission + self.swap
