"""Group commit (``oms.trading.unit_of_work.GroupCommit``) against the real PostgreSQL: bodies that
queue share one transaction, a failing body costs only its own caller, and the order path's
results agree with the database after a burst that was committed in shared transactions."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

import pytest
from prometheus_client import REGISTRY

from fxmesh.errors import NotFound
from fxmesh.v1 import oms_pb2, types_pb2
from oms.domain.model import AccountId
from oms.store import ledger as ledger_store
from oms.trading.unit_of_work import GroupCommit, Tx

D = Decimal
caller = contextvars.ContextVar[str]("caller")


def _observed(histogram: str) -> tuple[float, float]:
    """(observations, their sum) of one of the group commit's histograms so far, in this
    process."""
    count = REGISTRY.get_sample_value(f"fxmesh_oms_group_commit_{histogram}_count") or 0.0
    total = REGISTRY.get_sample_value(f"fxmesh_oms_group_commit_{histogram}_sum") or 0.0
    return count, total


def _batches() -> tuple[float, float]:
    """(batches committed, bodies in them) so far, in this process."""
    return _observed("size")


def _timed(name: str) -> tuple[float, float]:
    """(observations, seconds) of the group commit's ``name`` timing so far, in this process."""
    return _observed(f"{name}_seconds")


async def _balance(oms: Any, account_id: int) -> tuple[Decimal, Decimal]:
    """(balance, sum of the ledger) of an account."""
    db = await oms.db()
    try:
        row = await db.fetchrow(
            "SELECT a.balance, (SELECT sum(amount) FROM oms.ledger l "
            "WHERE l.account_id = a.account_id) AS ledger FROM oms.accounts a "
            "WHERE a.account_id = $1",
            account_id,
        )
    finally:
        await db.close()
    assert row is not None
    return row["balance"], row["ledger"]


def _adjust(amount: str, seen: list[str]) -> Callable[[Tx], Coroutine[Any, Any, Decimal]]:
    async def body(tx: Tx) -> Decimal:
        seen.append(caller.get())  # runs in its caller's context
        _, after = await ledger_store.post_ledger(
            tx.conn, tx.account.account_id, "ADJUSTMENT", D(amount), "USD", reference="gc-test"
        )
        return after

    return body


async def test_bodies_queued_behind_a_commit_then_committed_together_each_answered(
    oms: Any,
) -> None:
    group = GroupCommit(oms.app.pool, lambda _tx: None, max_batch=32, committers=1)
    first, second, third = [AccountId(await oms.new_account()) for _ in range(3)]
    release = asyncio.Event()
    seen: list[str] = []

    async def held(tx: Tx) -> str:
        await release.wait()  # holds the only committer: the others queue meanwhile
        return "held"

    async def run(account: AccountId, who: str, amount: str) -> Decimal:
        caller.set(who)
        return await group.run(account, _adjust(amount, seen))

    waits, transactions = _timed("wait"), _timed("transaction")
    holding = asyncio.create_task(group.run(first, held))
    await asyncio.sleep(0.05)
    before = _batches()
    queued = [
        asyncio.create_task(run(second, "b", "5.00")),
        asyncio.create_task(run(third, "c", "7.00")),
        asyncio.create_task(run(second, "d", "1.50")),  # the same account twice in a batch
    ]
    await asyncio.sleep(0.05)
    release.set()

    assert await holding == "held"
    assert await asyncio.gather(*queued) == [D("10005.00"), D("10007.00"), D("10006.50")]
    assert seen == ["b", "c", "d"]
    count, total = _batches()
    # The held body's transaction, then one for the three that queued behind it.
    assert (count - before[0], total - before[1]) == (2, 4)
    # What an SRE reads when orders queue in oms: each of the three waited for the committer
    # through the held transaction (at least the 50 ms before the release), which lasted longer.
    waited, took = _timed("wait"), _timed("transaction")
    assert waited[0] - waits[0] == 4
    assert waited[1] - waits[1] >= 3 * 0.04
    assert took[0] - transactions[0] == 2
    assert took[1] - transactions[1] >= 0.09
    assert await _balance(oms, second) == (D("10006.50"), D("10006.50"))
    assert await _balance(oms, third) == (D("10007.00"), D("10007.00"))


async def test_grouping_off_then_each_body_alone_and_none_waits_for_another(
    oms: Any,
) -> None:
    group = GroupCommit(oms.app.pool, lambda _tx: None, max_batch=1, committers=1)
    held_account, free_account = [AccountId(await oms.new_account()) for _ in range(2)]
    release = asyncio.Event()
    seen: list[str] = []

    async def held(tx: Tx) -> None:
        await release.wait()

    before = _batches()
    holding = asyncio.create_task(group.run(held_account, held))
    await asyncio.sleep(0.05)
    caller.set("free")
    # Not queued behind the held transaction, though there is one committer.
    assert await asyncio.wait_for(group.run(free_account, _adjust("9.00", seen)), 5) == D(
        "10009.00"
    )
    release.set()
    await holding
    count, total = _batches()
    assert (count - before[0], total - before[1]) == (2, 2)


async def test_bodies_one_after_another_then_none_left_waiting_for_a_committer(
    oms: Any,
) -> None:
    """A committer that has just found the queue empty must not be counted as running: a body
    queued in that moment would wait for the next caller to start one."""
    group = GroupCommit(oms.app.pool, lambda _tx: None, max_batch=32, committers=1)
    account = AccountId(await oms.new_account())
    seen: list[str] = []
    caller.set("seq")
    for n in range(20):
        # In the caller's own task (wait_for would start a task of its own, a loop turn later).
        async with asyncio.timeout(5):
            after = await group.run(account, _adjust("1.00", seen))
        assert after == D(10_001 + n)


async def test_a_failing_body_then_only_its_caller_fails_and_the_others_commit_once(
    oms: Any,
) -> None:
    group = GroupCommit(oms.app.pool, lambda _tx: None, max_batch=32, committers=1)
    good, bad, other = [AccountId(await oms.new_account()) for _ in range(3)]
    release = asyncio.Event()
    seen: list[str] = []

    async def held(tx: Tx) -> None:
        await release.wait()

    async def fails(tx: Tx) -> None:
        await ledger_store.post_ledger(
            tx.conn, tx.account.account_id, "ADJUSTMENT", D("3.00"), "USD", reference="gc-test"
        )
        raise RuntimeError("this order's own failure")

    holding = asyncio.create_task(group.run(good, held))
    await asyncio.sleep(0.05)
    caller.set("t")
    queued = [
        asyncio.create_task(group.run(good, _adjust("2.00", seen))),
        asyncio.create_task(group.run(bad, fails)),
        asyncio.create_task(group.run(AccountId(999_999_999), _adjust("1.00", seen))),
        asyncio.create_task(group.run(other, _adjust("4.00", seen))),
    ]
    await asyncio.sleep(0.05)
    release.set()
    await holding
    done = await asyncio.gather(*queued, return_exceptions=True)

    assert done[0] == D("10002.00")
    assert isinstance(done[1], RuntimeError)
    assert isinstance(done[2], NotFound)
    assert done[3] == D("10004.00")
    # Rolled back with the batch, then committed alone: once, not twice.
    assert await _balance(oms, good) == (D("10002.00"), D("10002.00"))
    assert await _balance(oms, other) == (D("10004.00"), D("10004.00"))
    assert await _balance(oms, bad) == (D("10000.00"), D("10000.00"))  # nothing of it


async def test_transaction_ends_when_a_batch_fails_then_each_body_told_rolled_back_then_its_rerun(
    oms: Any,
) -> None:
    """``Tx.on_end`` is what books a house fill written in an order's transaction: every body of
    a batch that rolls back is told False before its rerun, and told True only by the
    transaction that committed it; a body that fails is never told True."""
    group = GroupCommit(oms.app.pool, lambda _tx: None, max_batch=32, committers=1)
    good, bad = [AccountId(await oms.new_account()) for _ in range(2)]
    release = asyncio.Event()
    ends: dict[str, list[bool]] = {"held": [], "good": [], "bad": []}

    def told(who: str, fail: bool = False) -> Callable[[Tx], Coroutine[Any, Any, None]]:
        async def body(tx: Tx) -> None:
            tx.on_end(ends[who].append)
            if who == "held":
                await release.wait()
            await ledger_store.post_ledger(
                tx.conn, tx.account.account_id, "ADJUSTMENT", D("1.00"), "USD", reference="gc"
            )
            if fail:
                raise RuntimeError("this order's own failure")

        return body

    holding = asyncio.create_task(group.run(good, told("held")))
    await asyncio.sleep(0.05)
    queued = [
        asyncio.create_task(group.run(good, told("good"))),
        asyncio.create_task(group.run(bad, told("bad", fail=True))),
    ]
    await asyncio.sleep(0.05)
    release.set()
    await holding
    done = await asyncio.gather(*queued, return_exceptions=True)

    assert done[0] is None
    assert isinstance(done[1], RuntimeError)
    assert ends == {"held": [True], "good": [False, True], "bad": [False, False]}
    assert await _balance(oms, good) == (D("10002.00"), D("10002.00"))


async def test_transaction_ends_of_an_account_locked_block_then_told_whether_it_committed(
    oms: Any,
) -> None:
    """``UnitOfWork.locked`` (closes, triggered orders) tells ``Tx.on_end`` the same way."""
    uow = oms.app.service.uow
    account = AccountId(await oms.new_account())
    ends: list[bool] = []

    async def block(fails: bool) -> None:
        async with uow.locked(account) as tx:
            tx.on_end(ends.append)
            if fails:
                raise RuntimeError("the block failed")

    await block(fails=False)
    with pytest.raises(RuntimeError):
        await block(fails=True)

    assert ends == [True, False]


async def test_burst_of_orders_committed_in_shared_transactions_then_database_agrees(
    oms: Any, put_quote: Any
) -> None:
    await put_quote("EURUSD", "1.10000", "1.10010")
    accounts = [await oms.new_account() for _ in range(6)]
    oms.router.gate = asyncio.Event()  # every Execute waits: their fills then settle together

    async def place(account_id: int, n: int) -> oms_pb2.PlaceOrderResponse:
        return await oms.stub.PlaceOrder(
            oms_pb2.PlaceOrderRequest(
                account_id=str(account_id),
                client_order_id=f"gc-burst-{account_id}-{n}",
                symbol="EURUSD",
                side=types_pb2.SIDE_BUY if n % 2 else types_pb2.SIDE_SELL,
                type=types_pb2.ORDER_TYPE_MARKET,
                volume="0.10",
            )
        )

    before = _batches()
    placing = [asyncio.create_task(place(a, n)) for a in accounts for n in range(3)]
    for _ in range(200):
        if len(oms.router.requests) >= len(placing):
            break
        await asyncio.sleep(0.02)
    oms.router.gate.set()
    replies = await asyncio.gather(*placing)

    assert {r.order.status for r in replies} == {types_pb2.ORDER_STATUS_FILLED}
    count, total = _batches()
    assert total - before[1] == 2 * len(placing)  # accepted, then filled: two bodies an order
    assert count - before[0] < total - before[1]  # and some of them shared a transaction
    db = await oms.db()
    try:
        for account_id in accounts:
            rows = await db.fetch(
                "SELECT o.status, o.filled_volume, "
                "(SELECT count(*) FROM oms.deals d WHERE d.order_id = o.order_id) AS deals, "
                "(SELECT count(*) FROM oms.positions p WHERE p.open_order_id = o.order_id "
                " AND p.closed_at IS NULL) AS open "
                "FROM oms.orders o WHERE o.account_id = $1",
                account_id,
            )
            assert [tuple(r) for r in rows] == [("FILLED", D("0.10"), 1, 1)] * 3
            balance, ledger = await _balance(oms, account_id)
            assert balance == ledger
            assert balance == D("10000.00") - 3 * D("0.35")  # 3.50 a lot a side, 0.10 lots
    finally:
        await db.close()


@pytest.fixture(autouse=True)
def _no_caller() -> None:
    caller.set("")
