"""What callers ask of oms: the commands and queries of its use cases, as plain values.

``oms.api`` parses requests into them (checking shape only: ids, decimals, required fields); what
depends on the symbol, the market or the account is checked by the use case that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from oms.domain.model import AccountId, OrderId, OrderType, PositionId, Side, TimeInForce
from oms.domain.paging import Cursor

__all__ = [
    "KEEP",
    "AccountChanges",
    "BalanceOperation",
    "CloseAllCommand",
    "CloseByCommand",
    "ClosePositionCommand",
    "HoldRequest",
    "Keep",
    "ListOrdersQuery",
    "LotQuery",
    "MarginQuery",
    "ModifyOrderCommand",
    "ModifyPositionCommand",
    "NewAccount",
    "PageRequest",
    "PlaceOrderCommand",
    "PriceChange",
]

# --- orders and positions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlaceOrderCommand:
    account_id: AccountId
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    volume: Decimal
    price: Decimal | None
    requested_price: Decimal | None
    deviation_points: int  # 0: the symbol's default
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    stop_limit_price: Decimal | None = None
    expire_at: datetime | None = None
    magic: int = 0  # MetaTrader's magic number; 0: none
    comment: str = ""


class Keep:
    """An update field left as it is (empty string in the request)."""


KEEP = Keep()


# A protection price change: KEEP, None (remove, "0" in the request) or the new price.
PriceChange = Decimal | None | Keep


@dataclass(frozen=True, slots=True)
class ModifyOrderCommand:
    account_id: AccountId
    order_id: OrderId
    price: Decimal | Keep
    stop_limit_price: Decimal | Keep
    stop_loss: PriceChange
    take_profit: PriceChange
    expire_at: datetime | None  # None keeps the current expiry

    @property
    def changes_nothing(self) -> bool:
        return (
            all(v is KEEP for v in (self.price, self.stop_limit_price))
            and self.stop_loss is KEEP
            and self.take_profit is KEEP
            and self.expire_at is None
        )


@dataclass(frozen=True, slots=True)
class ListOrdersQuery:
    account_id: AccountId
    history: bool  # False: the open orders
    since: datetime | None
    until: datetime | None
    size: int
    after: Cursor | None


@dataclass(frozen=True, slots=True)
class ClosePositionCommand:
    account_id: AccountId
    position_id: PositionId
    volume: Decimal | None  # None: the whole position
    client_order_id: str  # empty: the server makes one (no idempotency across retries)
    requested_price: Decimal | None
    deviation_points: int
    magic: int = 0
    comment: str = ""


@dataclass(frozen=True, slots=True)
class CloseAllCommand:
    account_id: AccountId
    symbol: str | None
    request_id: str  # empty: the server makes one


@dataclass(frozen=True, slots=True)
class CloseByCommand:
    account_id: AccountId
    position_id: PositionId
    opposite_position_id: PositionId


@dataclass(frozen=True, slots=True)
class ModifyPositionCommand:
    account_id: AccountId
    position_id: PositionId
    stop_loss: PriceChange
    take_profit: PriceChange
    trailing_distance_points: int | None  # None keeps; 0 turns trailing off
    trailing_step_points: int | None


# --- money, accounts and risk tools ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BalanceOperation:
    """A deposit, withdrawal, bonus or adjustment as requested (withdrawals positive here)."""

    account_id: AccountId
    type: str
    amount: Decimal
    request_id: str
    reference: str | None
    note: str | None
    method: str | None = None
    """How the money moved (BANK_TRANSFER, CRYPTO, CARD, ...), kept on the ledger row."""


@dataclass(frozen=True, slots=True)
class HoldRequest:
    """Funds to hold for a withdrawal awaiting approval (amount positive)."""

    account_id: AccountId
    amount: Decimal
    request_id: str
    reference: str | None
    note: str | None
    method: str | None = None


@dataclass(frozen=True, slots=True)
class NewAccount:
    login: str
    password: str
    type: str
    currency: str
    leverage: int
    margin_mode: str
    client_group: str
    initial_deposit: Decimal | None
    request_id: str | None = None
    """Idempotency key: a retry with it answers the account it opened."""
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class AccountSearch:
    """ListAccounts' filters: None matches everything."""

    text: str | None = None
    """Part of a login, email or name (case-insensitive), or an exact account id."""
    type: str | None = None
    status: str | None = None
    client_group: str | None = None
    after_id: int = 0
    """The page token: accounts with a larger id."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    start: datetime | None
    end: datetime | None
    size: int
    after: Cursor | None


@dataclass(frozen=True, slots=True)
class LotQuery:
    account_id: AccountId
    symbol: str
    side: Side
    risk_amount: Decimal | None
    risk_percent: Decimal | None
    stop_loss_points: int | None
    stop_loss: Decimal | None
    entry_price: Decimal | None


@dataclass(frozen=True, slots=True)
class MarginQuery:
    account_id: AccountId
    symbol: str
    side: Side
    volume: Decimal
    price: Decimal | None


@dataclass(frozen=True, slots=True)
class AccountChanges:
    """Columns to change on an account; None keeps the current value."""

    status: str | None = None
    leverage: int | None = None
    client_group: str | None = None
    margin_call_level: Decimal | None = None
    stop_out_level: Decimal | None = None
    negative_balance_protection: bool | None = None
    max_open_positions: int | None = None
    # max_daily_volume: None keeps it; clear_max_daily_volume removes the limit.
    max_daily_volume: Decimal | None = None
    clear_max_daily_volume: bool = False
