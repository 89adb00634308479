"""Stop-out and margin-call maths: the precise margin level, and per-symbol threshold prices. Pure.

A margin level depends on every position of an account, so it cannot sit in a price-sorted book
as is. Instead, per account and per symbol it holds, ``thresholds`` computes a price beyond which
the account MAY have reached a level (stop-out or margin call); the watcher keeps those prices in
its sorted books, and only when one is crossed does it run the precise check (``figures``).

How a threshold is placed (``budget`` = equity minus the equity at the level, in account money):

* One-sided exposure in one symbol: equity moves by ``units x price move x rate`` (longs at the
  bid, shorts at the ask), so the threshold is ``price -/+ budget / (units x rate)``: exactly the
  price at which the margin level equals the level.
* Several symbols: the budget is shared between them in proportion to the gross exposure each
  holds (account money), so that no combination of moves, each short of its own threshold, can
  spend more than the whole budget. (Holding the other symbols' prices fixed and giving each symbol
  the whole budget would miss two symbols that each moved 60 % of the way.)
* Long and short positions in one symbol (hedging): the long leg watches the bid and the short leg
  the ask, each at ``budget / gross units`` from the current price. A fully hedged account has no
  net exposure, yet a widening spread costs it money; with gross units the pair of thresholds still
  covers every (bid, ask) the account could see.
* Non-linearity (a P&L or margin converted through the symbol's own price, e.g. USDJPY in a USD
  account): the linear distances are scaled by a factor found with the precise formulas at the
  "worst corner" (every symbol at its threshold at once): the largest factor that keeps the corner
  on the safe side of the level (regula falsi). A single-symbol account's threshold is then exact
  to the price grid, and no combination of prices short of the thresholds reaches the level.
* A ``cushion`` (share of the distance) is finally kept back for what moves between two
  recomputations (other symbols' cross rates), and prices are rounded to the symbol's digits
  towards the current price, so a threshold never fires late.

Margin and figures are the account figures' own (``oms.domain.accounting``): margin at each
position's open price converted at the current rate, the larger leg per symbol for hedged positions,
and positions without a usable quote at zero profit and zero margin.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from fxmesh.money import ZERO, quantize
from oms.domain import accounting
from oms.domain import model as domain
from oms.domain.model import (
    AccountFigures,
    AccountId,
    NoConversionRate,
    OpenPosition,
    PositionId,
    Price,
    Side,
    SymbolSpec,
)

ONE = Decimal(1)
HUNDRED = Decimal(100)
DEFAULT_CUSHION = Decimal("0.05")
# Regula falsi stops when the step in the distance factor is below this (far below one point).
_T_TOLERANCE = Decimal("1e-15")
_MAX_ITERATIONS = 60
_MAX_DOUBLINGS = 40


@dataclass(frozen=True, slots=True)
class RiskPosition:
    """An open position as the margin level needs it."""

    position_id: PositionId
    spec: SymbolSpec
    side: Side
    volume: Decimal
    open_price: Decimal

    @property
    def symbol(self) -> str:
        return self.spec.symbol


@dataclass(frozen=True, slots=True)
class AccountRisk:
    """What the watcher needs to know of an account to watch its margin level."""

    account_id: AccountId
    currency: str
    balance: Decimal
    leverage: int
    positions: tuple[RiskPosition, ...]
    margin_call_level: Decimal = Decimal(100)  # percent, as watched (``own_*`` + risk settings)
    stop_out_level: Decimal = Decimal(50)  # percent, as watched
    client_group: str = ""
    # The account's own levels before the risk settings raised them (None: the levels above are
    # the account's own, not resolved yet). ``oms.domain.settings.level_risk`` fills them.
    own_margin_call_level: Decimal | None = None
    own_stop_out_level: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Threshold:
    """A price past which an account may have reached a margin level.

    ``side`` BUY: the account's long exposure in ``symbol``; fires when the bid <= price.
    ``side`` SELL: its short exposure; fires when the ask >= price.
    """

    symbol: str
    side: Side
    price: Decimal


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The thresholds of one level; ``breached`` when the level is reached at current prices."""

    breached: bool
    thresholds: tuple[Threshold, ...]


def rate_dependent(account: AccountRisk) -> bool:
    """Whether the account's figures move with quotes other than its own symbols' closing prices.

    When every position is quoted in the account currency, P&L is exactly linear in its own
    prices and margin (at the open price) is constant, so thresholds stay sound until the account
    changes; otherwise a cross rate drifts them and they need recomputing now and then.
    """
    return any(p.spec.quote_currency != account.currency for p in account.positions)


# --- the precise figures -----------------------------------------------------------------------


def _open(account: AccountRisk) -> tuple[list[OpenPosition], dict[str, SymbolSpec]]:
    positions = [
        OpenPosition(p.position_id, p.symbol, p.side, p.volume, p.open_price)
        for p in account.positions
    ]
    return positions, {p.symbol: p.spec for p in account.positions}


def figures(account: AccountRisk, prices: Mapping[str, Price]) -> AccountFigures:
    """Equity, margin and margin level at ``prices``, exactly as the account figures are made."""
    positions, symbols = _open(account)
    return accounting.live_figures(
        account.balance,
        account.currency,
        account.leverage,
        positions,
        [],
        symbols,
        prices,
        strict=False,
    )


def margin_level(account: AccountRisk, prices: Mapping[str, Price]) -> Decimal | None:
    """The margin level in percent (2 places), or None when the account uses no margin."""
    return figures(account, prices).margin_level


def raw_equity_and_margin(
    account: AccountRisk, prices: Mapping[str, Price]
) -> tuple[Decimal, Decimal]:
    """Equity and margin without rounding (the threshold maths needs a continuous function)."""
    equity = account.balance
    for p in account.positions:
        price = prices.get(p.symbol)
        if price is None:
            continue
        try:
            rate = domain.conversion_rate(p.spec.quote_currency, account.currency, prices)
        except NoConversionRate:
            continue
        close = domain.closing_price(p.side, price)
        pnl = domain.profit_in_quote(p.side, p.volume, p.open_price, close, p.spec.contract_size)
        equity += pnl * rate
    positions, symbols = _open(account)
    used = accounting.account_margin(
        accounting.position_legs(positions),
        account.leverage,
        account.currency,
        symbols,
        prices,
        skip_unpriced=True,
    )
    return equity, used


# --- thresholds ----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Exposure:
    spec: SymbolSpec
    price: Price
    rate: Decimal  # quote currency -> account currency
    long_units: Decimal = ZERO
    short_units: Decimal = ZERO
    distance: Decimal = ZERO  # the price move that spends this symbol's share of the budget


def thresholds(
    account: AccountRisk,
    prices: Mapping[str, Price],
    level: Decimal,
    *,
    cushion: Decimal = DEFAULT_CUSHION,
) -> Thresholds:
    """Threshold prices at which ``account`` may reach margin ``level`` (percent).

    The thresholds never fire later than the level is reached (see the module docstring); with
    ``cushion`` 0 and one symbol held on one side they are exactly where it is reached.
    """
    equity, used = raw_equity_and_margin(account, prices)
    if used <= 0:
        return Thresholds(False, ())
    share = level / HUNDRED
    exposures = _exposures(account, prices)
    budget = equity - share * used
    if budget <= 0:
        return Thresholds(True, tuple(_at_market(exposures.values())))
    total = ZERO
    for e in exposures.values():
        total += (e.long_units + e.short_units) * e.price.mid * e.rate
    if total <= 0:
        return Thresholds(False, ())
    for e in exposures.values():
        e.distance = budget * e.price.mid / total

    def gap(t: Decimal) -> Decimal:
        corner_equity, corner_margin = raw_equity_and_margin(account, _corner(prices, exposures, t))
        return corner_equity - share * corner_margin

    t = _solve(gap, budget, tolerance=used * Decimal("1e-12")) * (ONE - cushion)
    return Thresholds(False, tuple(_place(exposures.values(), t)))


def _exposures(account: AccountRisk, prices: Mapping[str, Price]) -> dict[str, _Exposure]:
    out: dict[str, _Exposure] = {}
    for p in account.positions:
        e = out.get(p.symbol)
        if e is None:
            price = prices.get(p.symbol)
            if price is None:
                continue
            try:
                rate = domain.conversion_rate(p.spec.quote_currency, account.currency, prices)
            except NoConversionRate:
                continue
            e = out[p.symbol] = _Exposure(p.spec, price, rate)
        units = p.volume * p.spec.contract_size
        if p.side is Side.BUY:
            e.long_units += units
        else:
            e.short_units += units
    return out


def _corner(
    prices: Mapping[str, Price], exposures: Mapping[str, _Exposure], t: Decimal
) -> dict[str, Price]:
    """``prices`` with every held symbol moved ``t`` of its distance against the account."""
    moved = dict(prices)
    for symbol, e in exposures.items():
        shift = e.distance * t
        bid, ask = e.price.bid, e.price.ask
        if e.long_units and e.short_units:
            bid, ask = bid - shift, ask + shift  # both legs lose: the spread widens
        elif e.long_units:
            bid, ask = bid - shift, ask - shift
        else:
            bid, ask = bid + shift, ask + shift
        floor = e.spec.point
        if bid < floor:  # a price cannot fall through zero; the loss is capped there
            ask, bid = max(ask, floor), floor
        moved[symbol] = Price(bid, ask)
    return moved


def _solve(gap: Callable[[Decimal], Decimal], gap0: Decimal, tolerance: Decimal) -> Decimal:
    """The factor t > 0 where gap(t) reaches 0 from above (gap(0) = gap0 > 0), never past it.

    t = 1 is the linear estimate; the root is bracketed around it (doubling when the estimate
    is short of it, e.g. a profit converted through a price that moves with it) and then found
    by the Illinois variant of regula falsi, always returning a t with gap(t) >= -tolerance.
    """
    gap1 = gap(ONE)
    if abs(gap1) <= tolerance:
        return ONE
    lo, g_lo, hi, g_hi = ZERO, gap0, ONE, gap1
    if gap1 > 0:
        lo, g_lo = ONE, gap1
        for _ in range(_MAX_DOUBLINGS):
            hi = lo * 2
            g_hi = gap(hi)
            if g_hi < 0:
                break
            if g_hi >= g_lo:
                # No further to lose: every held price is at its floor (losses capped where prices
                # reach zero), so the level is never reached. Stopping here, not after all the
                # doublings, matters: a well-funded account is re-armed after every fill.
                return lo
            lo, g_lo = hi, g_hi
        else:  # never reached within the doublings tried: as far as was tried
            return lo
    last = 0
    for _ in range(_MAX_ITERATIONS):
        t = (lo * g_hi - hi * g_lo) / (g_hi - g_lo)
        g_t = gap(t)
        if abs(g_t) <= tolerance:
            return t
        if g_t > 0:
            lo, g_lo = t, g_t
            if last > 0:
                g_hi /= 2
            last = 1
        else:
            hi, g_hi = t, g_t
            if last < 0:
                g_lo /= 2
            last = -1
        if hi - lo <= _T_TOLERANCE:
            break
    return lo


def _place(exposures: Iterable[_Exposure], t: Decimal) -> Iterable[Threshold]:
    for e in exposures:
        shift = e.distance * t
        if e.long_units:
            # Rounded up: a long threshold fires when the bid falls to it, so up means earlier.
            price = quantize(e.price.bid - shift, e.spec.digits, ROUND_CEILING)
            if price > 0:
                yield Threshold(e.spec.symbol, Side.BUY, price)
        if e.short_units:
            price = quantize(e.price.ask + shift, e.spec.digits, ROUND_FLOOR)
            yield Threshold(e.spec.symbol, Side.SELL, price)


def _at_market(exposures: Iterable[_Exposure]) -> Iterable[Threshold]:
    """Thresholds at the current prices: the next tick that does not improve fires them."""
    for e in exposures:
        if e.long_units:
            yield Threshold(e.spec.symbol, Side.BUY, e.price.bid)
        if e.short_units:
            yield Threshold(e.spec.symbol, Side.SELL, e.price.ask)
