"""Trigger scan: the cost of a tick with 100 000 armed entries against a tick with none.

    python bench/trigger_scan.py [--quick] [--entries 100000] [--ticks 200000]

Arms pending orders (BUY/SELL LIMIT/STOP) and SL/TP levels of open positions across six symbols
in oms's trigger watcher, then replays the same random-walk tick stream (near the market, so
nothing fires) through ``TriggerWatcher.on_quote`` twice: with the books empty and with them
full. Each tick is timed on its own (metrics and dispatch included, Redis excluded: this is the
oms side of the tick). Also reports the cost of arming / modifying an entry and of a tick that
fires, per fired entry. Prints one JSON document; the harness calls ``run(quick)``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import random
import time
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms import (
    AccountId,
    AccountRisk,
    CloseReason,
    OrderId,
    OrderType,
    PositionId,
    Price,
    ProtectedPosition,
    Side,
    TriggerState,
    TriggerWatcher,
    WatcherSettings,
    WorkingOrder,
)

# symbol -> (mid, digits)
SYMBOLS: dict[str, tuple[str, int]] = {
    "EURUSD": ("1.08500", 5),
    "GBPUSD": ("1.27000", 5),
    "USDJPY": ("150.000", 3),
    "AUDUSD": ("0.66000", 5),
    "USDCHF": ("0.90000", 5),
    "XAUUSD": ("2350.00", 2),
}
SPREAD_POINTS = 10
WALK_POINTS = 20  # ticks stay within this of the mid ...
NEAREST_POINTS = 30  # ... and no entry is armed closer than this: nothing fires
FARTHEST_POINTS = 3000
ORDER_SHARE = Decimal("0.6")  # the rest are SL + TP pairs of open positions
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


class NullCore:
    """Trading-core actions that do nothing (the scan, not the execution, is measured)."""

    def __init__(self) -> None:
        self.count = 0

    async def trigger_order(self, order_id: OrderId, account_id: AccountId, quote: Price) -> None:
        self.count += 1

    async def activate_stop_limit(
        self, order_id: OrderId, account_id: AccountId, quote: Price
    ) -> None:
        self.count += 1

    async def expire_order(self, order_id: OrderId, account_id: AccountId, at: datetime) -> None:
        self.count += 1

    async def close_for_protection(
        self, position_id: PositionId, account_id: AccountId, reason: CloseReason, quote: Price
    ) -> None:
        self.count += 1

    async def move_trailing_stop(
        self, position_id: PositionId, account_id: AccountId, stop_loss: Decimal, quote: Price
    ) -> None:
        self.count += 1

    async def stop_out(self, account_id: AccountId, margin_level: Decimal) -> None:
        self.count += 1

    async def margin_call(self, account_id: AccountId, margin_level: Decimal) -> None:
        self.count += 1

    async def load_triggers(self) -> TriggerState:
        return TriggerState((), (), (), ())

    async def load_account(self, account_id: AccountId) -> AccountRisk | None:
        return None


def _point(digits: int) -> Decimal:
    return Decimal(1).scaleb(-digits)


def _entries(count: int, rng: random.Random) -> tuple[list[WorkingOrder], list[ProtectedPosition]]:
    """``count`` book entries: pending orders, and positions with an SL and a TP (two each)."""
    orders, positions = [], []
    names = list(SYMBOLS)
    n_orders = int(count * ORDER_SHARE)
    for n in range(n_orders):
        symbol = names[n % len(names)]
        mid, digits = Decimal(SYMBOLS[symbol][0]), SYMBOLS[symbol][1]
        away = _point(digits) * rng.randint(NEAREST_POINTS, FARTHEST_POINTS)
        side = Side.BUY if n % 2 else Side.SELL
        kind = OrderType.LIMIT if (n // 2) % 2 else OrderType.STOP
        below = (side is Side.BUY) == (kind is OrderType.LIMIT)  # buy limit / sell stop: below
        price = mid - away if below else mid + away
        orders.append(WorkingOrder(OrderId(n), AccountId(n % 5000), symbol, side, kind, price))
    for n in range((count - n_orders) // 2):
        symbol = names[n % len(names)]
        mid, digits = Decimal(SYMBOLS[symbol][0]), SYMBOLS[symbol][1]
        point = _point(digits)
        side = Side.BUY if n % 2 else Side.SELL
        sl_away = point * rng.randint(NEAREST_POINTS, FARTHEST_POINTS)
        tp_away = point * rng.randint(NEAREST_POINTS, FARTHEST_POINTS)
        sl, tp = (
            (mid - sl_away, mid + tp_away) if side is Side.BUY else (mid + sl_away, mid - tp_away)
        )
        positions.append(
            ProtectedPosition(PositionId(n), AccountId(n % 5000), symbol, side, mid, point, sl, tp)
        )
    return orders, positions


def _ticks(count: int, rng: random.Random) -> list[tuple[str, Decimal, Decimal]]:
    """A random walk per symbol, round robin, within ``WALK_POINTS`` of each mid."""
    names = list(SYMBOLS)
    offsets = dict.fromkeys(names, 0)
    out = []
    for n in range(count):
        symbol = names[n % len(names)]
        mid, digits = Decimal(SYMBOLS[symbol][0]), SYMBOLS[symbol][1]
        offsets[symbol] = max(-WALK_POINTS, min(WALK_POINTS, offsets[symbol] + rng.randint(-3, 3)))
        point = _point(digits)
        bid = mid + point * offsets[symbol] - point * (SPREAD_POINTS // 2)
        out.append((symbol, bid, bid + point * SPREAD_POINTS))
    return out


def _summary(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000, 2)

    total_s = sum(ordered) / 1e9
    return {
        "ticks": len(ordered),
        "p50_us": pct(0.50),
        "p90_us": pct(0.90),
        "p99_us": pct(0.99),
        "p99_9_us": pct(0.999),
        "max_us": round(ordered[-1] / 1000, 2),
        "mean_us": round(sum(ordered) / len(ordered) / 1000, 3),
        "ticks_per_second": round(len(ordered) / total_s),
    }


def _watcher(core: NullCore) -> TriggerWatcher:
    return TriggerWatcher(None, core, core, now=lambda: NOW, settings=WatcherSettings())


def _replay(watcher: TriggerWatcher, ticks: list[tuple[str, Decimal, Decimal]]) -> list[int]:
    clock = time.perf_counter_ns
    on_quote = watcher.on_quote
    samples = []
    for symbol, bid, ask in ticks:
        started = clock()
        on_quote(symbol, bid, ask)
        samples.append(clock() - started)
    return samples


async def run(quick: bool, entries: int = 100_000, ticks: int | None = None) -> dict[str, Any]:
    """Scenario 4: per-tick cost with ``entries`` armed against none (``quick``: fewer ticks)."""
    rng = random.Random(20250602)
    n_ticks = ticks or (20_000 if quick else 200_000)
    stream = _ticks(n_ticks, rng)
    warmup = stream[: max(1000, n_ticks // 10)]
    orders, positions = _entries(entries, rng)

    empty = _watcher(NullCore())
    _replay(empty, warmup)
    gc.collect()
    empty_samples = _replay(empty, stream)

    core = NullCore()
    full = _watcher(core)
    started = time.perf_counter()
    for order in orders:
        full.upsert_order(order)
    for position in positions:
        full.upsert_position(position)
    arm_s = time.perf_counter() - started
    armed = len(full.book)
    _replay(full, warmup)
    gc.collect()
    full_samples = _replay(full, stream)
    if core.count or len(full.book) != armed:
        raise RuntimeError("the scan ticks must not fire anything")

    # Modify (re-arm at a new price) a sample of orders: O(log n) each.
    sample = orders[:10_000]
    started = time.perf_counter()
    for order in sample:
        full.upsert_order(
            WorkingOrder(
                order.order_id,
                order.account_id,
                order.symbol,
                order.side,
                order.type,
                order.price + _point(SYMBOLS[order.symbol][1]),
            )
        )
    modify_us = (time.perf_counter() - started) / len(sample) * 1e6

    # A tick that fires: walk EURUSD's ask down through its buy limits, 50 points per tick.
    full.start_dispatcher()
    digits = SYMBOLS["EURUSD"][1]
    mid, point = Decimal(SYMBOLS["EURUSD"][0]), _point(digits)
    fired = 0
    fire_ns = 0
    for step in range(1, 61):
        bid = mid - point * (50 * step)
        t0 = time.perf_counter_ns()
        fired += full.on_quote("EURUSD", bid, bid + point * SPREAD_POINTS)
        fire_ns += time.perf_counter_ns() - t0
    await full.drain()
    await full.stop()

    empty_s, full_s = _summary(empty_samples), _summary(full_samples)
    return {
        "scenario": "trigger_scan",
        "layer": "oms TriggerWatcher.on_quote (book scan + metrics + dispatch), no Redis",
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        "symbols": len(SYMBOLS),
        "entries_armed": armed,
        "pending_orders": len(orders),
        "sl_tp_levels": armed - len(orders),
        "arm_us_per_entry": round(arm_s / armed * 1e6, 2),
        "modify_us_per_order": round(modify_us, 2),
        "tick_empty": empty_s,
        "tick_full": full_s,
        "ratio_full_to_empty": {
            "p50": round(full_s["p50_us"] / empty_s["p50_us"], 2),
            "p99": round(full_s["p99_us"] / empty_s["p99_us"], 2),
            "mean": round(full_s["mean_us"] / empty_s["mean_us"], 2),
        },
        "target": "a tick with 100 000 entries costs < 2x a tick with none",
        "target_met": full_s["mean_us"] < 2 * empty_s["mean_us"]
        and full_s["p50_us"] < 2 * empty_s["p50_us"],
        "firing": {
            "entries_fired": fired,
            "actions_run": core.count,
            "us_per_fired_entry": round(fire_ns / max(fired, 1) / 1000, 2),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=None)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.quick, args.entries, args.ticks)), indent=2))


if __name__ == "__main__":
    main()
