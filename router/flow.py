"""The flow figures the rule engine reads: per account, its closed deals and markouts; per symbol,
its realized volatility. Pure and in memory (no I/O): ``router.flowfeed`` feeds it from oms's
events and the quote stream, and rebuilds it from ``router.flow_fills`` / ``flow_closes`` at start.

- **Markouts**: for every client fill, the mid 1 s, 10 s and 60 s after the fill (the first
  sampled mid at or after ``fill time + horizon``) against the fill price, in basis points in the
  client's favour: BUY ``(mid - price) / price``, SELL ``(price - mid) / price``. Positive means
  the price went the client's way right after the fill (the house lost on it). The account's
  toxicity score is the mean of its three mean markouts (``TraderStats.toxicity``).
- **Holding times and latency arbitrage**: every closed deal's holding time; a deal held shorter
  than ``LATENCY_ARB_MAX_HOLD_SECONDS`` and closed in profit is a latency-arbitrage signature.
- **Net profit and win rate** from the closed deals' realized P&L (account currency).
- **Realized volatility** per symbol: the square root of the sum of squared mid-to-mid returns
  over the rolling window, per minute of window covered, in basis points per square root of a
  minute. A running sum, so reading it costs O(1).

Every figure is a ``Decimal`` computed from the recorded fills, closes and samples in arrival
order; a decision records the figures it saw, so it can be re-derived.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from bbook import Side
from router.rules import NO_FLOW, TraderStats

ZERO = Decimal(0)
BPS = Decimal(10_000)
HORIZONS_MS = (1_000, 10_000, 60_000)
"""Markout horizons: 1 s, 10 s, 60 s after the fill."""
LATENCY_ARB_MAX_HOLD_SECONDS = Decimal(2)
"""A deal closed in profit within this many seconds of opening is a latency-arbitrage signature."""
HISTORY_MS = 180_000
"""Sampled mids kept for markouts (a fill event may arrive well after the fill)."""
MAX_LATE_MS = 2_000
"""A markout's mid is the first sample at or after its horizon, and no later than this after it:
a fill whose horizon passed while nothing was sampled (the router was down) keeps that markout
empty rather than take a mid from much later."""
MIN_VOLATILITY_SAMPLES = 10
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class FlowFill:
    """One client fill as recorded (``router.flow_fills``); ``mids`` at the three horizons, None
    while not known yet."""

    fill_id: str
    account_id: str
    symbol: str
    side: Side
    price: Decimal
    time_ms: int
    mids: tuple[Decimal | None, Decimal | None, Decimal | None] = (None, None, None)


@dataclass(frozen=True, slots=True)
class FlowClose:
    """One closed deal (position) as recorded (``router.flow_closes``)."""

    position_id: str
    account_id: str
    symbol: str
    profit: Decimal
    open_ms: int
    close_ms: int

    @property
    def holding_seconds(self) -> Decimal:
        return Decimal(max(0, self.close_ms - self.open_ms)) / 1000


@dataclass(slots=True)
class _Account:
    closed: int = 0
    wins: int = 0
    net_profit: Decimal = ZERO
    holding_total: Decimal = ZERO
    arb: int = 0
    markout_sums: list[Decimal] = field(default_factory=lambda: [ZERO, ZERO, ZERO])
    markout_counts: list[int] = field(default_factory=lambda: [0, 0, 0])


def markout_bps(side: Side, price: Decimal, mid: Decimal) -> Decimal:
    """The client's markout in basis points (positive: in the client's favour)."""
    move = mid - price if side is Side.BUY else price - mid
    return (move / price * BPS).quantize(CENT)


class _Volatility:
    """Samples of one symbol's mid and the running sum of squared returns over the window."""

    __slots__ = ("sum_r2", "window")

    def __init__(self) -> None:
        self.window: deque[tuple[int, Decimal, Decimal]] = deque()  # (ts_ms, mid, r^2)
        self.sum_r2 = ZERO


class FlowBook:
    """Per-account flow figures and per-symbol volatility, in memory."""

    def __init__(self, volatility_window_seconds: float = 300.0) -> None:
        self._window_ms = int(volatility_window_seconds * 1000)
        self._accounts: dict[str, _Account] = {}
        self._stats: dict[str, TraderStats] = {}
        """``trader``'s answer per account until a fill or close of it changes the figures."""
        self._closed_ids: set[str] = set()
        self._fill_ids: set[str] = set()
        # Per symbol, a heap of the markouts still waiting, by due time (fill time + horizon):
        # a sample pops what is due instead of walking every fill of the last minute (at
        # 100 fills/s that walk was ~3 % of the process's CPU, and it grows with the rate).
        self._due: dict[str, list[tuple[int, int, int, FlowFill]]] = {}
        self._seq = itertools.count()  # ties in due time keep arrival order
        self._history: dict[str, deque[tuple[int, Decimal]]] = {}
        self._vol: dict[str, _Volatility] = {}

    # --- inputs ------------------------------------------------------------------------------

    def add_fill(self, fill: FlowFill) -> list[tuple[str, int, Decimal]]:
        """Record a client fill (once per fill id); returns the markout mids resolved now from
        the sampled history, as (fill_id, horizon index, mid)."""
        if fill.fill_id in self._fill_ids:
            return []
        self._fill_ids.add(fill.fill_id)
        resolved: list[tuple[str, int, Decimal]] = []
        for i, mid in enumerate(fill.mids):
            if mid is not None:
                self._apply_markout(fill, i, mid)
                continue
            due = fill.time_ms + HORIZONS_MS[i]
            found = self._sample_at(fill.symbol, due)
            if found is None:  # not sampled yet: wait for it
                entry = (due, next(self._seq), i, fill)
                heapq.heappush(self._due.setdefault(fill.symbol, []), entry)
            elif found[0] - due <= MAX_LATE_MS:
                self._apply_markout(fill, i, found[1])
                resolved.append((fill.fill_id, i, found[1]))
        return resolved

    def add_close(self, close: FlowClose) -> None:
        """Record a closed deal (once per position id)."""
        if close.position_id in self._closed_ids:
            return
        self._closed_ids.add(close.position_id)
        acc = self._account(close.account_id)
        self._stats.pop(close.account_id, None)
        acc.closed += 1
        acc.net_profit += close.profit
        acc.holding_total += close.holding_seconds
        if close.profit > 0:
            acc.wins += 1
            if close.holding_seconds < LATENCY_ARB_MAX_HOLD_SECONDS:
                acc.arb += 1

    def add_quote(self, symbol: str, ts_ms: int, mid: Decimal) -> list[tuple[str, int, Decimal]]:
        """Record a sampled mid; returns the markout mids it resolved (fill_id, horizon, mid)."""
        history = self._history.setdefault(symbol, deque())
        if history and ts_ms < history[-1][0]:
            return []  # samples are in time order
        history.append((ts_ms, mid))
        while history and history[0][0] < ts_ms - HISTORY_MS:
            history.popleft()
        self._add_volatility(symbol, ts_ms, mid)
        return self._resolve(symbol, ts_ms, mid)

    def drop_unresolved_before(self, ts_ms: int) -> None:
        """Forget the pending markouts whose horizon is more than ``MAX_LATE_MS`` before
        ``ts_ms`` (nothing was sampled then): those fills stay without them."""
        for due_heap in self._due.values():
            while due_heap and due_heap[0][0] + MAX_LATE_MS < ts_ms:
                heapq.heappop(due_heap)

    # --- figures -----------------------------------------------------------------------------

    def trader(self, account_id: str) -> TraderStats:
        """The account's figures (all zero / None for an account with no recorded flow)."""
        cached = self._stats.get(account_id)
        if cached is not None:
            return cached
        stats = self._stats[account_id] = self._figures(account_id)
        return stats

    def _figures(self, account_id: str) -> TraderStats:
        acc = self._accounts.get(account_id)
        if acc is None:
            return NO_FLOW
        means = [
            (acc.markout_sums[i] / acc.markout_counts[i]).quantize(CENT)
            if acc.markout_counts[i]
            else None
            for i in range(3)
        ]
        return TraderStats(
            closed_deals=acc.closed,
            wins=acc.wins,
            net_profit=acc.net_profit,
            markout_fills=acc.markout_counts[0],
            markout_1s_bps=means[0],
            markout_10s_bps=means[1],
            markout_60s_bps=means[2],
            avg_holding_seconds=(acc.holding_total / acc.closed).quantize(CENT)
            if acc.closed
            else None,
            latency_arb_deals=acc.arb,
        )

    def volatility(self, symbol: str) -> Decimal | None:
        """Realized volatility in bps per square root of a minute over the window, None with
        fewer than ``MIN_VOLATILITY_SAMPLES`` samples in it."""
        vol = self._vol.get(symbol)
        if vol is None or len(vol.window) < MIN_VOLATILITY_SAMPLES:
            return None
        covered_ms = vol.window[-1][0] - vol.window[0][0]
        if covered_ms <= 0:
            return None
        per_minute = max(ZERO, vol.sum_r2) * 60_000 / covered_ms
        return (per_minute.sqrt() * BPS).quantize(CENT)

    def pending_count(self) -> int:
        """Fills still waiting for at least one markout."""
        return len({e[3].fill_id for due_heap in self._due.values() for e in due_heap})

    # --- internals ---------------------------------------------------------------------------

    def _account(self, account_id: str) -> _Account:
        acc = self._accounts.get(account_id)
        if acc is None:
            acc = self._accounts[account_id] = _Account()
        return acc

    def _apply_markout(self, fill: FlowFill, horizon: int, mid: Decimal) -> None:
        acc = self._account(fill.account_id)
        self._stats.pop(fill.account_id, None)
        acc.markout_sums[horizon] += markout_bps(fill.side, fill.price, mid)
        acc.markout_counts[horizon] += 1

    def _sample_at(self, symbol: str, ts_ms: int) -> tuple[int, Decimal] | None:
        """The first sample (time, mid) at or after ``ts_ms``, None while there is none yet."""
        history = self._history.get(symbol)
        if not history or history[-1][0] < ts_ms:
            return None
        i = bisect.bisect_left(history, ts_ms, key=lambda s: s[0])
        return history[i]

    def _resolve(self, symbol: str, ts_ms: int, mid: Decimal) -> list[tuple[str, int, Decimal]]:
        due_heap = self._due.get(symbol)
        resolved: list[tuple[str, int, Decimal]] = []
        while due_heap and due_heap[0][0] <= ts_ms:
            due, _, i, fill = heapq.heappop(due_heap)
            if ts_ms - due <= MAX_LATE_MS:
                self._apply_markout(fill, i, mid)
                resolved.append((fill.fill_id, i, mid))
        return resolved

    def _add_volatility(self, symbol: str, ts_ms: int, mid: Decimal) -> None:
        vol = self._vol.get(symbol)
        if vol is None:
            vol = self._vol[symbol] = _Volatility()
        r2 = ZERO
        if vol.window:
            previous = vol.window[-1][1]
            r = mid / previous - 1
            r2 = r * r
        vol.window.append((ts_ms, mid, r2))
        vol.sum_r2 += r2
        while vol.window and vol.window[0][0] < ts_ms - self._window_ms:
            vol.sum_r2 -= vol.window.popleft()[2]
        # The first sample left carries the return from one that left the window: drop it.
        if vol.window and vol.window[0][2]:
            vol.sum_r2 -= vol.window[0][2]
            first = vol.window.popleft()
            vol.window.appendleft((first[0], first[1], ZERO))
