"""Money invariants of the ledger under random sequences of balance operations and rollovers, on a
real database: balance == sum(ledger.amount); every row balance_after = balance_before + amount and
the rows chain; a request_id retried never books twice; each rollover charges a position once;
a statement's opening balance plus its totals is its closing balance."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devstack.catalogue import DEMO_ACCOUNT, DEMO_SYMBOLS
from fxmesh.db import create_pool
from fxmesh.errors import FxError
from fxmesh.money import CURRENCY_DIGITS
from fxmesh.quotecache import ClientQuote, write_quote
from oms.domain.commands import BalanceOperation, NewAccount
from oms.seed import seed
from oms.trading.accounts import AccountBook
from oms.trading.rollover import RolloverJob
from oms.trading.unit_of_work import Router, UnitOfWork

D = Decimal
# Positions are opened here and rolled over during the following weeks; far in the past, so the
# other suites' positions (opened now) are never due at these rollovers.
OPENED = datetime(2024, 1, 1, 9, tzinfo=UTC)
ROLLOVER_DAYS = [date(2024, 1, 1) + timedelta(days=i) for i in range(21)]


@dataclass
class MoneyEnv:
    pool: Any
    redis: Any
    funds: AccountBook
    rollover: RolloverJob


@pytest.fixture(scope="module")
async def money(pg_dsn: str, redis_url: str) -> AsyncIterator[MoneyEnv]:
    pool = await create_pool(pg_dsn, "oms-money-property")
    async with pool.acquire() as conn:
        await seed(conn, DEMO_SYMBOLS, DEMO_ACCOUNT)
    redis = aioredis.Redis.from_url(redis_url, decode_responses=True)
    # 2025-01-01: every rollover of ROLLOVER_DAYS is due.
    core = UnitOfWork(pool, redis, cast(Router, None), now=lambda: datetime(2025, 1, 1, tzinfo=UTC))
    try:
        yield MoneyEnv(pool, redis, AccountBook(core), RolloverJob(core))
    finally:
        await redis.aclose()
        await pool.close()


def amounts(currency: str, *, signed: bool = False) -> st.SearchStrategy[Decimal]:
    places = CURRENCY_DIGITS[currency]
    low = D("-3000") if signed else D(1).scaleb(-places)
    values = st.decimals(min_value=low, max_value=D("3000"), places=places)
    return values.filter(lambda v: v != 0)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, list[tuple[str, Any]], list[tuple[str, str]]]:
    """(currency, operations, positions): operations are (kind, argument) pairs."""
    currency = draw(st.sampled_from(["USD", "EUR", "JPY"]))
    op = st.one_of(
        st.tuples(st.just("DEPOSIT"), amounts(currency)),
        st.tuples(st.just("WITHDRAWAL"), amounts(currency)),
        st.tuples(st.just("BONUS"), amounts(currency)),
        st.tuples(st.just("ADJUSTMENT"), amounts(currency, signed=True)),
        st.tuples(st.just("ROLLOVER"), st.sampled_from(ROLLOVER_DAYS)),
        st.tuples(st.just("RETRY"), st.integers(min_value=0, max_value=50)),
        st.tuples(st.just("REUSE"), st.integers(min_value=0, max_value=50)),
    )
    ops = draw(st.lists(op, min_size=1, max_size=15))
    positions = draw(
        st.lists(
            st.tuples(st.sampled_from(["BUY", "SELL"]), st.sampled_from(["0.10", "1", "2.50"])),
            max_size=2,
        )
    )
    return currency, ops, positions


async def _open(conn: Any, account_id: int, side: str, volume: str) -> int:
    order_id = await conn.fetchval(
        "INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, time_in_force, "
        "volume, filled_volume, avg_fill_price, status) VALUES ($1, $2, 'EURUSD', $3, 'MARKET', "
        "'IOC', $4, $4, 1.08, 'FILLED') RETURNING order_id",
        account_id,
        uuid.uuid4().hex,
        side,
        D(volume),
    )
    position_id: int = await conn.fetchval(
        "INSERT INTO oms.positions (account_id, symbol, side, volume, open_price, open_order_id, "
        "opened_at) VALUES ($1, 'EURUSD', $2, $3, 1.08, $4, $5) RETURNING position_id",
        account_id,
        side,
        D(volume),
        order_id,
        OPENED,
    )
    return position_id


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios())
async def test_ledger_when_random_operations_and_rollovers_then_money_invariants_hold(
    money: MoneyEnv, scenario: tuple[str, list[tuple[str, Any]], list[tuple[str, str]]]
) -> None:
    currency, ops, positions = scenario
    # EURUSD converts the USD swaps of EUR and JPY accounts (JPY through USDJPY).
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    await write_quote(money.redis, ClientQuote("EURUSD", D("1.08500"), D("1.08520"), now_ms))
    await write_quote(money.redis, ClientQuote("USDJPY", D("151.490"), D("151.510"), now_ms))
    account = await money.funds.create_account(
        NewAccount(
            login=f"prop-{uuid.uuid4().hex[:12]}",
            password="property-pass",
            type="DEMO",
            currency=currency,
            leverage=100,
            margin_mode="HEDGING",
            client_group="retail",
            initial_deposit=None,
        )
    )
    account_id = account.account_id
    async with money.pool.acquire() as conn:
        position_ids = [await _open(conn, account_id, side, vol) for side, vol in positions]

    sent: list[BalanceOperation] = []  # every new balance operation sent, in order
    booked: dict[str, int] = {}  # request_id -> ledger_id of its one booking
    for n, (kind, arg) in enumerate(ops):
        if kind == "ROLLOVER":
            await money.rollover.run_rollover(arg)
            continue
        if kind == "RETRY" and sent:
            op = sent[arg % len(sent)]  # the same request again
        elif kind == "REUSE" and sent:
            earlier = sent[arg % len(sent)]  # the same key with other content
            op = BalanceOperation(
                account_id, earlier.type, earlier.amount + 1, earlier.request_id, None, None
            )
        elif kind in ("RETRY", "REUSE"):
            continue
        else:
            op = BalanceOperation(account_id, kind, arg, f"op-{n}", f"ref {n}", None)
            sent.append(op)
        refusal: FxError | None = None
        try:
            result = await money.funds.post_balance_operation(op)
        except FxError as exc:
            refusal = exc
        if refusal is not None:
            if refusal.reason == "IDEMPOTENCY_KEY_REUSED":
                assert op.request_id in booked
            else:  # the only refusal a well-formed operation can meet here
                assert (op.type, refusal.reason) == ("WITHDRAWAL", "NOT_ENOUGH_FREE_MARGIN")
                assert op.amount > D(refusal.metadata["withdrawable"])
                assert op.request_id not in booked
            continue
        if op.request_id in booked:
            assert result.replayed
            assert result.entry.ledger_id == booked[op.request_id]
        else:
            assert not result.replayed
            booked[op.request_id] = result.entry.ledger_id

    async with money.pool.acquire() as conn:
        balance = await conn.fetchval(
            "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
        )
        rows = await conn.fetch(
            "SELECT ledger_id, type, amount, balance_before, balance_after, request_id, "
            "reference, created_at FROM oms.ledger WHERE account_id = $1 ORDER BY ledger_id",
            account_id,
        )
        swaps = {
            r["position_id"]: (r["swap"], r["charged"])
            for r in await conn.fetch(
                "SELECT p.position_id, p.swap, (SELECT coalesce(sum(c.amount), 0) FROM "
                "oms.swap_charges c WHERE c.position_id = p.position_id) AS charged "
                "FROM oms.positions p WHERE p.position_id = ANY($1)",
                position_ids,
            )
        }

    # balance == sum(ledger.amount); each row adds up and chains onto the one before
    assert balance == sum((r["amount"] for r in rows), D(0))
    previous = D(0)
    for r in rows:
        assert r["balance_after"] == r["balance_before"] + r["amount"]
        assert r["balance_before"] == previous
        previous = r["balance_after"]

    # each request_id booked exactly once, and exactly the bookings the callers were told of
    keyed = {r["request_id"]: r["ledger_id"] for r in rows if r["request_id"] is not None}
    assert keyed == booked
    assert len([r for r in rows if r["request_id"] is not None]) == len(booked)

    # each rollover charged each position at most once, and its swap is the sum of its charges
    references = [r["reference"] for r in rows if r["type"] == "SWAP"]
    assert len(references) == len(set(references))
    for position_id in position_ids:
        swap, charged = swaps[position_id]
        in_ledger = sum(
            (
                r["amount"]
                for r in rows
                if r["type"] == "SWAP" and r["reference"].endswith(f" position {position_id}")
            ),
            D(0),
        )
        assert swap == charged == in_ledger

    # statements: opening + totals == closing, for a period starting at any row
    end = datetime(2100, 1, 1, tzinfo=UTC)
    for start in {rows[i]["created_at"] for i in range(0, len(rows), 3)}:
        statement = await money.funds.statement(account_id, start, end)
        assert (
            statement.opening_balance + sum((t[1] for t in statement.totals), D(0))
            == statement.closing_balance
        )
        assert statement.closing_balance == balance
        before = [r for r in rows if r["created_at"] < start]
        assert statement.opening_balance == (before[-1]["balance_after"] if before else 0)
        assert sum(t[2] for t in statement.totals) == len(
            [r for r in rows if r["created_at"] >= start]
        )
