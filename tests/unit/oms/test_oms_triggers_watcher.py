"""The watcher's dispatch: what fired reaches the trading core's actions in order per account,
in parallel across accounts, is armed again when an action fails, and a crossed margin threshold
leads to stop-out / margin call only after a precise check."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from oms.domain.model import (
    AccountId,
    CloseReason,
    OrderId,
    OrderType,
    PositionId,
    Price,
    Side,
    SymbolSpec,
)
from oms.domain.stopout import AccountRisk, RiskPosition, margin_level
from oms.triggers.book import ProtectedPosition, TriggerKind, WorkingOrder
from oms.triggers.dispatch import TriggerState, WatcherSettings
from oms.triggers.watcher import TriggerWatcher

D = Decimal
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # a Monday
EURUSD = SymbolSpec(
    symbol="EURUSD",
    base_currency="EUR",
    quote_currency="USD",
    digits=5,
    contract_size=D(100000),
    volume_min=D("0.01"),
    volume_max=D(50),
    volume_step=D("0.01"),
    margin_percent=D(100),
    commission_per_lot=D(0),
    commission_currency="USD",
    default_deviation_points=20,
    enabled=True,
)


class Core:
    """In-memory stand-in for the trading core: records calls, closes positions on stop-out."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.accounts: dict[AccountId, AccountRisk] = {}
        self.prices: dict[str, Price] = {}
        self.fail: set[str] = set()  # action names that raise once
        self.gates: dict[tuple[Any, ...], asyncio.Event] = {}
        self.close_on_stop_out = True

    async def _do(self, *call: Any) -> None:
        self.calls.append(call)
        gate = self.gates.get(call[:2])
        if gate is not None:
            await gate.wait()
        if call[0] in self.fail:
            self.fail.discard(call[0])
            raise RuntimeError(f"{call[0]} failed")

    async def trigger_order(self, order_id: OrderId, account_id: AccountId, quote: Price) -> None:
        await self._do("trigger", order_id, quote)

    async def activate_stop_limit(
        self, order_id: OrderId, account_id: AccountId, quote: Price
    ) -> None:
        await self._do("activate", order_id, quote)

    async def expire_order(self, order_id: OrderId, account_id: AccountId, at: datetime) -> None:
        await self._do("expire", order_id, at)

    async def close_for_protection(
        self, position_id: PositionId, account_id: AccountId, reason: CloseReason, quote: Price
    ) -> None:
        await self._do("close", position_id, reason, quote)

    async def move_trailing_stop(
        self, position_id: PositionId, account_id: AccountId, stop_loss: Decimal, quote: Price
    ) -> None:
        await self._do("move", position_id, stop_loss)

    async def stop_out(self, account_id: AccountId, margin_level: Decimal) -> None:
        await self._do("stop_out", account_id, margin_level)
        if self.close_on_stop_out:  # all of this test's accounts hold one position
            self.accounts[account_id] = replace(self.accounts[account_id], positions=())

    async def margin_call(self, account_id: AccountId, margin_level: Decimal) -> None:
        await self._do("margin_call", account_id, margin_level)

    async def load_triggers(self) -> TriggerState:
        return TriggerState((), (), (), tuple(self.accounts.values()))

    async def load_account(self, account_id: AccountId) -> AccountRisk | None:
        return self.accounts.get(account_id)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c for c in self.calls if c[0] == name]


@pytest.fixture
def core() -> Core:
    return Core()


@pytest.fixture
async def watcher(core: Core) -> AsyncIterator[TriggerWatcher]:
    w = TriggerWatcher(
        None,
        core,
        core,
        now=lambda: T0,
        settings=WatcherSettings(workers=4, retry_seconds=0.01, sweep_seconds=0),
    )
    w.start_dispatcher()
    yield w
    await w.stop(grace=1)


def buy_limit(oid: int, price: str, account: int = 1) -> WorkingOrder:
    return WorkingOrder(
        OrderId(oid), AccountId(account), "EURUSD", Side.BUY, OrderType.LIMIT, D(price)
    )


def long_position(pid: int, *, sl: str | None = None, trail: int = 0) -> ProtectedPosition:
    return ProtectedPosition(
        PositionId(pid),
        AccountId(1),
        "EURUSD",
        Side.BUY,
        D("1.10000"),
        EURUSD.point,
        stop_loss=D(sl) if sl else None,
        trailing_distance_points=trail,
    )


def risk(account: int, balance: str) -> AccountRisk:
    """One lot EURUSD long at 1.10000, leverage 100: 1100 USD margin."""
    position = RiskPosition(PositionId(account), EURUSD, Side.BUY, D(1), D("1.10000"))
    return AccountRisk(AccountId(account), "USD", D(balance), 100, (position,))


def quote(w: TriggerWatcher, bid: str, ask: str) -> int:
    return w.on_quote("EURUSD", D(bid), D(ask))


async def settle(w: TriggerWatcher) -> None:
    await asyncio.wait_for(w.drain(), 5)


# --- orders and positions ------------------------------------------------------------------------


async def test_tick_hands_the_fired_order_over_without_waiting_for_its_execution(
    watcher: TriggerWatcher, core: Core
) -> None:
    core.gates[("trigger", 1)] = gate = asyncio.Event()
    watcher.upsert_order(buy_limit(1, "1.10000"))

    assert quote(watcher, "1.09990", "1.10000") == 1  # returns while the execution waits
    await asyncio.sleep(0.01)
    assert core.named("trigger") == [("trigger", 1, Price(D("1.09990"), D("1.10000")))]

    gate.set()
    await settle(watcher)


async def test_one_accounts_actions_run_in_order_while_other_accounts_proceed(
    watcher: TriggerWatcher, core: Core
) -> None:
    core.gates[("trigger", 1)] = gate = asyncio.Event()
    watcher.upsert_order(buy_limit(1, "1.10000", account=1))
    watcher.upsert_order(buy_limit(2, "1.09995", account=1))
    watcher.upsert_order(buy_limit(3, "1.10000", account=2))

    quote(watcher, "1.09980", "1.09990")
    await asyncio.sleep(0.02)

    assert [c[1] for c in core.named("trigger")] == [1, 3]  # account 1's second order waits
    gate.set()
    await settle(watcher)
    assert [c[1] for c in core.named("trigger")] == [1, 3, 2]


async def test_failed_stop_loss_close_is_armed_again_and_fires_on_a_later_tick(
    watcher: TriggerWatcher, core: Core
) -> None:
    core.fail.add("close")
    watcher.upsert_position(long_position(1, sl="1.09500"))

    quote(watcher, "1.09400", "1.09410")
    await settle(watcher)
    await asyncio.sleep(0.05)  # the retry delay
    quote(watcher, "1.09450", "1.09460")
    await settle(watcher)

    assert [(c[1], c[2]) for c in core.named("close")] == [
        (1, CloseReason.STOP_LOSS),
        (1, CloseReason.STOP_LOSS),
    ]


async def test_failed_action_is_not_armed_again_once_the_core_removed_the_position(
    watcher: TriggerWatcher, core: Core
) -> None:
    core.fail.add("close")
    core.gates[("close", 1)] = gate = asyncio.Event()
    watcher.upsert_position(long_position(1, sl="1.09500"))

    quote(watcher, "1.09400", "1.09410")
    watcher.remove_position(PositionId(1))  # e.g. the client closed it meanwhile
    gate.set()
    await settle(watcher)
    await asyncio.sleep(0.05)

    assert len(watcher.book) == 0


async def test_stop_limit_works_as_a_limit_once_its_activation_is_persisted(
    watcher: TriggerWatcher, core: Core
) -> None:
    watcher.upsert_order(
        WorkingOrder(
            OrderId(5),
            AccountId(1),
            "EURUSD",
            Side.SELL,
            OrderType.STOP_LIMIT,
            D("1.09500"),
            stop_limit_price=D("1.09550"),
        )
    )

    quote(watcher, "1.09500", "1.09510")
    await settle(watcher)
    quote(watcher, "1.09540", "1.09550")  # below the sell limit: waits
    quote(watcher, "1.09550", "1.09560")
    await settle(watcher)

    assert [c[0] for c in core.calls] == ["activate", "trigger"]
    assert core.calls[1][2] == Price(D("1.09550"), D("1.09560"))


async def test_trailing_moves_queued_behind_a_slow_one_collapse_to_the_latest(
    watcher: TriggerWatcher, core: Core
) -> None:
    core.gates[("move", 1)] = gate = asyncio.Event()
    watcher.upsert_position(long_position(1, trail=100))

    quote(watcher, "1.10100", "1.10100")
    await asyncio.sleep(0.01)  # the first move is being persisted (slowly)
    for bid in ("1.10200", "1.10300", "1.10400"):
        quote(watcher, bid, bid)
    gate.set()
    await settle(watcher)

    assert [c[2] for c in core.named("move")] == [D("1.10000"), D("1.10300")]


async def test_every_fired_order_reaches_the_core_even_past_the_queue_limit(core: Core) -> None:
    w = TriggerWatcher(None, core, core, now=lambda: T0, settings=WatcherSettings(max_pending=5))
    w.start_dispatcher()
    for n in range(50):
        w.upsert_order(buy_limit(n, "1.10000", account=n % 3))

    assert quote(w, "1.09000", "1.09010") == 50
    await settle(w)
    await w.stop()

    assert sorted(c[1] for c in core.named("trigger")) == list(range(50))


async def test_gtd_order_expires_when_the_clock_reaches_its_time(
    watcher: TriggerWatcher, core: Core
) -> None:
    watcher.upsert_order(replace(buy_limit(1, "1.05000"), expire_at=T0 + timedelta(hours=1)))

    assert watcher.on_clock(T0) == 0
    assert watcher.on_clock(T0 + timedelta(hours=1)) == 1
    await settle(watcher)

    assert core.calls == [("expire", 1, T0 + timedelta(hours=1))]


# --- stop-out and margin call --------------------------------------------------------------------


async def arm(watcher: TriggerWatcher, core: Core, account: AccountRisk) -> None:
    quote(watcher, "1.10000", "1.10010")
    core.accounts[account.account_id] = account
    watcher.account_changed(account.account_id, account)
    await settle(watcher)


async def test_gap_far_past_the_stop_out_threshold_stops_the_account_out(
    watcher: TriggerWatcher, core: Core
) -> None:
    await arm(watcher, core, risk(1, "2000"))  # stop-out near 1.0855

    quote(watcher, "1.02000", "1.02010")  # gaps 600 points past it
    await settle(watcher)

    ((_, account_id, level),) = core.named("stop_out")
    assert account_id == 1
    assert level == margin_level(risk(1, "2000"), {"EURUSD": Price(D("1.02"), D("1.0201"))})
    assert level < 0
    assert core.named("margin_call") == []  # stop-out supersedes the margin call
    assert watcher.book.sizes()[TriggerKind.STOP_OUT] == 0  # no positions left: disarmed


async def test_threshold_crossed_within_the_cushion_is_checked_but_not_stopped_out(
    watcher: TriggerWatcher, core: Core
) -> None:
    await arm(watcher, core, risk(1, "2000"))
    (armed,) = watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT)
    assert armed.price == D("1.08623")  # the exact level is at 1.08550

    quote(watcher, "1.08600", "1.08610")
    await settle(watcher)

    assert core.named("stop_out") == []
    assert [c[0] for c in core.calls] == ["margin_call"]  # 59 %: below the call level
    assert watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT)  # armed again
    quote(watcher, "1.08550", "1.08560")
    await settle(watcher)
    assert [c[2] for c in core.named("stop_out")] == [D("50.00")]


async def test_margin_call_is_raised_once_until_the_level_recovers(
    watcher: TriggerWatcher, core: Core
) -> None:
    await arm(watcher, core, risk(1, "2000"))  # margin call at 1.09100

    for bid in ("1.09000", "1.08900", "1.08800"):
        quote(watcher, bid, bid)
        await settle(watcher)
    assert len(core.named("margin_call")) == 1

    quote(watcher, "1.10000", "1.10000")
    await watcher.sweep()  # the periodic recomputation sees the recovery
    quote(watcher, "1.08800", "1.08800")
    await settle(watcher)
    assert len(core.named("margin_call")) == 2


async def test_account_already_below_stop_out_when_changed_is_checked_at_once(
    watcher: TriggerWatcher, core: Core
) -> None:
    await arm(watcher, core, risk(1, "500"))

    assert [c[0] for c in core.calls] == ["stop_out"]


async def test_stop_out_that_could_not_close_is_retried_on_the_next_tick_not_in_a_loop(
    watcher: TriggerWatcher, core: Core
) -> None:
    core.close_on_stop_out = False  # e.g. the market is closed
    await arm(watcher, core, risk(1, "2000"))

    quote(watcher, "1.08000", "1.08010")
    await settle(watcher)
    await asyncio.sleep(0.02)
    assert len(core.named("stop_out")) == 1

    quote(watcher, "1.08000", "1.08010")
    await settle(watcher)
    assert len(core.named("stop_out")) == 2


async def test_account_armed_before_its_symbol_was_quoted_is_armed_by_the_sweep(
    watcher: TriggerWatcher, core: Core
) -> None:
    account = risk(1, "2000")
    core.accounts[account.account_id] = account
    watcher.account_changed(account.account_id, account)  # no EURUSD quote yet
    assert watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT) == []

    quote(watcher, "1.10000", "1.10010")
    await watcher.sweep()

    assert watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT)
    quote(watcher, "1.08000", "1.08010")
    await settle(watcher)
    assert [c[0] for c in core.calls] == ["stop_out"]


async def test_reloaded_account_is_armed_with_what_the_loader_reads(
    watcher: TriggerWatcher, core: Core
) -> None:
    quote(watcher, "1.10000", "1.10010")
    core.accounts[AccountId(1)] = risk(1, "2000")

    watcher.reload_account(AccountId(1))
    watcher.reload_account(AccountId(1))  # coalesces with the first
    await settle(watcher)

    (armed,) = watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT)
    assert armed.price == D("1.08623")
    del core.accounts[AccountId(1)]  # all positions closed
    watcher.reload_account(AccountId(1))
    await settle(watcher)
    assert watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT) == []


async def test_rearmed_account_is_armed_with_the_committed_risk_without_a_reload(
    watcher: TriggerWatcher, core: Core
) -> None:
    quote(watcher, "1.10000", "1.10010")
    core.accounts[AccountId(1)] = risk(1, "9000")  # what a reload would read: not this
    watcher.reload_account(AccountId(1))  # queued before the commit listener knew the risk

    watcher.rearm_account(AccountId(1), risk(1, "2000"))  # replaces the queued reload
    await settle(watcher)

    (armed,) = watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT)
    assert armed.price == D("1.08623")
    watcher.rearm_account(AccountId(1), None)  # every position closed
    await settle(watcher)
    assert watcher.book.thresholds_of(AccountId(1), TriggerKind.STOP_OUT) == []


# --- levels from the risk settings ---------------------------------------------------------------


async def test_raised_stop_out_level_when_levels_change_then_account_below_it_stopped_out(
    core: Core,
) -> None:
    stop_out = {"level": D(50)}

    def levels(r: AccountRisk) -> AccountRisk:
        own = r.own_stop_out_level if r.own_stop_out_level is not None else r.stop_out_level
        return replace(r, stop_out_level=max(own, stop_out["level"]), own_stop_out_level=own)

    w = TriggerWatcher(
        None, core, core, now=lambda: T0, settings=WatcherSettings(sweep_seconds=0), levels=levels
    )
    w.start_dispatcher()
    try:
        await arm(w, core, risk(1, "2000"))
        quote(w, "1.09500", "1.09500")  # 1 500 / 1 100: 136 %
        await settle(w)
        assert core.calls == []

        stop_out["level"] = D(140)
        w.levels_changed()
        for _ in range(100):
            await asyncio.sleep(0)
        await settle(w)

        assert [c[0] for c in core.calls] == ["stop_out"]
        assert core.named("stop_out")[0][2] == D("136.36")
    finally:
        await w.stop(grace=1)
