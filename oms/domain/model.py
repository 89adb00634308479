"""The pure order and money model of the account of record: no I/O, no protobuf.

* The order lifecycle is a literal ``(state, trigger) -> next state`` table; an illegal move raises
  ``InvalidOrderTransition`` naming the state and the trigger.
* P&L, margin and commission follow MetaTrader's forex formulas, in Decimal, converted to the
  account currency through whatever cross rate the current quotes offer.
* Pending orders trigger on the side of the quote they would trade at: buy orders on the ask, sell
  orders on the bid; positions close on the other side (a buy closes at the bid).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import NewType

from fxmesh.errors import FailedPrecondition
from fxmesh.money import ZERO, to_money
from fxmesh.reasons import Reason

AccountId = NewType("AccountId", int)
OrderId = NewType("OrderId", int)
PositionId = NewType("PositionId", int)


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP = "STOP"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(StrEnum):
    GTC = "GTC"
    DAY = "DAY"
    GTD = "GTD"
    IOC = "IOC"
    FOK = "FOK"


class OrderOrigin(StrEnum):
    """Who raised an order: the client, or the server on the client's behalf."""

    CLIENT = "CLIENT"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_OUT = "STOP_OUT"


class CloseReason(StrEnum):
    """Why (part of) a position was closed; also the reason of the deal that did it."""

    CLIENT = "CLIENT"
    STOP_LOSS = "STOP_LOSS"
    TAKE_PROFIT = "TAKE_PROFIT"
    STOP_OUT = "STOP_OUT"
    CLOSE_BY = "CLOSE_BY"
    NETTING = "NETTING"  # an opposite fill on a netting account


class DealEntry(StrEnum):
    IN = "IN"  # opened or increased a position
    OUT = "OUT"  # reduced or closed a position
    INOUT = "INOUT"  # reversed a netting position
    OUT_BY = "OUT_BY"  # closed against an opposite position


class MarginMode(StrEnum):
    HEDGING = "HEDGING"  # every fill opens its own position
    NETTING = "NETTING"  # one position per symbol


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"  # may close positions, may not open them
    CLOSED = "CLOSED"


class OrderStatus(StrEnum):
    PENDING = "PENDING"  # built from the request, not yet validated
    ACCEPTED = "ACCEPTED"  # validated and persisted; acknowledged to the client
    FILLING = "FILLING"  # handed to the router; its outcome is awaited
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    WORKING = "WORKING"  # a pending (limit/stop) order waiting for its trigger price
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.EXPIRED}
)


class OrderTrigger(StrEnum):
    """What happened to an order."""

    ACCEPT = "ACCEPT"  # passed validation and pre-trade risk
    REJECT = "REJECT"  # validation, risk, router or venue said no
    SUBMIT = "SUBMIT"  # sent to the router for execution
    PARK = "PARK"  # a pending order starts waiting for its price
    MODIFY = "MODIFY"  # a working order's price / SL / TP / expiry changed
    ACTIVATE = "ACTIVATE"  # a stop-limit's stop price was reached: it now works as a limit
    TRIGGER = "TRIGGER"  # a working order's price was reached: it goes to execution
    REARM = "REARM"  # the venue could not fill a triggered order at its limit: it works again
    PARTIAL_FILL = "PARTIAL_FILL"
    FILL = "FILL"  # the order is now completely filled
    CANCEL = "CANCEL"  # by the client, or the unfilled rest of an IOC order
    EXPIRE = "EXPIRE"  # GTD / DAY time reached


S, T = OrderStatus, OrderTrigger
TRANSITIONS: Mapping[tuple[OrderStatus, OrderTrigger], OrderStatus] = {
    (S.PENDING, T.ACCEPT): S.ACCEPTED,
    (S.PENDING, T.REJECT): S.REJECTED,
    (S.ACCEPTED, T.SUBMIT): S.FILLING,
    (S.ACCEPTED, T.PARK): S.WORKING,
    (S.ACCEPTED, T.REJECT): S.REJECTED,
    (S.ACCEPTED, T.CANCEL): S.CANCELLED,
    (S.WORKING, T.MODIFY): S.WORKING,
    (S.WORKING, T.ACTIVATE): S.WORKING,
    (S.WORKING, T.TRIGGER): S.FILLING,
    (S.WORKING, T.CANCEL): S.CANCELLED,
    (S.WORKING, T.EXPIRE): S.EXPIRED,
    (S.FILLING, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.FILLING, T.FILL): S.FILLED,
    (S.FILLING, T.REJECT): S.REJECTED,
    (S.FILLING, T.REARM): S.WORKING,
    (S.PARTIALLY_FILLED, T.PARTIAL_FILL): S.PARTIALLY_FILLED,
    (S.PARTIALLY_FILLED, T.FILL): S.FILLED,
    (S.PARTIALLY_FILLED, T.CANCEL): S.CANCELLED,
    (S.PARTIALLY_FILLED, T.EXPIRE): S.EXPIRED,
}
del S, T


class InvalidOrderTransition(FailedPrecondition):
    """A trigger that the order's current state does not allow."""

    default_reason = "INVALID_ORDER_TRANSITION"

    def __init__(self, state: OrderStatus, trigger: OrderTrigger) -> None:
        super().__init__(
            f"invalid order transition: {trigger.value} is not allowed in state {state.value}",
            metadata={"state": state.value, "trigger": trigger.value},
        )
        self.state = state
        self.trigger = trigger


def next_status(state: OrderStatus, trigger: OrderTrigger) -> OrderStatus:
    """The state ``trigger`` moves an order in ``state`` to, or InvalidOrderTransition."""
    try:
        return TRANSITIONS[(state, trigger)]
    except KeyError:
        raise InvalidOrderTransition(state, trigger) from None


@dataclass(frozen=True, slots=True)
class Transition:
    from_status: OrderStatus | None
    to_status: OrderStatus
    reason: str | None


@dataclass(slots=True)
class Order:
    """An order as the account of record holds it; it changes only through ``apply``."""

    account_id: AccountId
    client_order_id: str
    symbol: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce
    volume: Decimal
    requested_price: Decimal | None = None
    price: Decimal | None = None
    deviation_points: int = 0
    order_id: OrderId | None = None
    status: OrderStatus = OrderStatus.PENDING
    filled_volume: Decimal = ZERO
    avg_fill_price: Decimal | None = None
    reject_reason: str | None = None
    reject_message: str | None = None
    book: str | None = None
    routing_reason: str | None = None
    stop_loss: Decimal | None = None  # given to the position the order opens
    take_profit: Decimal | None = None
    stop_limit_price: Decimal | None = None  # STOP_LIMIT: the limit placed when price is reached
    expire_at: datetime | None = None  # GTD expiry; DAY orders carry the end of their day
    position_id: PositionId | None = None  # a closing order: the position it closes
    origin: OrderOrigin = OrderOrigin.CLIENT
    stop_limit_active: bool = False  # STOP_LIMIT whose stop price was reached
    magic: int = 0  # the client's tag (MetaTrader's magic number); kept on the order's deals
    comment: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # Transitions applied since the order was loaded or created, not yet persisted.
    unsaved: list[Transition] = field(default_factory=list)
    events_seq: int = 0  # number of transitions already persisted

    def apply(self, trigger: OrderTrigger, reason: str | None = None) -> OrderStatus:
        before = self.status
        self.status = next_status(before, trigger)
        self.unsaved.append(Transition(before, self.status, reason or trigger.value))
        return self.status

    def accept(self) -> None:
        self.apply(OrderTrigger.ACCEPT)

    def reject(self, reason: str, message: str) -> None:
        self.apply(OrderTrigger.REJECT, reason)
        self.reject_reason, self.reject_message = reason, message

    def record_fill(self, volume: Decimal, price: Decimal) -> None:
        """Add a fill to filled volume and average price, then move to (PARTIALLY_)FILLED."""
        if volume <= 0:
            raise ValueError("fill volume must be positive")
        total = self.filled_volume + volume
        if total > self.volume:
            raise ValueError(f"overfill: {total} > {self.volume}")
        previous = self.avg_fill_price or ZERO
        self.avg_fill_price = (previous * self.filled_volume + price * volume) / total
        self.filled_volume = total
        self.apply(OrderTrigger.FILL if total == self.volume else OrderTrigger.PARTIAL_FILL)

    def cancel(self, reason: str, message: str) -> None:
        self.apply(OrderTrigger.CANCEL, reason)
        self.reject_reason, self.reject_message = reason, message

    def expire(self, reason: str, message: str) -> None:
        self.apply(OrderTrigger.EXPIRE, reason)
        self.reject_reason, self.reject_message = reason, message

    def activate(self) -> None:
        """A stop-limit's stop was reached: from now on it works as a limit at stop_limit_price."""
        if self.type is not OrderType.STOP_LIMIT or self.stop_limit_active:
            raise InvalidOrderTransition(self.status, OrderTrigger.ACTIVATE)
        self.apply(OrderTrigger.ACTIVATE, "STOP_PRICE_REACHED")
        self.stop_limit_active = True

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_pending_type(self) -> bool:
        """LIMIT, STOP and STOP_LIMIT orders wait (WORKING) for their price."""
        return self.type is not OrderType.MARKET

    @property
    def limit_price(self) -> Decimal | None:
        """The worst price this order may execute at, or None for execution at the market.

        A triggered LIMIT executes at its price or better, a triggered STOP_LIMIT at its limit
        price or better; a STOP becomes a market order. A take-profit close is a limit at the TP.
        """
        if self.type is OrderType.LIMIT:
            return self.price
        if self.type is OrderType.STOP_LIMIT:
            return self.stop_limit_price
        return None

    @property
    def entry_price(self) -> Decimal | None:
        """The price a pending order opens its position at (SL / TP are measured from it)."""
        if self.type is OrderType.STOP_LIMIT:
            return self.stop_limit_price
        return self.price

    @property
    def close_reason(self) -> CloseReason:
        """What a fill of this order that closes a position records as the reason."""
        if self.origin is not OrderOrigin.CLIENT:
            return CloseReason(self.origin.value)
        return CloseReason.CLIENT if self.position_id is not None else CloseReason.NETTING


@dataclass(frozen=True, slots=True)
class Session:
    """A trading window on one ISO weekday (1 = Monday), in minutes of the UTC day [start, end)."""

    weekday: int
    start_minute: int
    end_minute: int  # 1440 = end of day ("24:00")


class AssetClass(StrEnum):
    """What a symbol prices (``oms.symbols.asset_class``)."""

    FX = "FX"
    METAL = "METAL"
    CRYPTO = "CRYPTO"
    INDEX = "INDEX"
    COMMODITY = "COMMODITY"
    STOCK = "STOCK"
    ENERGY = "ENERGY"


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """A symbol's contract specification (a row of ``oms.symbols``)."""

    symbol: str
    base_currency: str
    quote_currency: str
    digits: int
    contract_size: Decimal
    volume_min: Decimal
    volume_max: Decimal
    volume_step: Decimal
    margin_percent: Decimal
    commission_per_lot: Decimal
    commission_currency: str
    default_deviation_points: int
    enabled: bool
    stops_level_points: int = 0  # minimum distance of SL / TP / pending prices from the market
    sessions: tuple[Session, ...] = ()
    swap_long_points: Decimal = ZERO
    swap_short_points: Decimal = ZERO
    swap_triple_weekday: int = 3
    description: str = ""
    asset_class: AssetClass = AssetClass.FX

    @property
    def point(self) -> Decimal:
        return Decimal(1).scaleb(-self.digits)

    @property
    def pip_size(self) -> Decimal:
        """MetaTrader's pip: 10 points on 3- and 5-digit quotes (fractional pips), else 1 point."""
        return Decimal(1).scaleb(1 - self.digits) if self.digits in (3, 5) else self.point

    @property
    def stops_distance(self) -> Decimal:
        return self.stops_level_points * self.point


@dataclass(frozen=True, slots=True)
class Price:
    bid: Decimal
    ask: Decimal

    @property
    def mid(self) -> Decimal:
        return (self.bid + self.ask) / 2


class NoConversionRate(LookupError):
    """No current quote converts one currency to another."""


def conversion_rate(from_ccy: str, to_ccy: str, prices: Mapping[str, Price]) -> Decimal:
    """Units of ``to_ccy`` per unit of ``from_ccy`` from the current quotes (mid prices).

    Tries the direct symbol (FROMTO), then the inverse (TOFROM), then a cross through USD.
    """
    if from_ccy == to_ccy:
        return Decimal(1)
    direct = prices.get(from_ccy + to_ccy)
    if direct is not None:
        return direct.mid
    inverse = prices.get(to_ccy + from_ccy)
    if inverse is not None:
        return 1 / inverse.mid
    if "USD" not in (from_ccy, to_ccy):
        return conversion_rate(from_ccy, "USD", prices) * conversion_rate("USD", to_ccy, prices)
    raise NoConversionRate(f"no quote converts {from_ccy} to {to_ccy}")


def closing_price(side: Side, price: Price) -> Decimal:
    """A buy closes at the bid, a sell at the ask."""
    return price.bid if side is Side.BUY else price.ask


def opening_price(side: Side, price: Price) -> Decimal:
    """A buy opens at the ask, a sell at the bid."""
    return price.ask if side is Side.BUY else price.bid


def profit_in_quote(
    side: Side, volume: Decimal, open_price: Decimal, close_price: Decimal, contract_size: Decimal
) -> Decimal:
    """(close - open) x contract size x lots, signed by side, in the quote (profit) currency."""
    return (close_price - open_price) * contract_size * volume * side.sign


def profit(
    side: Side,
    volume: Decimal,
    open_price: Decimal,
    close_price: Decimal,
    spec: SymbolSpec,
    account_currency: str,
    prices: Mapping[str, Price],
) -> Decimal:
    """P&L in the account currency, rounded to its minor unit."""
    raw = profit_in_quote(side, volume, open_price, close_price, spec.contract_size)
    return to_money(
        raw * conversion_rate(spec.quote_currency, account_currency, prices), account_currency
    )


def margin(
    volume: Decimal,
    price: Decimal,
    leverage: int,
    spec: SymbolSpec,
    account_currency: str,
    prices: Mapping[str, Price],
) -> Decimal:
    """Required margin in the account currency (unrounded).

    contract x lots / leverage x margin% is the margin in the base currency; when the base is the
    account currency that is the answer (USDJPY in a USD account), otherwise it is priced in the
    quote currency at ``price`` and converted (EURUSD, XAUUSD in a USD account).
    """
    base_units = spec.contract_size * volume / leverage * spec.margin_percent / 100
    if spec.base_currency == account_currency:
        return base_units
    in_quote = base_units * price
    return in_quote * conversion_rate(spec.quote_currency, account_currency, prices)


def commission(
    volume: Decimal, spec: SymbolSpec, account_currency: str, prices: Mapping[str, Price]
) -> Decimal:
    """Commission for one side of a trade, as a positive amount in the account currency."""
    raw = spec.commission_per_lot * volume
    rate = conversion_rate(spec.commission_currency, account_currency, prices)
    return to_money(raw * rate, account_currency)


def volume_problem(volume: Decimal, spec: SymbolSpec) -> tuple[str, str] | None:
    """The reject reason and message when ``volume`` breaks the symbol's volume rules."""
    if volume < spec.volume_min:
        return Reason.VOLUME_TOO_SMALL, f"volume {volume} is below the minimum {spec.volume_min}"
    if volume > spec.volume_max:
        return Reason.VOLUME_TOO_LARGE, f"volume {volume} is above the maximum {spec.volume_max}"
    if volume % spec.volume_step != 0:
        return (
            Reason.VOLUME_STEP,
            f"volume {volume} is not a multiple of the step {spec.volume_step}",
        )
    return None


@dataclass(frozen=True, slots=True)
class OpenPosition:
    """An open position as the account figures need it."""

    position_id: PositionId
    symbol: str
    side: Side
    volume: Decimal
    open_price: Decimal


@dataclass(frozen=True, slots=True)
class AccountFigures:
    balance: Decimal
    equity: Decimal
    margin: Decimal
    free_margin: Decimal
    margin_level: Decimal | None  # percent; None without margin in use
    unrealized_pnl: Decimal
    held: Decimal = Decimal(0)  # funds held for withdrawals awaiting approval


def account_figures(
    balance: Decimal,
    unrealized: Decimal,
    used_margin: Decimal,
    currency: str,
    held: Decimal = Decimal(0),
) -> AccountFigures:
    """Equity, free margin and margin level from balance, floating P&L and margin in use.

    Funds ``held`` for a pending withdrawal are not free: free margin = equity - margin - held.
    The margin level (equity / margin) ignores them: a hold is still the client's money until it
    is captured, and stop-out looks at what the positions need.
    """
    equity = to_money(balance + unrealized, currency)
    used = to_money(used_margin, currency)
    level = to_money(equity / used * 100, "USD") if used > 0 else None
    return AccountFigures(
        balance=balance,
        equity=equity,
        margin=used,
        free_margin=equity - used - held,
        margin_level=level,
        unrealized_pnl=to_money(unrealized, currency),
        held=to_money(held, currency),
    )


@dataclass(frozen=True, slots=True)
class Account:
    """A trading account's terms and balance as the account of record holds them."""

    account_id: AccountId
    login: str
    type: str  # DEMO | LIVE
    currency: str
    leverage: int
    margin_mode: str  # MarginMode value
    status: str  # AccountStatus value
    client_group: str
    balance: Decimal
    margin_call_level: Decimal
    stop_out_level: Decimal
    created_at: datetime
    negative_balance_protection: bool = True
    max_open_positions: int = 0  # 0: no limit
    max_daily_volume: Decimal | None = None  # lots opened per UTC day; None: no limit
    email: str | None = None
    name: str | None = None
    held: Decimal = Decimal(0)  # sum of the account's ACTIVE funds holds

    @property
    def netting(self) -> bool:
        return self.margin_mode == MarginMode.NETTING.value
