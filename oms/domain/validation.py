"""Pure validation of new orders, triggered orders, closes and modifications.

Each check returns the first ``Problem`` (an UPPER_SNAKE code a client can act on and a message) or
None. Nothing here does I/O or reads a clock: callers pass the account, the symbol, the current
quotes, the account's exposure and ``now``. Business problems are data (the order is REJECTED with
the code); only a request malformed for the symbol (too many decimal places) raises.

Stops level: SL / TP, and a pending order's price, must be at least ``stops_level_points`` away
from their reference price and strictly on the correct side of it (MetaTrader's rule). The
reference of SL / TP is the price the position would close at now (bid for a buy, ask for a sell)
for market orders and open positions, and the order's entry price for pending orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from fxmesh.errors import InvalidArgument
from fxmesh.money import ZERO, places, to_money
from fxmesh.reasons import Reason
from oms.domain.accounting import MarginLeg, live_figures
from oms.domain.model import (
    Account,
    AccountStatus,
    NoConversionRate,
    OpenPosition,
    Order,
    OrderType,
    Price,
    Side,
    SymbolSpec,
    TimeInForce,
    closing_price,
    commission,
    margin,
    opening_price,
    volume_problem,
)
from oms.domain.rules import session_open


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a request is refused: ``code`` is UPPER_SNAKE and stable, ``message`` is for people."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Exposure:
    """What the account already holds, for the limits and the margin check."""

    positions: tuple[OpenPosition, ...] = ()
    in_flight: tuple[MarginLeg, ...] = ()  # opening orders being executed (they hold margin)
    volume_today: Decimal = ZERO  # lots opened today (UTC) by the client's own orders


MARKET_TIFS = frozenset({TimeInForce.IOC, TimeInForce.FOK})
PENDING_TIFS = frozenset({TimeInForce.GTC, TimeInForce.DAY, TimeInForce.GTD})


# --- request precision (an error, not a business reject) -----------------------------------------


def check_precision(spec: SymbolSpec, prices: Mapping[str, Decimal | None]) -> None:
    """Raise INVALID_PRECISION when a price has more decimal places than the symbol's digits."""
    for name, value in prices.items():
        if value is not None and places(value) > spec.digits:
            raise InvalidArgument(
                f"{name} has more than {spec.digits} decimal places",
                reason=Reason.INVALID_PRECISION,
                metadata={"field": name, "max_places": str(spec.digits)},
            )


# --- single checks -------------------------------------------------------------------------------


def check_account(account: Account, *, opening: bool) -> Problem | None:
    """ACTIVE trades freely; SUSPENDED may only reduce or close; CLOSED may do nothing."""
    if account.status == AccountStatus.ACTIVE.value:
        return None
    if account.status == AccountStatus.SUSPENDED.value and not opening:
        return None
    what = "open positions" if account.status == AccountStatus.SUSPENDED.value else "trade"
    return Problem(
        Reason.ACCOUNT_NOT_ACTIVE, f"the account is {account.status.lower()}: it cannot {what}"
    )


def check_symbol(symbol: str, spec: SymbolSpec | None, *, opening: bool) -> Problem | None:
    if spec is None:
        return Problem(Reason.UNKNOWN_SYMBOL, f"no symbol {symbol}")
    if opening and not spec.enabled:
        return Problem(Reason.SYMBOL_DISABLED, f"trading in {symbol} is disabled")
    return None


def check_session(spec: SymbolSpec, now: datetime) -> Problem | None:
    if session_open(spec.sessions, now):
        return None
    return Problem(
        Reason.MARKET_CLOSED,
        f"{spec.symbol} is outside its trading sessions at {now:%a %H:%M} UTC",
    )


def check_time_in_force(
    order_type: OrderType, tif: TimeInForce, expire_at: datetime | None, now: datetime
) -> Problem | None:
    """Market orders are IOC or FOK; pending orders GTC, DAY or GTD (with a future expiry)."""
    if order_type is OrderType.MARKET and tif not in MARKET_TIFS:
        return Problem(Reason.INVALID_EXPIRATION, f"a market order is IOC or FOK, not {tif.value}")
    if order_type is not OrderType.MARKET and tif not in PENDING_TIFS:
        return Problem(
            Reason.INVALID_EXPIRATION, f"a pending order is GTC, DAY or GTD, not {tif.value}"
        )
    if tif is TimeInForce.GTD:
        if expire_at is None:
            return Problem(Reason.INVALID_EXPIRATION, "a GTD order needs an expire time")
        if expire_at <= now:
            return Problem(
                Reason.INVALID_EXPIRATION, f"expire time {expire_at:%Y-%m-%dT%H:%M:%SZ} has passed"
            )
    elif expire_at is not None:
        return Problem(Reason.INVALID_EXPIRATION, f"an expire time needs GTD, not {tif.value}")
    return None


def check_volume(volume: Decimal, spec: SymbolSpec) -> Problem | None:
    problem = volume_problem(volume, spec)
    return Problem(*problem) if problem else None


def _side_problem(
    what: str, price: Decimal, reference: Decimal, above: bool, spec: SymbolSpec, ref_name: str
) -> Problem | None:
    distance = price - reference if above else reference - price
    where = "above" if above else "below"
    if distance <= 0:
        return Problem(
            Reason.INVALID_PRICE, f"{what} {price} must be {where} the {ref_name} {reference}"
        )
    if distance < spec.stops_distance:
        return Problem(
            Reason.INVALID_PRICE,
            f"{what} {price} is closer than {spec.stops_level_points} points to the "
            f"{ref_name} {reference}",
        )
    return None


def check_pending_price(
    order_type: OrderType,
    side: Side,
    price: Decimal | None,
    stop_limit_price: Decimal | None,
    quote: Price,
    spec: SymbolSpec,
    *,
    stop_limit_active: bool = False,
) -> Problem | None:
    """Buy limit below the ask, buy stop above it; sell limit above the bid, sell stop below it.

    A stop-limit's stop is placed like a stop, and its limit price on the near side of the stop
    (a buy stop-limit's limit below its stop, a sell's above): once active it is a limit order.
    """
    buy = side is Side.BUY
    market, name = (quote.ask, "ask") if buy else (quote.bid, "bid")
    if order_type is OrderType.MARKET:
        return None
    if price is None:
        return Problem(Reason.INVALID_PRICE, f"a {order_type.value} order needs a price")
    if order_type is OrderType.LIMIT:
        return _side_problem("limit price", price, market, not buy, spec, name)
    if order_type is OrderType.STOP:
        return _side_problem("stop price", price, market, buy, spec, name)
    if stop_limit_price is None:
        return Problem(Reason.INVALID_PRICE, "a STOP_LIMIT order needs a stop_limit_price")
    if stop_limit_active:
        return _side_problem("limit price", stop_limit_price, market, not buy, spec, name)
    return _side_problem("stop price", price, market, buy, spec, name) or _side_problem(
        "limit price", stop_limit_price, price, not buy, spec, "stop price"
    )


def check_stops(
    side: Side,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    reference: Decimal,
    spec: SymbolSpec,
) -> Problem | None:
    """A buy's SL below and TP above ``reference``; a sell's the other way; both >= stops level."""
    buy = side is Side.BUY
    for name, value, above in (
        ("stop loss", stop_loss, not buy),
        ("take profit", take_profit, buy),
    ):
        if value is None:
            continue
        distance = value - reference if above else reference - value
        where = "above" if above else "below"
        if distance <= 0:
            return Problem(
                Reason.INVALID_STOPS,
                f"{name} {value} of a {side.value} must be {where} {reference}",
            )
        if distance < spec.stops_distance:
            return Problem(
                Reason.INVALID_STOPS,
                f"{name} {value} is closer than {spec.stops_level_points} points to {reference}",
            )
    return None


def reduces_only(account: Account, order: Order, positions: tuple[OpenPosition, ...]) -> bool:
    """A netting order that only reduces (or closes) the symbol's position opens nothing."""
    if not account.netting:
        return False
    for p in positions:
        if p.symbol == order.symbol:
            return p.side is not order.side and order.volume <= p.volume
    return False


def check_limits(account: Account, order: Order, exposure: Exposure) -> Problem | None:
    """The account's max open positions and max daily volume (0 / None: no limit)."""
    if account.max_open_positions > 0:
        if account.netting:
            held = {p.symbol for p in exposure.positions} | {
                leg.symbol for leg in exposure.in_flight
            }
            count = len(held)
            adds = order.symbol not in held
        else:
            count = len(exposure.positions) + len(exposure.in_flight)
            adds = True
        if adds and count >= account.max_open_positions:
            return Problem(
                Reason.MAX_POSITIONS,
                f"the account already holds {count} of at most "
                f"{account.max_open_positions} positions",
            )
    if account.max_daily_volume is not None:
        total = exposure.volume_today + order.volume
        if total > account.max_daily_volume:
            return Problem(
                Reason.MAX_DAILY_VOLUME,
                f"{order.volume} lots would make {total} today, above the daily maximum "
                f"{account.max_daily_volume}",
            )
    return None


def check_position_size(
    account: Account, order: Order, exposure: Exposure, max_size: Decimal | None
) -> Problem | None:
    """The risk settings' maximum lots in one position (None: no limit). On a netting account
    the position the order grows (or the reversed remainder) counts; on hedging the order."""
    if max_size is None:
        return None
    size = order.volume
    if account.netting:
        for p in exposure.positions:
            if p.symbol == order.symbol:
                size = p.volume + order.volume if p.side is order.side else order.volume - p.volume
                break
    if size > max_size:
        return Problem(
            Reason.MAX_POSITION_SIZE,
            f"a position of {size} lots is above the maximum position size {max_size}",
        )
    return None


def check_margin(
    account: Account,
    leg: MarginLeg,
    exposure: Exposure,
    spec: SymbolSpec,
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
) -> Problem | None:
    """Free margin after the order (its margin under the larger-leg rule and its commission)."""
    try:
        fee = commission(leg.volume, spec, account.currency, prices)
        # The order's own margin must be priceable: the figures below skip what is not.
        margin(leg.volume, leg.price, account.leverage, spec, account.currency, prices)
        before = live_figures(
            account.balance,
            account.currency,
            account.leverage,
            exposure.positions,
            exposure.in_flight,
            symbols,
            prices,
            strict=False,
            held=account.held,
        )
        after = live_figures(
            account.balance - fee,
            account.currency,
            account.leverage,
            exposure.positions,
            (*exposure.in_flight, leg),
            symbols,
            prices,
            strict=False,
            held=account.held,
        )
    except NoConversionRate as exc:
        return Problem(Reason.NO_QUOTE, str(exc))
    if after.free_margin < 0:
        required = to_money(after.margin - before.margin + fee, account.currency)
        return Problem(
            Reason.NOT_ENOUGH_MONEY,
            f"required margin and commission {required} exceed free margin "
            f"{before.free_margin} {account.currency}",
        )
    return None


# --- whole requests ------------------------------------------------------------------------------


def validate_order(
    account: Account,
    order: Order,
    spec: SymbolSpec | None,
    exposure: Exposure,
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
    now: datetime,
    max_position_size: Decimal | None = None,
) -> Problem | None:
    """The first reason to refuse a new client order (market or pending), or None.

    ``account`` carries the limits new orders are held to (``oms.domain.settings.limit_account``);
    ``max_position_size`` is the risk settings' maximum lots in one position."""
    opening = not reduces_only(account, order, exposure.positions)
    problem = check_account(account, opening=opening) or check_symbol(
        order.symbol, spec, opening=opening
    )
    if problem is not None or spec is None:
        return problem
    problem = (
        check_time_in_force(order.type, order.time_in_force, order.expire_at, now)
        or check_session(spec, now)
        or check_volume(order.volume, spec)
    )
    if problem is not None:
        return problem
    quote = prices.get(order.symbol)
    if quote is None:
        return Problem(Reason.NO_QUOTE, f"no current price for {order.symbol}")
    problem = check_pending_price(
        order.type, order.side, order.price, order.stop_limit_price, quote, spec
    )
    if problem is not None:
        return problem
    entry = order.entry_price if order.is_pending_type else None
    if entry is not None:
        reference = entry
        leg_price = entry
    else:
        reference = closing_price(order.side, quote)
        leg_price = opening_price(order.side, quote)
    problem = check_stops(order.side, order.stop_loss, order.take_profit, reference, spec)
    if problem is not None or not opening:
        return problem
    return (
        check_limits(account, order, exposure)
        or check_position_size(account, order, exposure, max_position_size)
        or check_margin(
            account,
            MarginLeg(order.symbol, order.side, order.volume, leg_price),
            exposure,
            spec,
            symbols,
            prices,
        )
    )


def validate_triggered(
    account: Account,
    order: Order,
    spec: SymbolSpec | None,
    exposure: Exposure,
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
    max_position_size: Decimal | None = None,
) -> Problem | None:
    """Re-check a pending order whose price was reached, before it goes to execution.

    Its price and expiry were valid when placed and its price is reached now; what can have
    changed is the account (status, margin, limits), the symbol and the quote.
    """
    opening = not reduces_only(account, order, exposure.positions)
    problem = check_account(account, opening=opening) or check_symbol(
        order.symbol, spec, opening=opening
    )
    if problem is not None or spec is None:
        return problem
    quote = prices.get(order.symbol)
    if quote is None:
        return Problem(Reason.NO_QUOTE, f"no current price for {order.symbol}")
    if not opening:
        return None
    leg = MarginLeg(order.symbol, order.side, order.volume, opening_price(order.side, quote))
    return (
        check_limits(account, order, exposure)
        or check_position_size(account, order, exposure, max_position_size)
        or check_margin(account, leg, exposure, spec, symbols, prices)
    )


def validate_close(
    account: Account,
    spec: SymbolSpec,
    volume: Decimal,
    available: Decimal,
    prices: Mapping[str, Price],
    now: datetime | None,
) -> Problem | None:
    """A close of ``volume`` lots of a position with ``available`` lots not already closing.

    ``now`` is None for closes the server raises itself (SL, TP, stop-out): a tick reached them,
    so the session check does not apply.
    """
    problem = check_account(account, opening=False)
    if problem is not None:
        return problem
    if now is not None:
        problem = check_session(spec, now)
        if problem is not None:
            return problem
    if available <= 0:
        return Problem(Reason.POSITION_CLOSING, "the position is already being closed")
    if volume > available:
        return Problem(
            Reason.VOLUME_TOO_LARGE, f"volume {volume} is above the {available} lots open to close"
        )
    if volume != available:  # the whole rest may always be closed, whatever its size
        problem = check_volume(volume, spec)
        if problem is not None:
            return problem
    if spec.symbol not in prices:
        return Problem(Reason.NO_QUOTE, f"no current price for {spec.symbol}")
    return None


def validate_modify_order(
    order: Order, spec: SymbolSpec, quote: Price | None, now: datetime
) -> Problem | None:
    """A WORKING order with its new values, checked as if it were placed now."""
    expire_at = order.expire_at if order.time_in_force is TimeInForce.GTD else None
    problem = check_time_in_force(order.type, order.time_in_force, expire_at, now)
    if problem is None:
        problem = check_session(spec, now)
    if problem is not None:
        return problem
    if quote is None:
        return Problem(Reason.NO_QUOTE, f"no current price for {order.symbol}")
    problem = check_pending_price(
        order.type,
        order.side,
        order.price,
        order.stop_limit_price,
        quote,
        spec,
        stop_limit_active=order.stop_limit_active,
    )
    if problem is not None:
        return problem
    entry = order.entry_price
    assert entry is not None  # check_pending_price refused a pending order without one
    return check_stops(order.side, order.stop_loss, order.take_profit, entry, spec)


def validate_modify_position(
    side: Side,
    stop_loss: Decimal | None,
    take_profit: Decimal | None,
    trailing_distance_points: int,
    spec: SymbolSpec,
    quote: Price | None,
) -> Problem | None:
    """New protection of an open position, against its current closing price."""
    if trailing_distance_points and trailing_distance_points < spec.stops_level_points:
        return Problem(
            Reason.INVALID_STOPS,
            f"trailing distance {trailing_distance_points} is below the stops level "
            f"{spec.stops_level_points} points",
        )
    if stop_loss is None and take_profit is None:
        return None
    if quote is None:
        return Problem(Reason.NO_QUOTE, f"no current price for {spec.symbol}")
    return check_stops(side, stop_loss, take_profit, closing_price(side, quote), spec)
