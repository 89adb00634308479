"""Price-sorted trigger books: pending orders, SL/TP, trailing stops, expiry and margin thresholds.

Pure and synchronous (no I/O): the watcher feeds it quotes and the clock and turns what fires into
actions. Per symbol, every entry sits in one of four ladders, by the side of the quote it watches
and the direction that fires it:

=========  ============  ======================================================================
ladder     fires when    holds
=========  ============  ======================================================================
ask_falls  ask <= level  BUY LIMIT; SELL position TP; SELL trailing move due
ask_rises  ask >= level  BUY STOP (and STOP_LIMIT's stop); SELL position SL; short thresholds
bid_rises  bid >= level  SELL LIMIT; BUY position TP; BUY trailing move due
bid_falls  bid <= level  SELL STOP (and STOP_LIMIT's stop); BUY position SL; long thresholds
=========  ============  ======================================================================

A tick peeks at the extreme entry of each ladder, O(1), and takes what it crossed, O(log n + k);
add, remove and modify are O(log n). Levels are compared, never matched for equality, so a quote
that gapped fires every entry it passed. An entry fires once: it leaves the book when it fires, and
whoever carries out the action arms it again if the action could not be done.

Trailing stops live in the same ladders, keyed by the price at which the next move is due (BUY:
``bid >= max(open + distance, SL + distance + step)``), so a tick touches only positions whose move
is due; the move is applied here at once (SL and next due price) and reported as fired.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sortedcontainers import SortedList  # type: ignore[import-untyped]

from oms.domain.model import AccountId, OrderId, OrderType, PositionId, Price, Side
from oms.domain.stopout import Threshold


class TriggerKind(StrEnum):
    """What a book entry stands for (also the ``kind`` label of the book-size gauge)."""

    ORDER = "order"
    STOP_LOSS = "stop_loss"
    TAKE_PROFIT = "take_profit"
    TRAILING = "trailing"
    STOP_OUT = "stop_out"
    MARGIN_CALL = "margin_call"
    EXPIRY = "expiry"


class FiredKind(StrEnum):
    """What the owner of the book must now do."""

    TRIGGER_ORDER = "order"  # a LIMIT / STOP (or activated stop-limit) reached its price: execute
    ACTIVATE_STOP_LIMIT = "stop_limit"  # a STOP_LIMIT reached its stop: works as a limit now
    STOP_LOSS = "stop_loss"  # close the position (reason STOP_LOSS)
    TAKE_PROFIT = "take_profit"  # close the position (reason TAKE_PROFIT)
    TRAIL = "trailing"  # persist the position's new stop loss
    RISK_CHECK = "risk_check"  # a margin threshold was crossed: check the account precisely
    EXPIRE = "expiry"  # a GTD / DAY order reached its expiry time


@dataclass(frozen=True, slots=True)
class WorkingOrder:
    """A pending order waiting for its price (status WORKING)."""

    order_id: OrderId
    account_id: AccountId
    symbol: str
    side: Side
    type: OrderType  # LIMIT, STOP or STOP_LIMIT
    price: Decimal  # limit price, or stop price for STOP / STOP_LIMIT
    stop_limit_price: Decimal | None = None
    stop_limit_active: bool = False  # a STOP_LIMIT whose stop was reached: a limit now
    expire_at: datetime | None = None  # GTD time, or the end of the trading day for DAY

    @property
    def works_as_limit(self) -> bool:
        return self.type is OrderType.LIMIT or (
            self.type is OrderType.STOP_LIMIT and self.stop_limit_active
        )

    @property
    def trigger_price(self) -> Decimal:
        if self.type is OrderType.STOP_LIMIT and self.stop_limit_active:
            assert self.stop_limit_price is not None
            return self.stop_limit_price
        return self.price


@dataclass(frozen=True, slots=True)
class ProtectedPosition:
    """An open position with a stop loss, a take profit and/or a trailing stop."""

    position_id: PositionId
    account_id: AccountId
    symbol: str
    side: Side
    open_price: Decimal
    point: Decimal  # the symbol's point: trailing distances are in points
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    trailing_distance_points: int = 0  # 0: no trailing stop
    trailing_step_points: int = 0

    def trailing_due(self) -> Decimal | None:
        """The closing price at which the next trailing move is due, or None without trailing.

        The first move waits until the position is ``distance`` in profit (the stop loss then
        lands at break-even or better); later moves need an improvement of at least ``step``
        points (one point when the step is 0).
        """
        if self.trailing_distance_points <= 0:
            return None
        distance = self.point * self.trailing_distance_points
        step = self.point * max(self.trailing_step_points, 1)
        if self.side is Side.BUY:
            due = self.open_price + distance
            if self.stop_loss is not None:
                due = max(due, self.stop_loss + distance + step)
        else:
            due = self.open_price - distance
            if self.stop_loss is not None:
                due = min(due, self.stop_loss - distance - step)
        return due


@dataclass(frozen=True, slots=True)
class Fired:
    """One entry that fired, with the quote that fired it (None for expiry).

    ``price`` is the side of the quote the entry watched: the ask for buy orders and for closing
    sell positions, the bid otherwise.
    """

    kind: FiredKind
    account_id: AccountId
    ref: int  # order id, position id or account id
    symbol: str
    quote: Price | None
    price: Decimal | None
    order: WorkingOrder | None = None  # as it was in the book
    position: ProtectedPosition | None = None  # as it was (for TRAIL: after the move)
    stop_loss: Decimal | None = None  # TRAIL: the new stop loss
    at: datetime | None = None  # EXPIRE: the expiry time


_Key = tuple[TriggerKind, int, str]
_Item = tuple[Decimal, int, _Key]
_MAX_SEQ = 1 << 62
_NOTHING: list[_Item] = []


_INF = Decimal("Infinity")


class _Ladder:
    """Entries that fire when the quote rises to their level (``rising``) or falls to it.

    ``edge`` is the level that fires first (+/- infinity when empty), so a tick that fires
    nothing costs one comparison per ladder.
    """

    __slots__ = ("edge", "items", "rising")

    def __init__(self, rising: bool) -> None:
        self.rising = rising
        self.items = SortedList()
        self.edge = _INF if rising else -_INF

    def add(self, item: _Item) -> None:
        self.items.add(item)
        if (item[0] < self.edge) if self.rising else (item[0] > self.edge):
            self.edge = item[0]

    def remove(self, item: _Item) -> None:
        self.items.remove(item)
        if item[0] == self.edge:
            self._reset_edge()

    def _reset_edge(self) -> None:
        items = self.items
        if self.rising:
            self.edge = items[0][0] if items else _INF
        else:
            self.edge = items[-1][0] if items else -_INF

    def take_crossed(self, quote: Decimal) -> list[_Item]:
        items = self.items
        if self.rising:  # fires when quote >= level: the lowest levels first
            if quote < self.edge:
                return _NOTHING
            n = items.bisect_right((quote, _MAX_SEQ))
            fired = list(items.islice(0, n))
            del items[:n]
        else:  # fires when quote <= level: the highest levels first
            if quote > self.edge:
                return _NOTHING
            n = items.bisect_left((quote, -_MAX_SEQ))
            fired = list(items.islice(n, reverse=True))  # in the order a falling price meets them
            del items[n:]
        self._reset_edge()
        return fired


class _SymbolBook:
    __slots__ = ("ask_falls", "ask_rises", "bid_falls", "bid_rises")

    def __init__(self) -> None:
        self.ask_falls = _Ladder(rising=False)
        self.ask_rises = _Ladder(rising=True)
        self.bid_rises = _Ladder(rising=True)
        self.bid_falls = _Ladder(rising=False)

    def ladder(self, on_ask: bool, rising: bool) -> _Ladder:
        if on_ask:
            return self.ask_rises if rising else self.ask_falls
        return self.bid_rises if rising else self.bid_falls


_RISK_KINDS = (TriggerKind.STOP_OUT, TriggerKind.MARGIN_CALL)


class TriggerBook:
    """Every trigger of every symbol; one instance per oms process (or per account shard)."""

    def __init__(self) -> None:
        self._books: dict[str, _SymbolBook] = {}
        self._where: dict[_Key, tuple[_Ladder, _Item]] = {}
        self._orders: dict[OrderId, WorkingOrder] = {}
        self._positions: dict[PositionId, ProtectedPosition] = {}
        self._risk: dict[tuple[TriggerKind, AccountId], list[_Key]] = {}
        self._expiry: SortedList = SortedList()  # (expire_at, order_id)
        self._counts: Counter[TriggerKind] = Counter()
        self._seq = itertools.count()

    # --- entries ---------------------------------------------------------------------------------

    def _add(self, key: _Key, symbol: str, on_ask: bool, rising: bool, level: Decimal) -> None:
        book = self._books.get(symbol)
        if book is None:
            book = self._books[symbol] = _SymbolBook()
        ladder = book.ladder(on_ask, rising)
        # A falling ladder is read from its top: a negated sequence keeps equal levels first-come
        # first-served there too.
        seq = next(self._seq)
        item = (level, seq if rising else -seq, key)
        ladder.add(item)
        self._where[key] = (ladder, item)
        self._counts[key[0]] += 1

    def _discard(self, key: _Key) -> None:
        found = self._where.pop(key, None)
        if found is not None:
            found[0].remove(found[1])
            self._counts[key[0]] -= 1

    # --- pending orders --------------------------------------------------------------------------

    def upsert_order(self, order: WorkingOrder) -> None:
        """Arm (or re-arm with new values) a working order; O(log n)."""
        if order.type is OrderType.MARKET:
            raise ValueError("a market order has no trigger")
        self.remove_order(order.order_id)
        buy = order.side is Side.BUY
        # BUY LIMIT: ask <= price; BUY STOP: ask >= price; SELL LIMIT: bid >= price; SELL STOP:
        # bid <= price. A buy watches the ask, a sell the bid.
        rising = (not buy) if order.works_as_limit else buy
        key = (TriggerKind.ORDER, order.order_id, "")
        self._add(key, order.symbol, buy, rising, order.trigger_price)
        self._orders[order.order_id] = order
        if order.expire_at is not None:
            self._expiry.add((order.expire_at, order.order_id))

    def remove_order(self, order_id: OrderId) -> WorkingOrder | None:
        """Disarm a working order (cancelled, filled, expired); O(log n)."""
        order = self._orders.pop(order_id, None)
        if order is None:
            return None
        self._discard((TriggerKind.ORDER, order_id, ""))
        if order.expire_at is not None:
            self._expiry.discard((order.expire_at, order_id))
        return order

    def order(self, order_id: OrderId) -> WorkingOrder | None:
        return self._orders.get(order_id)

    # --- positions -------------------------------------------------------------------------------

    def upsert_position(self, position: ProtectedPosition) -> None:
        """Arm a position's SL / TP / trailing stop as given (replacing what was armed)."""
        self.remove_position(position.position_id)
        buy = position.side is Side.BUY
        pid, symbol = position.position_id, position.symbol
        # A buy closes at the bid, a sell at the ask.
        if position.stop_loss is not None:
            key = (TriggerKind.STOP_LOSS, pid, "")
            self._add(key, symbol, not buy, not buy, position.stop_loss)
        if position.take_profit is not None:
            key = (TriggerKind.TAKE_PROFIT, pid, "")
            self._add(key, symbol, not buy, buy, position.take_profit)
        due = position.trailing_due()
        if due is not None:
            self._add((TriggerKind.TRAILING, pid, ""), symbol, not buy, buy, due)
        if position.stop_loss is None and position.take_profit is None and due is None:
            return
        self._positions[pid] = position

    def remove_position(self, position_id: PositionId) -> ProtectedPosition | None:
        """Disarm a position (closed, or its protection removed)."""
        position = self._positions.pop(position_id, None)
        if position is None:
            return None
        for kind in (TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT, TriggerKind.TRAILING):
            self._discard((kind, position_id, ""))
        return position

    def position(self, position_id: PositionId) -> ProtectedPosition | None:
        return self._positions.get(position_id)

    # --- margin thresholds -----------------------------------------------------------------------

    def set_thresholds(
        self, account_id: AccountId, kind: TriggerKind, thresholds: Iterable[Threshold]
    ) -> None:
        """Replace an account's stop-out or margin-call thresholds; O(symbols x log n)."""
        if kind not in _RISK_KINDS:
            raise ValueError(f"{kind} is not a margin threshold")
        self.clear_thresholds(account_id, kind)
        keys: list[_Key] = []
        for t in thresholds:
            key = (kind, account_id, f"{t.symbol}/{t.side.value}")
            buy = t.side is Side.BUY
            # Long exposure loses as the bid falls; short exposure as the ask rises.
            self._add(key, t.symbol, not buy, not buy, t.price)
            keys.append(key)
        if keys:
            self._risk[(kind, account_id)] = keys

    def clear_thresholds(self, account_id: AccountId, kind: TriggerKind | None = None) -> None:
        for k in (kind,) if kind is not None else _RISK_KINDS:
            for key in self._risk.pop((k, account_id), ()):
                self._discard(key)

    def thresholds_of(self, account_id: AccountId, kind: TriggerKind) -> list[Threshold]:
        out = []
        for key in self._risk.get((kind, account_id), ()):
            symbol, side = key[2].split("/")
            out.append(Threshold(symbol, Side(side), self._where[key][1][0]))
        return out

    # --- ticks -----------------------------------------------------------------------------------

    def on_quote(self, symbol: str, bid: Decimal, ask: Decimal) -> list[Fired]:
        """Take every entry of ``symbol`` this quote crossed, and say what each now needs."""
        book = self._books.get(symbol)
        if book is None or (
            ask > book.ask_falls.edge
            and ask < book.ask_rises.edge
            and bid < book.bid_rises.edge
            and bid > book.bid_falls.edge
        ):
            return []
        crossed = (
            book.ask_falls.take_crossed(ask)
            + book.ask_rises.take_crossed(ask)
            + book.bid_rises.take_crossed(bid)
            + book.bid_falls.take_crossed(bid)
        )
        if not crossed:
            return []
        # Detach every crossed entry first: handling one may disarm its siblings (SL and TP of one
        # position, an account's other thresholds), and those must not be taken out twice.
        for _, _, key in crossed:
            del self._where[key]
            self._counts[key[0]] -= 1
        quote = Price(bid, ask)
        fired: list[Fired] = []
        trailing: list[PositionId] = []
        checked: set[AccountId] = set()
        for _, _, key in crossed:
            kind, ref, leg = key
            if kind is TriggerKind.ORDER:
                fired.append(self._order_fired(OrderId(ref), quote))
            elif kind is TriggerKind.STOP_LOSS or kind is TriggerKind.TAKE_PROFIT:
                position = self.remove_position(PositionId(ref))
                if position is not None:  # else both SL and TP were crossed: closed once
                    fired.append(self._close_fired(kind, position, quote))
            elif kind is TriggerKind.TRAILING:
                trailing.append(PositionId(ref))
            elif AccountId(ref) not in checked:  # the first threshold of an account disarms all
                account_id = AccountId(ref)
                checked.add(account_id)
                self.clear_thresholds(account_id)
                price = ask if leg.endswith("/SELL") else bid
                fired.append(
                    Fired(FiredKind.RISK_CHECK, account_id, account_id, symbol, quote, price)
                )
        for position_id in trailing:  # after SL/TP: a position closing now does not trail
            moved = self._trail(position_id, quote)
            if moved is not None:
                fired.append(moved)
        return fired

    def _order_fired(self, order_id: OrderId, quote: Price) -> Fired:
        order = self._orders.pop(order_id)
        if order.expire_at is not None:
            self._expiry.discard((order.expire_at, order_id))
        kind = FiredKind.TRIGGER_ORDER
        if order.type is OrderType.STOP_LIMIT and not order.stop_limit_active:
            kind = FiredKind.ACTIVATE_STOP_LIMIT
        price = quote.ask if order.side is Side.BUY else quote.bid
        return Fired(kind, order.account_id, order_id, order.symbol, quote, price, order=order)

    @staticmethod
    def _close_fired(kind: TriggerKind, position: ProtectedPosition, quote: Price) -> Fired:
        what = FiredKind.STOP_LOSS if kind is TriggerKind.STOP_LOSS else FiredKind.TAKE_PROFIT
        price = quote.bid if position.side is Side.BUY else quote.ask
        return Fired(
            what,
            position.account_id,
            position.position_id,
            position.symbol,
            quote,
            price,
            position=position,
        )

    def _trail(self, position_id: PositionId, quote: Price) -> Fired | None:
        position = self._positions.get(position_id)
        if position is None:
            return None
        distance = position.point * position.trailing_distance_points
        if position.side is Side.BUY:
            price, new_sl = quote.bid, quote.bid - distance
            better = position.stop_loss is None or new_sl > position.stop_loss
        else:
            price, new_sl = quote.ask, quote.ask + distance
            better = position.stop_loss is None or new_sl < position.stop_loss
        if not better:  # cannot happen with a due price computed from this SL; stay armed
            self.upsert_position(position)
            return None
        moved = replace(position, stop_loss=new_sl)
        self.upsert_position(moved)
        return Fired(
            FiredKind.TRAIL,
            position.account_id,
            position_id,
            position.symbol,
            quote,
            price,
            position=moved,
            stop_loss=new_sl,
        )

    # --- expiry ----------------------------------------------------------------------------------

    def pop_expired(self, now: datetime) -> list[Fired]:
        """Disarm and return every order whose expiry time is at or before ``now``."""
        fired = []
        expiry = self._expiry
        while expiry and expiry[0][0] <= now:
            expire_at, order_id = expiry.pop(0)
            order = self._orders.pop(order_id)
            self._discard((TriggerKind.ORDER, order_id, ""))
            fired.append(
                Fired(
                    FiredKind.EXPIRE,
                    order.account_id,
                    order_id,
                    order.symbol,
                    None,
                    None,
                    order=order,
                    at=expire_at,
                )
            )
        return fired

    def next_expiry(self) -> datetime | None:
        return self._expiry[0][0] if self._expiry else None

    # --- introspection ---------------------------------------------------------------------------

    def sizes(self) -> dict[TriggerKind, int]:
        """Armed entries by kind (EXPIRY: orders waiting for their expiry time)."""
        out = {kind: self._counts.get(kind, 0) for kind in TriggerKind}
        out[TriggerKind.EXPIRY] = len(self._expiry)
        return out

    def __len__(self) -> int:
        return len(self._where)
