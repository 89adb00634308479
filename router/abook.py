"""A-book pricing: how an LP's execution becomes the client's fills. Pure, no I/O, no protobuf.

Price policy (per symbol, ``router.abook_symbol_settings.price_policy``, default MARKUP):

* ``MARKUP``: the client pays the LP's price plus the markup quotes applied to the client quote the
  client traded on (``markupBid`` / ``markupAsk`` of the quote document in Redis, rounding
  included): a BUY fills at ``LP price + markupAsk``, a SELL at ``LP price - markupBid``, rounded
  to the client quote's decimal places away from the client (BUY up, SELL down), as quotes rounds
  the quote itself. The broker keeps the markup as revenue; a fill at the LP's quoted price gives
  the client exactly the client quote.
* ``PASS_THROUGH``: the client gets the LP's price as it is (no markup, no rounding).

The client's constraints are client prices: ``requested_price`` +/- ``max_price_deviation`` and a
pending order's ``limit_price`` bound the client price (BUY: at most, SELL: at least). The router
turns the tightest of them into the LP's worst price by taking the markup off (BUY: minus
markupAsk, SELL: plus markupBid) and sends it as ``worst_price``, so the LP enforces it (LIMIT
IOC/FOK at that price). The fills are checked again: an LP that filled beyond its limit has done
so (the risk is at the LP, so the fill is booked), but the client is never charged beyond the
constraint it gave: its price is capped at the client worst price, the difference is the broker's,
and the event is logged as an error and counted (``fxmesh_router_abook_fills_beyond_limit_total``).

Reasons to oms for an LP execution without fills: fixgw's reason as it is (``NO_LIQUIDITY``,
``LP_REJECTED`` with the LP's text as message, ``LP_EXPIRED``, ...), except that ``LP_EXPIRED``
of an order with a ``limit_price`` (a triggered pending order) becomes ``LIMIT_NOT_REACHED``, so
oms re-arms the order instead of rejecting it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from bbook import Side
from fxmesh.money import fmt, quantize
from fxmesh.quotecache import ClientQuote
from fxmesh.reasons import Reason
from router.domain import Book, ClientFill

ZERO = Decimal(0)
# The routing reason of a closing order sent where the position's risk is.
CLOSE_FOLLOWS_VENUE = "CLOSE_FOLLOWS_VENUE"


class PricePolicy(StrEnum):
    """How an A-book fill is priced for the client (see the module docstring)."""

    MARKUP = "MARKUP"
    PASS_THROUGH = "PASS_THROUGH"


@dataclass(frozen=True, slots=True)
class AbookSymbolSettings:
    """A-book execution settings of one symbol (``router.abook_symbol_settings``)."""

    price_policy: PricePolicy = PricePolicy.MARKUP


@dataclass(frozen=True, slots=True)
class Markup:
    """What is added to an LP price for the client: ``ask`` on a BUY, ``bid`` off a SELL.

    ``places``: decimal places the client price is rounded to (away from the client); None
    leaves it unrounded.
    """

    bid: Decimal = ZERO
    ask: Decimal = ZERO
    places: int | None = None

    @staticmethod
    def of_quote(quote: ClientQuote) -> Markup:
        """The markup quotes applied to ``quote`` (zero where the document does not carry it)."""
        exponent = quote.ask.as_tuple().exponent
        places = max(0, -exponent) if isinstance(exponent, int) else None
        return Markup(quote.markup_bid or ZERO, quote.markup_ask or ZERO, places)

    def client_price(self, side: Side, lp_price: Decimal) -> Decimal:
        """The client's price of an LP fill at ``lp_price``."""
        if side is Side.BUY:
            price = lp_price + self.ask
            rounding = ROUND_CEILING
        else:
            price = lp_price - self.bid
            rounding = ROUND_FLOOR
        if self.places is None or (self.bid == ZERO and self.ask == ZERO):
            return price
        return quantize(price, self.places, rounding)

    def lp_price(self, side: Side, client_price: Decimal) -> Decimal:
        """The LP price that gives the client ``client_price`` (the markup taken off)."""
        return client_price - self.ask if side is Side.BUY else client_price + self.bid


PASS_THROUGH_MARKUP = Markup()


def client_worst_price(
    side: Side,
    *,
    requested_price: Decimal | None,
    max_deviation: Decimal | None,
    limit_price: Decimal | None,
) -> Decimal | None:
    """The worst client price the order accepts (BUY: highest, SELL: lowest), or None (any)."""
    bounds: list[Decimal] = []
    if limit_price is not None:
        bounds.append(limit_price)
    if requested_price is not None and max_deviation is not None:
        if side is Side.BUY:
            bounds.append(requested_price + max_deviation)
        else:
            bounds.append(requested_price - max_deviation)
    if not bounds:
        return None
    return min(bounds) if side is Side.BUY else max(bounds)


def lp_worst_price(side: Side, client_worst: Decimal | None, markup: Markup) -> Decimal | None:
    """The worst LP price to send (``worst_price``): the client worst price less the markup.

    None when the client accepts any price, or when the markup leaves no positive price (the LP
    could fill at no price the client accepts: the caller rejects the order).
    """
    if client_worst is None:
        return None
    return markup.lp_price(side, client_worst)


def beyond(side: Side, price: Decimal, worst: Decimal) -> bool:
    """True when ``price`` is worse for a ``side`` order than ``worst``."""
    return price > worst if side is Side.BUY else price < worst


class LpStatus(StrEnum):
    """fixgw's LpOrderStatus, without its prefix."""

    PENDING = "PENDING"
    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    REJECTED = "REJECTED"
    UNKNOWN = "UNKNOWN"
    NOT_FOUND = "NOT_FOUND"

    @property
    def final_with_fills(self) -> bool:
        return self in (LpStatus.FILLED, LpStatus.PARTIALLY_FILLED)

    @property
    def unresolved(self) -> bool:
        """The order's fate is not known yet: ask again later, never answer it either way."""
        return self in (LpStatus.PENDING, LpStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class LpFill:
    """One LP execution (ExecID) of an order, volume in lots, price the LP's."""

    lp: str
    lp_order_id: str
    exec_id: str
    cl_ord_id: str
    price: Decimal
    volume: Decimal
    transact_time: datetime | None
    receive_time: datetime | None

    @property
    def fill_id(self) -> str:
        """The client fill id: unique forever, as ClOrdIDs are and ExecIDs are per ClOrdID."""
        return f"{self.cl_ord_id}/{self.exec_id}"


@dataclass(frozen=True, slots=True)
class LpExecution:
    """What fixgw knows about one order at the LPs."""

    order_id: str
    status: LpStatus
    fills: tuple[LpFill, ...] = ()
    reject_reason: str = ""
    reject_message: str = ""


@dataclass(frozen=True, slots=True)
class AbookFill:
    """A client fill of an A-book order with the LP execution it comes from (``router.lp_fills``)."""

    fill_id: str
    order_id: str
    account_id: str
    symbol: str
    client_side: Side
    lp: str
    lp_order_id: str
    cl_ord_id: str
    exec_id: str
    volume: Decimal
    lp_price: Decimal
    price: Decimal
    filled_at: datetime
    received_at: datetime | None

    def client_fill(self) -> ClientFill:
        return ClientFill(
            fill_id=self.fill_id,
            price=self.price,
            volume=self.volume,
            book=Book.A,
            venue=self.lp,
            fill_time=self.filled_at,
            venue_order_id=self.lp_order_id,
            venue_price=self.lp_price,
        )


@dataclass(frozen=True, slots=True)
class PricedFills:
    """The client fills of an execution, and the LP fills that went beyond the order's limit."""

    fills: tuple[AbookFill, ...]
    beyond_limit: tuple[LpFill, ...]


def price_fills(
    fills: Sequence[LpFill],
    *,
    order_id: str,
    account_id: str,
    symbol: str,
    side: Side,
    markup: Markup,
    client_worst: Decimal | None,
    now: datetime,
) -> PricedFills:
    """Client fills for ``fills``: priced by ``markup``, capped at ``client_worst``."""
    priced: list[AbookFill] = []
    violations: list[LpFill] = []
    for fill in fills:
        price = markup.client_price(side, fill.price)
        if client_worst is not None and beyond(side, price, client_worst):
            violations.append(fill)
            price = client_worst
        priced.append(
            AbookFill(
                fill_id=fill.fill_id,
                order_id=order_id,
                account_id=account_id,
                symbol=symbol,
                client_side=side,
                lp=fill.lp,
                lp_order_id=fill.lp_order_id,
                cl_ord_id=fill.cl_ord_id,
                exec_id=fill.exec_id,
                volume=fill.volume,
                lp_price=fill.price,
                price=price,
                filled_at=fill.transact_time or fill.receive_time or now,
                received_at=fill.receive_time,
            )
        )
    return PricedFills(tuple(priced), tuple(violations))


def reject_reason(lp_reason: str, *, has_limit_price: bool) -> str:
    """The reason oms gets for an LP execution that ended without fills."""
    reason = lp_reason or Reason.LP_REJECTED
    if reason == Reason.LP_EXPIRED and has_limit_price:
        return Reason.LIMIT_NOT_REACHED
    return reason


def reject_message(execution: LpExecution, symbol: str, worst: Decimal | None) -> str:
    """The LP's own text where it gave one, else a plain sentence."""
    if execution.reject_message:
        return execution.reject_message
    reason = execution.reject_reason or Reason.LP_REJECTED
    if reason == Reason.LP_EXPIRED and worst is not None:
        return f"no LP filled {symbol} at {fmt(worst)} or better"
    return f"{symbol} was not filled by any LP ({reason})"


@dataclass(frozen=True, slots=True)
class HouseLeg:
    """The B leg of a C-book order, priced (at the client quote) before its A leg is sent.

    It commits with the A leg's outcome, in the same statement: ``volume`` plus whatever the A leg
    did not fill, at ``price`` (the B-book takes the rest, ``docs/routing.md``).
    """

    order_volume: Decimal
    """The client order's whole volume (A leg + B leg)."""
    volume: Decimal
    price: Decimal
    quote_to_usd_rate: Decimal
    priced_at: datetime

    def fill_volume(self, a_volume: Decimal, a_filled: Decimal) -> Decimal:
        """The B leg's volume once the A leg filled ``a_filled`` of ``a_volume``."""
        return self.volume + max(ZERO, a_volume - a_filled)


@dataclass(frozen=True, slots=True)
class AbookOrder:
    """An A-book order as sent to fixgw (``router.abook_orders``), with its pricing context.

    For a C-book order this is its A leg (``volume`` the leg's) and ``leg`` its B leg.
    """

    order_id: str
    account_id: str
    symbol: str
    side: Side
    volume: Decimal
    contract_size: Decimal
    policy: PricePolicy
    markup: Markup
    client_worst: Decimal | None
    lp_worst: Decimal | None
    has_limit: bool
    lps: tuple[str, ...] = ()
    leg: HouseLeg | None = None
    preferred_lps: tuple[str, ...] = ()
    """LPs fixgw tries first (the symbol's ``routing_symbol_settings.preferred_lps``)."""

    @property
    def client_volume(self) -> Decimal:
        """The client order's volume (the A leg's plus the B leg's for a C-book order)."""
        return self.leg.order_volume if self.leg is not None else self.volume

    def price(self, execution: LpExecution, now: datetime) -> PricedFills:
        """The client fills of ``execution``'s LP fills."""
        return price_fills(
            execution.fills,
            order_id=self.order_id,
            account_id=self.account_id,
            symbol=self.symbol,
            side=self.side,
            markup=self.markup,
            client_worst=self.client_worst,
            now=now,
        )
