"""The trigger watcher on real Redis: quotes written by ``fxmesh.quotecache`` fire pending orders,
stops, trailing stops and stop-outs in an in-memory stand-in for the trading core.

Pub/sub channels are shared by every Redis database, so each test trades a symbol name of its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from fxmesh.quotecache import ClientQuote, write_quote
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
from oms.domain.stopout import AccountRisk, RiskPosition
from oms.triggers.book import ProtectedPosition, WorkingOrder
from oms.triggers.dispatch import TriggerState, WatcherSettings
from oms.triggers.watcher import TriggerWatcher

D = Decimal
T0 = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)  # a Monday


def symbol_spec(name: str) -> SymbolSpec:
    return SymbolSpec(
        symbol=name,
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


@dataclass
class Core:
    """Stand-in for the trading core: records what the watcher asks of it."""

    state: TriggerState = field(default_factory=lambda: TriggerState((), (), (), ()))
    accounts: dict[AccountId, AccountRisk] = field(default_factory=dict)
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    async def trigger_order(self, order_id: OrderId, account_id: AccountId, quote: Price) -> None:
        self.calls.append(("trigger", order_id, quote))

    async def activate_stop_limit(
        self, order_id: OrderId, account_id: AccountId, quote: Price
    ) -> None:
        self.calls.append(("activate", order_id, quote))

    async def expire_order(self, order_id: OrderId, account_id: AccountId, at: datetime) -> None:
        self.calls.append(("expire", order_id, at))

    async def close_for_protection(
        self, position_id: PositionId, account_id: AccountId, reason: CloseReason, quote: Price
    ) -> None:
        self.calls.append(("close", position_id, reason, quote))

    async def move_trailing_stop(
        self, position_id: PositionId, account_id: AccountId, stop_loss: Decimal, quote: Price
    ) -> None:
        self.calls.append(("move", position_id, stop_loss))

    async def stop_out(self, account_id: AccountId, margin_level: Decimal) -> None:
        self.calls.append(("stop_out", account_id, margin_level))
        self.accounts[account_id] = replace(self.accounts[account_id], positions=())

    async def margin_call(self, account_id: AccountId, margin_level: Decimal) -> None:
        self.calls.append(("margin_call", account_id, margin_level))

    async def load_triggers(self) -> TriggerState:
        return self.state

    async def load_account(self, account_id: AccountId) -> AccountRisk | None:
        return self.accounts.get(account_id)


@pytest.fixture
def symbol() -> str:
    return f"EURUSD.{uuid.uuid4().hex[:8]}"


@pytest.fixture
def core() -> Core:
    return Core()


@pytest.fixture
async def started(redis_client: aioredis.Redis, core: Core) -> AsyncIterator[Callable[[], Any]]:
    watchers: list[TriggerWatcher] = []

    async def start() -> TriggerWatcher:
        w = TriggerWatcher(
            redis_client, core, core, now=lambda: T0, settings=WatcherSettings(sweep_seconds=0)
        )
        await w.start()
        watchers.append(w)
        return w

    yield start
    for w in watchers:
        await w.stop(grace=1)


async def publish(redis: aioredis.Redis, symbol: str, bid: str, ask: str) -> None:
    await write_quote(redis, ClientQuote(symbol, D(bid), D(ask), int(time.time() * 1000)))


async def until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def seen(w: TriggerWatcher, symbol: str, bid: str, ask: str) -> None:
    """Wait until the watcher has evaluated this quote (and what it fired has run)."""
    await until(lambda: w.prices.get(symbol) == Price(D(bid), D(ask)), f"{symbol} {bid}/{ask}")
    await asyncio.wait_for(w.drain(), 5)


async def test_buy_limit_fires_on_the_ask_published_through_redis_not_on_the_bid(
    redis_client: aioredis.Redis, core: Core, started: Callable[[], Any], symbol: str
) -> None:
    w = await started()
    w.upsert_order(
        WorkingOrder(OrderId(1), AccountId(1), symbol, Side.BUY, OrderType.LIMIT, D("1.10000"))
    )

    await publish(redis_client, symbol, "1.09990", "1.10010")  # bid through, ask not
    await seen(w, symbol, "1.09990", "1.10010")
    assert core.calls == []

    await publish(redis_client, symbol, "1.09985", "1.10000")
    await seen(w, symbol, "1.09985", "1.10000")
    assert core.calls == [("trigger", 1, Price(D("1.09985"), D("1.10000")))]


async def test_gapped_quote_through_redis_fires_every_stop_it_passed(
    redis_client: aioredis.Redis, core: Core, started: Callable[[], Any], symbol: str
) -> None:
    w = await started()
    for oid, price in enumerate(("1.09900", "1.09800", "1.09700", "1.09000"), start=1):
        w.upsert_order(
            WorkingOrder(OrderId(oid), AccountId(1), symbol, Side.SELL, OrderType.STOP, D(price))
        )

    await publish(redis_client, symbol, "1.09650", "1.09660")  # from ~1.10000 in one tick
    await seen(w, symbol, "1.09650", "1.09660")

    assert [c[1] for c in core.calls] == [1, 2, 3]


async def test_trailing_stop_moves_only_in_the_clients_favour_through_redis(
    redis_client: aioredis.Redis, core: Core, started: Callable[[], Any], symbol: str
) -> None:
    w = await started()
    w.upsert_position(
        ProtectedPosition(
            PositionId(9),
            AccountId(1),
            symbol,
            Side.BUY,
            D("1.10000"),
            D("0.00001"),
            trailing_distance_points=100,
            trailing_step_points=10,
        )
    )

    for bid in ("1.10150", "1.10100", "1.10250", "1.10255", "1.10120"):
        ask = str(D(bid) + D("0.00010"))
        await publish(redis_client, symbol, bid, ask)
        await seen(w, symbol, bid, ask)

    assert [c for c in core.calls if c[0] == "move"] == [
        ("move", 9, D("1.10050")),
        ("move", 9, D("1.10150")),  # the 1.10100 dip and the 5-point rise moved nothing
    ]
    assert core.calls[-1][:3] == ("close", 9, CloseReason.STOP_LOSS)


async def test_restart_arms_from_the_loader_and_fires_what_a_gap_crossed_while_down(
    redis_client: aioredis.Redis, core: Core, started: Callable[[], Any], symbol: str
) -> None:
    await publish(redis_client, symbol, "1.08000", "1.08010")  # moved while oms was down
    position = ProtectedPosition(
        PositionId(3), AccountId(2), symbol, Side.BUY, D("1.10000"), D("0.00001"), D("1.09000")
    )
    core.state = TriggerState((symbol,), (), (position,), ())

    await started()
    await until(lambda: bool(core.calls), "the stop loss")

    assert core.calls == [("close", 3, CloseReason.STOP_LOSS, Price(D("1.08"), D("1.0801")))]


async def test_quote_gap_far_past_the_stop_out_threshold_stops_the_account_out(
    redis_client: aioredis.Redis, core: Core, started: Callable[[], Any], symbol: str
) -> None:
    await publish(redis_client, symbol, "1.10000", "1.10010")
    account = AccountRisk(
        AccountId(4),
        "USD",
        D(2000),
        100,
        (RiskPosition(PositionId(5), symbol_spec(symbol), Side.BUY, D(1), D("1.10000")),),
    )
    core.accounts[account.account_id] = account
    core.state = TriggerState((symbol,), (), (), (account,))
    w = await started()

    await publish(redis_client, symbol, "1.03000", "1.03010")
    await seen(w, symbol, "1.03000", "1.03010")

    assert [c[:2] for c in core.calls] == [("stop_out", 4)]
    assert core.calls[0][2] < D(50)
