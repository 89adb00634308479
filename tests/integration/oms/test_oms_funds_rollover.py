"""Swaps at rollover against the real database: amounts, the triple day, weekends, reruns after a
restart, quotes missing at the rollover, and the background loop driven by an injected clock.

Each test works in its own past week, so positions of one test are not due at another's rollover
instant before that test ran; assertions read the test's own positions and ledger rows only.
Seeded swaps: EURUSD long -6.50 / short +1.20 points, USDJPY long +12.30 / short -24.80, triple
weekday Wednesday.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from funds_harness import QuoteWriter, open_position

from fxmesh.db import create_pool
from fxmesh.errors import FailedPrecondition
from oms.domain.commands import BalanceOperation, NewAccount
from oms.domain.model import AccountId
from oms.trading.accounts import AccountBook
from oms.trading.rollover import RolloverJob
from oms.trading.unit_of_work import Router, UnitOfWork

D = Decimal


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Env:
    pool: Any
    redis: Any
    funds: AccountBook

    def core(self, now: Callable[[], datetime]) -> UnitOfWork:
        return UnitOfWork(
            self.pool, self.redis, cast(Router, None), now=now, symbols_cache_seconds=0
        )

    async def account(self, currency: str = "USD", deposit: str = "1000") -> int:
        acc = await self.funds.create_account(
            NewAccount(
                login=f"swap-{uuid.uuid4().hex[:10]}",
                password="long-enough",
                type="DEMO",
                currency=currency,
                leverage=100,
                margin_mode="HEDGING",
                client_group="retail",
                initial_deposit=D(deposit),
            )
        )
        return int(acc.account_id)

    async def position(
        self, account: int, symbol: str, side: str, volume: str, at: datetime
    ) -> int:
        async with self.pool.acquire() as conn:
            return await open_position(conn, account, symbol, side, volume, "1.0", opened_at=at)

    async def swap_rows(self, account: int) -> list[tuple[str, Decimal, Decimal, Decimal]]:
        """(reference, amount, balance_before, balance_after) of the account's SWAP rows."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT reference, amount, balance_before, balance_after FROM oms.ledger "
                "WHERE account_id = $1 AND type = 'SWAP' ORDER BY ledger_id",
                account,
            )
        return [(r[0], r[1], r[2], r[3]) for r in rows]

    async def position_swap(self, position_id: int) -> tuple[Decimal, list[tuple[date, int]]]:
        async with self.pool.acquire() as conn:
            swap = await conn.fetchval(
                "SELECT swap FROM oms.positions WHERE position_id = $1", position_id
            )
            charges = await conn.fetch(
                "SELECT rollover_date, days FROM oms.swap_charges WHERE position_id = $1 "
                "ORDER BY rollover_date",
                position_id,
            )
        return swap, [(r["rollover_date"], r["days"]) for r in charges]

    async def balanced(self, account: int) -> bool:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT a.balance = (SELECT sum(amount) FROM oms.ledger l "
                "WHERE l.account_id = a.account_id) AS ok FROM oms.accounts a "
                "WHERE account_id = $1",
                account,
            )
        return bool(row["ok"])


@pytest.fixture(scope="module")
async def env(oms_dsn: str, redis_url: str) -> AsyncIterator[Env]:
    pool = await create_pool(oms_dsn, "oms-rollover-test")
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        yield Env(pool, redis, AccountBook(UnitOfWork(pool, redis, cast(Router, None))))
    finally:
        await redis.aclose()
        await pool.close()


@pytest.fixture(autouse=True)
async def _no_quotes(redis_client: aioredis.Redis) -> None:
    """Every test starts without quotes (redis_client empties the test database)."""


def job(env: Env, now: datetime, **kw: Any) -> RolloverJob:
    return RolloverJob(env.core(Clock(now)), **kw)


async def test_wednesday_rollover_when_positions_open_then_three_days_booked_once(
    env: Env,
) -> None:
    """BUY 1 EURUSD: -6.50 x 0.00001 x 100 000 x 1 x 3 = -19.50 USD.
    SELL 2 EURUSD: +1.20 x 0.00001 x 100 000 x 2 x 3 = +7.20 USD. No quote is needed: USD is the
    quote currency and the account currency."""
    wednesday = date(2025, 3, 5)
    account = await env.account(deposit="1000.00")
    buy = await env.position(account, "EURUSD", "BUY", "1", datetime(2025, 3, 5, 10, tzinfo=UTC))
    sell = await env.position(account, "EURUSD", "SELL", "2", datetime(2025, 3, 5, 11, tzinfo=UTC))
    rollover = job(env, datetime(2025, 3, 6, 0, 0, 5, tzinfo=UTC))

    report = await rollover.run_rollover(wednesday)

    assert report.complete
    assert await env.swap_rows(account) == [
        (f"rollover 2025-03-05 position {buy}", D("-19.50"), D("1000.00"), D("980.50")),
        (f"rollover 2025-03-05 position {sell}", D("7.20"), D("980.50"), D("987.70")),
    ]
    assert await env.position_swap(buy) == (D("-19.50"), [(wednesday, 3)])
    assert await env.position_swap(sell) == (D("7.20"), [(wednesday, 3)])

    again = await rollover.run_rollover(wednesday)  # a restart reruns the same rollover

    assert again.complete
    assert len(await env.swap_rows(account)) == 2
    assert (await env.position_swap(buy))[0] == D("-19.50")
    assert await env.balanced(account)


async def test_weekend_rollovers_when_positions_open_then_nothing_charged(env: Env) -> None:
    account = await env.account()
    position = await env.position(
        account, "EURUSD", "BUY", "1", datetime(2025, 3, 12, 10, tzinfo=UTC)
    )
    rollover = job(env, datetime(2025, 3, 17, 12, tzinfo=UTC))
    for weekend_day in (date(2025, 3, 15), date(2025, 3, 16)):
        report = await rollover.run_rollover(weekend_day)
        assert (report.charged, report.complete) == (0, True)
    assert await env.position_swap(position) == (D("0"), [])
    assert await env.swap_rows(account) == []


async def test_rollover_when_position_opened_after_the_instant_then_not_charged(
    env: Env,
) -> None:
    account = await env.account()
    early = await env.position(account, "EURUSD", "BUY", "1", datetime(2025, 3, 24, 23, tzinfo=UTC))
    late = await env.position(account, "EURUSD", "BUY", "1", datetime(2025, 3, 25, 0, tzinfo=UTC))
    await job(env, datetime(2025, 3, 25, 8, tzinfo=UTC)).run_rollover(date(2025, 3, 24))
    assert (await env.position_swap(early))[0] == D("-6.50")
    assert await env.position_swap(late) == (D("0"), [])


async def test_rollover_when_no_quote_converts_the_swap_then_put_off_and_charged_on_rerun(
    env: Env, put_quote: QuoteWriter
) -> None:
    """USDJPY long in a USD account: 12.30 x 0.001 x 100 000 = 1230 JPY / 151.500 = 8.12 USD.
    Without a USDJPY quote the position is left for a rerun rather than charged a guess."""
    tuesday = date(2025, 4, 1)
    account = await env.account()
    position = await env.position(
        account, "USDJPY", "BUY", "1", datetime(2025, 4, 1, 9, tzinfo=UTC)
    )
    rollover = job(env, datetime(2025, 4, 2, 0, 1, tzinfo=UTC))

    first = await rollover.run_rollover(tuesday)
    assert position in first.skipped
    assert not first.complete
    assert await env.position_swap(position) == (D("0"), [])

    await put_quote("USDJPY", "151.490", "151.510")
    await rollover.run_rollover(tuesday)
    assert await env.position_swap(position) == (D("8.12"), [(tuesday, 1)])
    assert [r[1] for r in await env.swap_rows(account)] == [D("8.12")]


async def test_rollover_when_jpy_account_short_usdjpy_on_wednesday_then_whole_yen(
    env: Env,
) -> None:
    """-24.80 x 0.001 x 100 000 x 1 lot x 3 days = -7440 JPY."""
    account = await env.account(currency="JPY", deposit="1500000")
    position = await env.position(
        account, "USDJPY", "SELL", "1", datetime(2025, 4, 9, 9, tzinfo=UTC)
    )
    await job(env, datetime(2025, 4, 10, 1, tzinfo=UTC)).run_rollover(date(2025, 4, 9))
    assert await env.swap_rows(account) == [
        (f"rollover 2025-04-09 position {position}", D("-7440"), D("1500000"), D("1492560"))
    ]


async def test_rollover_when_not_due_yet_then_refused(env: Env) -> None:
    rollover = job(env, datetime(2025, 4, 16, 23, 59, tzinfo=UTC))
    with pytest.raises(FailedPrecondition) as info:
        await rollover.run_rollover(date(2025, 4, 16))
    assert info.value.reason == "ROLLOVER_NOT_DUE"


async def test_rollover_when_time_is_22_utc_then_that_day_is_charged_at_22(env: Env) -> None:
    account = await env.account()
    position = await env.position(
        account, "EURUSD", "SELL", "1", datetime(2025, 4, 22, 21, tzinfo=UTC)
    )
    rollover = job(env, datetime(2025, 4, 22, 22, 0, 1, tzinfo=UTC), at=time(22))
    await rollover.run_rollover(date(2025, 4, 22))
    assert await env.position_swap(position) == (D("1.20"), [(date(2025, 4, 22), 1)])


class FakeTime:
    """A clock that the job's own sleeps move forward, until ``stop_at``; there it waits."""

    def __init__(self, start: datetime, stop_at: datetime) -> None:
        self.now = start
        self.stop_at = stop_at
        self.parked = asyncio.Event()

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        if self.now >= self.stop_at:
            self.parked.set()
            await asyncio.Event().wait()  # until the job is stopped
        self.now = min(self.now + timedelta(seconds=seconds), self.stop_at)
        await asyncio.sleep(0)


async def test_loop_when_started_after_a_missed_rollover_then_catches_up_and_runs_the_next(
    env: Env,
) -> None:
    """Opened Monday; the job starts Tuesday 23:59 (Monday's rollover, Tuesday 00:00, was missed
    while oms was down): it charges Monday at start, then Tuesday's at Wednesday 00:00."""
    account = await env.account()
    position = await env.position(
        account, "EURUSD", "BUY", "1", datetime(2025, 5, 5, 10, tzinfo=UTC)
    )
    clock = FakeTime(
        datetime(2025, 5, 6, 23, 59, tzinfo=UTC), datetime(2025, 5, 7, 0, 0, 30, tzinfo=UTC)
    )
    rollover = RolloverJob(env.core(clock), sleep=clock.sleep, retry_seconds=3600)
    rollover.start()
    try:
        await asyncio.wait_for(clock.parked.wait(), 60)
    finally:
        await rollover.stop()
    assert await env.position_swap(position) == (
        D("-13.00"),
        [(date(2025, 5, 5), 1), (date(2025, 5, 6), 1)],
    )
    assert await env.balanced(account)


class Heard:
    """A trading listener (as the trigger watcher is) that records the accounts it heard of."""

    def __init__(self) -> None:
        self.balances: list[tuple[int, Decimal]] = []

    def order_changed(self, order: Any) -> None:
        pass

    def position_changed(self, position: Any) -> None:
        pass

    def account_changed(self, account: Any, open_positions: Any) -> None:
        self.balances.append((account.account_id, account.balance))


async def test_swap_and_withdrawal_when_booked_then_trading_listeners_hear_new_balance(
    env: Env, put_quote: QuoteWriter
) -> None:
    """Stop-out thresholds depend on the balance: whatever moves it must tell the watcher."""
    await put_quote("EURUSD", "1.08500", "1.08520")
    account = await env.account(deposit="500.00")
    await env.position(account, "EURUSD", "BUY", "1", datetime(2025, 6, 3, 9, tzinfo=UTC))
    core = env.core(Clock(datetime(2025, 6, 5, 0, 0, 1, tzinfo=UTC)))
    heard = Heard()
    core.listeners.append(heard)

    await RolloverJob(core).run_rollover(date(2025, 6, 4))  # Wednesday: -19.50
    await AccountBook(core).post_balance_operation(
        BalanceOperation(AccountId(account), "WITHDRAWAL", D("0.50"), "w-1", None, None)
    )

    mine = [balance for account_id, balance in heard.balances if account_id == account]
    assert mine == [D("480.50"), D("480.00")]
