"""Money maths of the account of record beyond the order formulas of ``oms.domain.model``: pure,
Decimal.

* **Hedged margin ("larger leg").** Per account and symbol, the margin in use is the larger of the
  margin of the BUY legs and the margin of the SELL legs; each leg's margin is ``domain.margin`` at
  the leg's price (open positions at their open price, orders being executed at the current opening
  price). Fully hedged lots therefore cost the margin of one side, as MetaTrader 5's hedged margin
  simplified to one rule.
* **Swaps.** ``swap points x point x contract size x lots`` in the quote currency, per day held
  over a rollover, converted to the account currency at the current quotes and rounded to its minor
  unit. A rollover belongs to a trading day (see ``rollover_instant``); Saturday's and Sunday's
  rollovers charge nothing and the symbol's triple weekday charges three days, so a position held
  for a whole week pays seven days whichever weekday is the triple one.
* **Lot sizing by risk.** The volume whose loss at the stop equals the risk, rounded down to the
  volume step and capped at the maximum; zero when even the minimum volume risks more.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal

from fxmesh.money import ZERO, to_money
from oms.domain import model as domain
from oms.domain.model import (
    AccountFigures,
    NoConversionRate,
    OpenPosition,
    Order,
    Price,
    Side,
    SymbolSpec,
)

SATURDAY, SUNDAY = 6, 7


class MissingQuote(NoConversionRate):
    """A figure needs the current price of a symbol that has no quote."""


# --- hedged margin -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarginLeg:
    """Volume holding margin on one side of one symbol, priced at ``price``."""

    symbol: str
    side: Side
    volume: Decimal
    price: Decimal


def position_legs(positions: Iterable[OpenPosition]) -> list[MarginLeg]:
    """Open positions as margin legs at their open price (the account figures' convention)."""
    return [MarginLeg(p.symbol, p.side, p.volume, p.open_price) for p in positions]


def order_legs(
    orders: Iterable[Order], prices: Mapping[str, Price], *, strict: bool
) -> list[MarginLeg]:
    """Orders being executed as margin legs: their unfilled volume at the current opening price.

    Without a quote such an order raises ``MissingQuote`` when ``strict``, else it is left out.
    """
    legs = []
    for o in orders:
        remaining = o.volume - o.filled_volume
        price = prices.get(o.symbol)
        if price is None:
            if strict and remaining > 0:
                raise MissingQuote(f"no current price for {o.symbol}")
            continue
        legs.append(MarginLeg(o.symbol, o.side, remaining, domain.opening_price(o.side, price)))
    return legs


def account_margin(
    legs: Iterable[MarginLeg],
    leverage: int,
    currency: str,
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
    *,
    skip_unpriced: bool = False,
) -> Decimal:
    """Margin in use in the account currency (unrounded): per symbol, the larger leg.

    ``max(sum of the BUY legs' margin, sum of the SELL legs' margin)`` per symbol, summed over
    symbols. A leg whose symbol is unknown or whose margin needs a missing conversion raises
    (``KeyError`` / ``NoConversionRate``), or counts as zero with ``skip_unpriced``.
    """
    by_side: dict[tuple[str, Side], Decimal] = defaultdict(Decimal)
    for leg in legs:
        if leg.volume <= 0:
            continue
        spec = symbols.get(leg.symbol)
        if spec is None:
            if skip_unpriced:
                continue
            raise KeyError(f"unknown symbol {leg.symbol}")
        try:
            amount = domain.margin(leg.volume, leg.price, leverage, spec, currency, prices)
        except NoConversionRate:
            if skip_unpriced:
                continue
            raise
        by_side[(leg.symbol, leg.side)] += amount
    names = {symbol for symbol, _ in by_side}
    return sum(
        (max(by_side[(s, Side.BUY)], by_side[(s, Side.SELL)]) for s in names),
        ZERO,
    )


def net_legs(legs: Iterable[MarginLeg]) -> list[MarginLeg]:
    """Combine legs per symbol as a NETTING account would: one leg per symbol, older legs first.

    An opposite leg reduces the open volume (which keeps its price); the part that exceeds it opens
    the other side at the new leg's price.
    """
    net: dict[str, MarginLeg] = {}
    for leg in legs:
        held = net.get(leg.symbol)
        if held is None or held.side is leg.side:
            if held is None:
                net[leg.symbol] = leg
            else:  # same side: volume-weighted price keeps the margin of both parts
                volume = held.volume + leg.volume
                price = (held.price * held.volume + leg.price * leg.volume) / volume
                net[leg.symbol] = MarginLeg(leg.symbol, leg.side, volume, price)
        elif leg.volume < held.volume:
            net[leg.symbol] = MarginLeg(
                held.symbol, held.side, held.volume - leg.volume, held.price
            )
        elif leg.volume == held.volume:
            del net[leg.symbol]
        else:
            net[leg.symbol] = MarginLeg(leg.symbol, leg.side, leg.volume - held.volume, leg.price)
    return list(net.values())


def margin_change(
    existing: Sequence[MarginLeg],
    new: MarginLeg,
    leverage: int,
    currency: str,
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
    *,
    netting: bool,
) -> tuple[Decimal, Decimal]:
    """(margin in use before, margin in use after) adding ``new`` to the account (unrounded).

    The pre-trade margin an order needs is ``max(after - before, 0)``: an order that hedges the
    larger leg needs none, and on a NETTING account one that reduces the position frees margin.
    The new leg must be priceable (``NoConversionRate`` otherwise); existing legs that are not
    count as zero, as the account figures do.
    """
    spec = symbols.get(new.symbol)
    if spec is None:
        raise KeyError(f"unknown symbol {new.symbol}")
    domain.margin(new.volume, new.price, leverage, spec, currency, prices)  # raises if unpriced
    before_legs, after_legs = list(existing), [*existing, new]
    if netting:
        before_legs, after_legs = net_legs(before_legs), net_legs(after_legs)
    before = account_margin(before_legs, leverage, currency, symbols, prices, skip_unpriced=True)
    after = account_margin(after_legs, leverage, currency, symbols, prices, skip_unpriced=True)
    return before, after


# --- live account figures ------------------------------------------------------------------------


def live_figures(
    balance: Decimal,
    currency: str,
    leverage: int,
    positions: Sequence[OpenPosition],
    in_flight: Sequence[MarginLeg],
    symbols: Mapping[str, SymbolSpec],
    prices: Mapping[str, Price],
    *,
    strict: bool,
    held: Decimal = ZERO,
) -> AccountFigures:
    """Equity, margin (larger leg), free margin and margin level from positions and quotes.

    ``held`` (funds held for pending withdrawals) is taken off the free margin.

    ``strict`` raises ``MissingQuote`` / ``NoConversionRate`` when a position cannot be valued (a
    withdrawal must not be approved on a guess); otherwise such a position counts at zero profit and
    its margin is skipped, as a display would.
    """
    unrealized = ZERO
    for p in positions:
        price, spec = prices.get(p.symbol), symbols.get(p.symbol)
        if price is None or spec is None:
            if strict:
                raise MissingQuote(f"no current price for {p.symbol}")
            continue
        close = domain.closing_price(p.side, price)
        try:
            unrealized += domain.profit(
                p.side, p.volume, p.open_price, close, spec, currency, prices
            )
        except NoConversionRate:
            if strict:
                raise
    legs = [*position_legs(positions), *in_flight]
    used = account_margin(legs, leverage, currency, symbols, prices, skip_unpriced=not strict)
    return domain.account_figures(balance, unrealized, used, currency, held)


# --- swaps ---------------------------------------------------------------------------------------


def swap_points(spec: SymbolSpec, side: Side) -> Decimal:
    """The symbol's swap for one lot and one day, in points (BUY: long, SELL: short)."""
    return spec.swap_long_points if side is Side.BUY else spec.swap_short_points


def rollover_instant(day: date, at: time) -> datetime:
    """When the rollover of trading day ``day`` happens (UTC).

    ``at`` on that day, except a 00:00 rollover, which ends the day: it happens at the following
    midnight. So with the default 00:00 UTC, Wednesday's rollover is Thursday 00:00 UTC.
    """
    if at.tzinfo is not None:
        raise ValueError("the rollover time is a naive UTC wall-clock time")
    instant = datetime.combine(day, at, tzinfo=UTC)
    return instant + timedelta(days=1) if at == time(0) else instant


def next_rollover_day(now: datetime, at: time) -> date:
    """The trading day of the first rollover strictly after ``now``."""
    day = (now.astimezone(UTC) - timedelta(days=1)).date()
    while rollover_instant(day, at) <= now:
        day += timedelta(days=1)
    return day


def last_rollover_day(now: datetime, at: time) -> date:
    """The trading day of the latest rollover at or before ``now``."""
    return next_rollover_day(now, at) - timedelta(days=1)


def swap_days(day: date, triple_weekday: int) -> int:
    """Days of swap the rollover of trading day ``day`` books: 0 at weekends, 3 on the triple day.

    The weekend check comes first, so a triple weekday on Saturday or Sunday never applies.
    """
    weekday = day.isoweekday()
    if weekday in (SATURDAY, SUNDAY):
        return 0
    return 3 if weekday == triple_weekday else 1


def swap_charge(
    side: Side,
    volume: Decimal,
    spec: SymbolSpec,
    days: int,
    account_currency: str,
    prices: Mapping[str, Price],
) -> Decimal:
    """Signed swap in the account currency, rounded to its minor unit (negative = the client pays).

    ``points x point x contract size x lots x days`` in the quote currency, converted at the
    current quotes; raises ``NoConversionRate`` when none converts the quote currency.
    """
    in_quote = swap_points(spec, side) * spec.point * spec.contract_size * volume * days
    rate = domain.conversion_rate(spec.quote_currency, account_currency, prices)
    return to_money(in_quote * rate, account_currency)


# --- lot sizing ----------------------------------------------------------------------------------


def floor_to_step(volume: Decimal, step: Decimal) -> Decimal:
    """The largest multiple of ``step`` not above ``volume``, with the step's decimal places."""
    steps = (volume / step).to_integral_value(rounding=ROUND_FLOOR)
    return (steps * step).quantize(step)


def loss_per_lot(
    distance: Decimal, spec: SymbolSpec, account_currency: str, prices: Mapping[str, Price]
) -> Decimal:
    """What one lot loses over a price ``distance``, in the account currency (unrounded)."""
    rate = domain.conversion_rate(spec.quote_currency, account_currency, prices)
    return distance * spec.contract_size * rate


def lot_for_risk(risk: Decimal, per_lot: Decimal, spec: SymbolSpec) -> Decimal:
    """Volume that loses at most ``risk`` when one lot loses ``per_lot``.

    Rounded down to the volume step and capped at the maximum volume; ``0`` when even the
    minimum volume would lose more than ``risk``.
    """
    if risk <= 0 or per_lot <= 0:
        raise ValueError("risk and loss per lot must be positive")
    volume = min(
        floor_to_step(risk / per_lot, spec.volume_step),
        floor_to_step(spec.volume_max, spec.volume_step),
    )
    return volume if volume >= spec.volume_min else ZERO
