"""The house book: the broker's net position per symbol as counterparty of B-book clients.

Pure logic, no I/O. The house takes the opposite side of every client fill: a client BUY of 1 lot
makes the house 1 lot shorter. Per symbol the book keeps the house's signed net lots, the average
price of that net position, and the house's realized P&L (in USD, converted at each fill's
quote-to-USD rate) booked when clients' fills reduce or reverse it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from fxmesh.money import quantize

ZERO = Decimal(0)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


@dataclass(frozen=True, slots=True)
class BookFill:
    """One client fill the house took the other side of."""

    fill_id: str
    order_id: str
    account_id: str
    symbol: str
    client_side: Side
    volume: Decimal  # lots, positive
    price: Decimal
    contract_size: Decimal  # units per lot
    quote_to_usd_rate: Decimal  # USD per unit of the symbol's quote currency
    filled_at: datetime

    @property
    def house_delta(self) -> Decimal:
        """Signed lots the house gains: short what the client buys, long what it sells."""
        return -self.volume if self.client_side is Side.BUY else self.volume


@dataclass(slots=True)
class SymbolPosition:
    """The house's net position in one symbol."""

    symbol: str
    net_lots: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl_usd: Decimal = ZERO
    contract_size: Decimal = Decimal(1)
    quote_to_usd_rate: Decimal = Decimal(1)
    fills: int = 0

    def apply(self, fill: BookFill) -> Decimal:
        """Apply a fill; return the house P&L (USD) it realized."""
        if fill.symbol != self.symbol:
            raise ValueError(f"fill for {fill.symbol} applied to the {self.symbol} book")
        self.contract_size = fill.contract_size
        self.quote_to_usd_rate = fill.quote_to_usd_rate
        self.fills += 1
        delta = fill.house_delta
        realized = ZERO
        if self.net_lots == 0 or (self.net_lots > 0) == (delta > 0):
            # Opening or adding: volume-weighted average price.
            size = abs(self.net_lots)
            self.avg_price = (size * self.avg_price + abs(delta) * fill.price) / (size + abs(delta))
            self.net_lots += delta
            return realized
        closed = min(abs(delta), abs(self.net_lots))
        direction = 1 if self.net_lots > 0 else -1
        realized = (
            closed
            * (fill.price - self.avg_price)
            * direction
            * fill.contract_size
            * fill.quote_to_usd_rate
        )
        self.realized_pnl_usd += realized
        self.net_lots += delta
        if self.net_lots == 0:
            self.net_lots = ZERO  # never "-0"
            self.avg_price = ZERO
        elif (self.net_lots > 0) != (direction > 0):
            # Reversed: the remainder opens at the fill price.
            self.avg_price = fill.price
        return realized

    def mark_price(self, bid: Decimal, ask: Decimal) -> Decimal:
        """Price the house would close at: a long sells at the bid, a short buys at the ask."""
        return bid if self.net_lots >= 0 else ask

    def unrealized_pnl_usd(self, bid: Decimal, ask: Decimal) -> Decimal:
        """House P&L of the open net position at the current quote, in USD."""
        if self.net_lots == 0:
            return ZERO
        price = self.mark_price(bid, ask)
        return (
            (price - self.avg_price) * self.net_lots * self.contract_size * self.quote_to_usd_rate
        )

    def notional_usd(self, price: Decimal | None = None) -> Decimal:
        """|net lots| x contract size x price x quote-to-USD rate, rounded to cents.

        ``price`` defaults to the position's average price (when no quote is at hand).
        """
        mark = self.avg_price if price is None else price
        return quantize(abs(self.net_lots) * self.contract_size * mark * self.quote_to_usd_rate, 2)


@dataclass(slots=True)
class HouseBook:
    """Every symbol's house position, built by applying fills in order."""

    positions: dict[str, SymbolPosition] = field(default_factory=dict)
    fill_ids: set[str] = field(default_factory=set)

    def apply(self, fill: BookFill) -> Decimal:
        """Apply a fill once (a repeated fill id is an error); return the realized USD P&L."""
        if fill.fill_id in self.fill_ids:
            raise ValueError(f"fill {fill.fill_id} already applied")
        position = self.positions.get(fill.symbol)
        if position is None:
            position = self.positions[fill.symbol] = SymbolPosition(fill.symbol)
        realized = position.apply(fill)
        self.fill_ids.add(fill.fill_id)
        return realized

    def position(self, symbol: str) -> SymbolPosition:
        """The position of ``symbol`` (flat if the house never traded it)."""
        return self.positions.get(symbol) or SymbolPosition(symbol)

    def net_lots(self, symbol: str) -> Decimal:
        return self.position(symbol).net_lots

    def symbols(self) -> list[str]:
        return sorted(self.positions)
