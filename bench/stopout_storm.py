"""Stop-out storm: 10 000 accounts pushed under their stop-out level by one gapped quote.

    python bench/stopout_storm.py [--quick] [--accounts 10000] [--workers 32] [--action-ms 0]

Every account (leverage 1:500) holds a long EURUSD position (a third also a smaller GBPUSD one),
with a margin level between 150 % and 400 %. One EURUSD quote gaps 300 points down, which takes every account below 50 %. Measured
at oms's trigger layer: the gapped tick (10 000 thresholds crossed, precise checks queued), then
the precise checks and stop-outs until every account is back above its stop-out level or flat.
The trading core is an in-memory stand-in that closes the most losing position first, instantly
(``--action-ms`` adds a simulated commit time per stop-out); the end-to-end version, with
PostgreSQL commits and router executions, is in ``bench/scenarios/stop_out_storm.py``.
Meanwhile another symbol keeps ticking every millisecond and its evaluation delay is reported.
``run(quick)`` for the harness.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import platform
import random
import time
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from fxmesh.money import to_money
from oms import (
    AccountId,
    AccountRisk,
    CloseReason,
    OrderId,
    PositionId,
    Price,
    RiskPosition,
    Side,
    SymbolSpec,
    TriggerState,
    TriggerWatcher,
    WatcherSettings,
    closing_price,
    margin,
    margin_level,
    profit,
)

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
STOP_OUT = Decimal(50)
GAP_POINTS = 300
LEVERAGE = 500  # 217 USD of margin per EURUSD lot: a 300-point gap costs more than 100 % of it


def _spec(symbol: str) -> SymbolSpec:
    return SymbolSpec(
        symbol=symbol,
        base_currency=symbol[:3],
        quote_currency=symbol[3:],
        digits=5,
        contract_size=Decimal(100000),
        volume_min=Decimal("0.01"),
        volume_max=Decimal(50),
        volume_step=Decimal("0.01"),
        margin_percent=Decimal(100),
        commission_per_lot=Decimal(0),
        commission_currency="USD",
        default_deviation_points=20,
        enabled=True,
    )


EURUSD, GBPUSD = _spec("EURUSD"), _spec("GBPUSD")
START = {
    "EURUSD": Price(Decimal("1.08500"), Decimal("1.08510")),
    "GBPUSD": Price(Decimal("1.27000"), Decimal("1.27012")),
}


class InstantCore:
    """The trading core's stop-out, in memory: closes the most losing position first until the
    margin level is above the stop-out level (or nothing is left), at the watcher's quotes."""

    def __init__(self, prices: dict[str, Price], action_ms: float) -> None:
        self.accounts: dict[AccountId, AccountRisk] = {}
        self.prices = prices
        self.action_s = action_ms / 1000
        self.stop_outs = 0
        self.closed = 0
        self.margin_calls = 0

    async def stop_out(self, account_id: AccountId, margin_level_now: Decimal) -> None:
        self.stop_outs += 1
        if self.action_s:
            await asyncio.sleep(self.action_s)
        account = self.accounts[account_id]
        while account.positions:
            level = margin_level(account, self.prices)
            if level is None or level > account.stop_out_level:
                break
            worst = min(account.positions, key=lambda p: self._profit(account, p))
            account = replace(
                account,
                balance=account.balance + self._profit(account, worst),
                positions=tuple(p for p in account.positions if p is not worst),
            )
            self.closed += 1
        self.accounts[account_id] = account

    def _profit(self, account: AccountRisk, p: RiskPosition) -> Decimal:
        close = closing_price(p.side, self.prices[p.symbol])
        return profit(p.side, p.volume, p.open_price, close, p.spec, account.currency, self.prices)

    async def margin_call(self, account_id: AccountId, margin_level: Decimal) -> None:
        self.margin_calls += 1

    async def load_triggers(self) -> TriggerState:
        return TriggerState((), (), (), ())

    async def load_account(self, account_id: AccountId) -> AccountRisk | None:
        return self.accounts.get(account_id)

    # Order and position triggers do not take part in this storm.
    async def trigger_order(self, order_id: OrderId, account_id: AccountId, quote: Price) -> None:
        raise AssertionError("no orders here")

    async def activate_stop_limit(
        self, order_id: OrderId, account_id: AccountId, quote: Price
    ) -> None:
        raise AssertionError("no orders here")

    async def expire_order(self, order_id: OrderId, account_id: AccountId, at: datetime) -> None:
        raise AssertionError("no orders here")

    async def close_for_protection(
        self, position_id: PositionId, account_id: AccountId, reason: CloseReason, quote: Price
    ) -> None:
        raise AssertionError("no protected positions here")

    async def move_trailing_stop(
        self, position_id: PositionId, account_id: AccountId, stop_loss: Decimal, quote: Price
    ) -> None:
        raise AssertionError("no protected positions here")


def _accounts(count: int, rng: random.Random) -> list[AccountRisk]:
    """Accounts at 150 - 400 % that the gap takes below 50 %."""
    out = []
    loss_per_lot = Decimal(GAP_POINTS) * Decimal("0.00001") * 100000  # USD per EURUSD lot
    for n in range(count):
        eur_lots = Decimal(rng.randint(10, 300)) / 100
        gbp_lots = Decimal(rng.randint(0, int(eur_lots * 20))) / 100 if n % 3 == 0 else Decimal(0)
        positions = [
            RiskPosition(PositionId(2 * n), EURUSD, Side.BUY, eur_lots, Decimal("1.08500"))
        ]
        if gbp_lots:
            positions.append(
                RiskPosition(PositionId(2 * n + 1), GBPUSD, Side.BUY, gbp_lots, Decimal("1.27012"))
            )
        probe = AccountRisk(AccountId(n), "USD", Decimal(0), LEVERAGE, tuple(positions))
        used = _margin(probe)
        unrealized = _unrealized(probe, START)
        # After the gap: equity = balance + unrealized - lots x loss; keep it below 45 % of margin.
        highest = min(used * 4, used * Decimal("0.45") + eur_lots * loss_per_lot) - unrealized
        lowest = used * Decimal("1.5") - unrealized
        balance = to_money(lowest + (highest - lowest) * Decimal(rng.random()), "USD")
        out.append(replace(probe, balance=balance, stop_out_level=STOP_OUT))
    return out


def _margin(account: AccountRisk) -> Decimal:
    return sum(
        (
            margin(p.volume, p.open_price, account.leverage, p.spec, "USD", START)
            for p in account.positions
        ),
        Decimal(0),
    )


def _unrealized(account: AccountRisk, prices: dict[str, Price]) -> Decimal:
    total = Decimal(0)
    for p in account.positions:
        close = closing_price(p.side, prices[p.symbol])
        total += profit(p.side, p.volume, p.open_price, close, p.spec, "USD", prices)
    return total


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3) if values else 0.0


async def run(
    quick: bool, accounts: int | None = None, workers: int = 32, action_ms: float = 0.0
) -> dict[str, Any]:
    """Scenario 5: detection + dispatch of a stop-out storm (``quick``: 2 000 accounts)."""
    count = accounts or (2_000 if quick else 10_000)
    rng = random.Random(20250602)
    population = _accounts(count, rng)
    settings = WatcherSettings(workers=workers, sweep_seconds=0)
    core = InstantCore({}, action_ms)
    watcher = TriggerWatcher(None, core, core, now=lambda: NOW, settings=settings)
    core.prices = watcher.prices  # the core sees the quotes the watcher sees, as Redis would give
    for symbol, price in START.items():
        watcher.on_quote(symbol, price.bid, price.ask)
    watcher.start_dispatcher()

    started = time.perf_counter()
    for account in population:
        core.accounts[account.account_id] = account
        watcher.account_changed(account.account_id, account)
    arm_s = time.perf_counter() - started
    await watcher.drain()
    if core.stop_outs or core.margin_calls:
        raise RuntimeError("accounts must start above their margin-call level")
    gc.collect()

    # Another symbol keeps ticking during the storm: how late is each of its ticks evaluated?
    lags: list[float] = []
    storming = True

    async def other_symbol() -> None:
        bid = START["GBPUSD"].bid
        while storming:
            due = time.perf_counter() + 0.001
            await asyncio.sleep(0.001)
            lags.append(max(0.0, time.perf_counter() - due))
            watcher.on_quote("GBPUSD", bid, bid + Decimal("0.00012"))

    ticker = asyncio.create_task(other_symbol())
    await asyncio.sleep(0.01)
    gap_bid = START["EURUSD"].bid - Decimal(GAP_POINTS) * EURUSD.point
    t0 = time.perf_counter()
    crossed = watcher.on_quote("EURUSD", gap_bid, gap_bid + Decimal("0.00010"))
    tick_s = time.perf_counter() - t0
    await watcher.drain()
    total_s = time.perf_counter() - t0
    storming = False
    await ticker
    await watcher.stop()

    flat = restored = still_below = 0
    for account in core.accounts.values():
        level = margin_level(account, watcher.prices)
        if not account.positions:
            flat += 1
        elif level is not None and level > STOP_OUT:
            restored += 1
        else:
            still_below += 1
    return {
        "scenario": "stop_out_storm",
        "layer": "oms TriggerWatcher + in-memory core closing instantly (detection + dispatch)",
        "end_to_end": "python -m bench stop_out_storm: the real stack (end_to_end in its document)",
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        "accounts": count,
        "workers": workers,
        "simulated_action_ms": action_ms,
        "arm_all_accounts_s": round(arm_s, 3),
        "arm_us_per_account": round(arm_s / count * 1e6, 1),
        "gap_points": GAP_POINTS,
        "gap_tick_ms": round(tick_s * 1000, 2),
        "thresholds_crossed_by_gap": crossed,
        "stop_outs": core.stop_outs,
        "positions_closed": core.closed,
        "until_all_above_stop_out_s": round(total_s, 3),
        "us_per_account": round(total_s / count * 1e6, 1),
        "accounts_flat": flat,
        "accounts_restored_with_positions": restored,
        "accounts_still_below": still_below,
        "other_symbol_tick_delay_ms": {
            "ticks": len(lags),
            "p50": _pct(lags, 0.5),
            "p99": _pct(lags, 0.99),
            "max": _pct(lags, 1.0),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--accounts", type=int, default=None)
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--action-ms", type=float, default=0.0)
    args = parser.parse_args()
    result = asyncio.run(run(args.quick, args.accounts, args.workers, args.action_ms))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
