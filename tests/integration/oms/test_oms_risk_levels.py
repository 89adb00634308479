"""The margin-call and stop-out levels of the risk settings, applied by the trigger watcher and
the stop-out itself: a group's (else the global) level raises an account's own level, a change
reaches a running watcher without a restart, and the margin-watch view uses the same levels.

Every test uses its own client group; the one that changes the global row restores it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any

import pytest
from oms_helpers import BUY, events, ledger_consistent, order_request

from fxmesh.v1 import oms_pb2, types_pb2
from oms.domain.model import AccountId
from oms.triggers.bridge import WatcherBridge
from oms.triggers.watcher import TriggerWatcher

D = Decimal
FILLED = types_pb2.ORDER_STATUS_FILLED
DEADLINE_SECONDS = 30.0


def new_group() -> str:
    return f"lvl-{uuid.uuid4().hex[:8]}"


async def account_in_group(oms: Any, group: str, **extra: Any) -> int:
    account_id: int = await oms.new_account(**extra)
    conn = await oms.db()
    try:
        await conn.execute(
            "UPDATE oms.accounts SET client_group = $2 WHERE account_id = $1", account_id, group
        )
    finally:
        await conn.close()
    return account_id


async def tight_position(oms: Any, put_quote: Any, group: str) -> tuple[int, int]:
    """An account of ``group`` holding 1 lot EURUSD at a margin level of 107.85 %."""
    await put_quote("EURUSD", "1.10000", "1.10010")
    account_id = await account_in_group(oms, group, deposit="1200.00")
    placed = await oms.stub.PlaceOrder(order_request(account_id, side=BUY, volume="1.00"))
    assert placed.order.status == FILLED, placed.order.reject_reason
    return account_id, int(placed.positions[0].position_id)


async def sql(oms: Any, query: str, *args: Any) -> None:
    """A change committed by another process (psql, another oms): it arrives by NOTIFY."""
    conn = await oms.db()
    try:
        await conn.execute(query, *args)
    finally:
        await conn.close()


async def eventually(check: Callable[[], Awaitable[bool]]) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_SECONDS
    while not await check():
        assert loop.time() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


async def close_reason(oms: Any, position_id: int) -> str | None:
    conn = await oms.db()
    try:
        reason: str | None = await conn.fetchval(
            "SELECT close_reason FROM oms.positions WHERE position_id = $1", position_id
        )
        return reason
    finally:
        await conn.close()


async def margin_calls(oms: Any, account_id: int) -> list[Any]:
    conn = await oms.db()
    try:
        return [d for _, d in await events(conn, account_id, "margin_call")]
    finally:
        await conn.close()


@pytest.fixture
async def watch(oms: Any, redis_client: Any) -> AsyncIterator[Callable[[int], Awaitable[Any]]]:
    """A watcher wired as oms wires it (levels from the risk settings, told of their changes),
    watching only the accounts given (the session database holds other tests' accounts)."""
    bridge = WatcherBridge(oms.app.service)
    watcher = TriggerWatcher(redis_client, bridge, bridge, now=oms.clock, levels=bridge.levels)
    bridge.attach(watcher)
    await bridge.load_triggers()  # the symbol specs the listener needs
    watcher.start_dispatcher()

    async def add(account_id: int) -> TriggerWatcher:
        await watcher._read_current_quotes(["EURUSD"])
        watcher.reload_account(AccountId(account_id))
        await watcher.drain()
        return watcher

    try:
        yield add
    finally:
        uow = oms.app.service.uow
        uow.listeners.remove(bridge)
        uow.levels_listeners.remove(bridge._levels_changed)
        await asyncio.wait_for(watcher.stop(), 30)


async def test_stop_out_when_group_level_raised_elsewhere_then_account_below_it_stopped_out(
    oms: Any, put_quote: Any, watch: Any
) -> None:
    group = new_group()
    account_id, position_id = await tight_position(oms, put_quote, group)
    watcher = await watch(account_id)
    assert await close_reason(oms, position_id) is None  # 107.85 % is above its own 50 %

    # Another process raises the group's stop-out above the account's margin level.
    await sql(
        oms,
        "INSERT INTO oms.risk_settings (client_group, margin_call_level, stop_out_level) "
        "VALUES ($1, 150, 110)",
        group,
    )

    async def stopped_out() -> bool:
        return await close_reason(oms, position_id) == "STOP_OUT"

    await eventually(stopped_out)
    await watcher.drain()
    left = await oms.stub.ListPositions(oms_pb2.ListPositionsRequest(account_id=str(account_id)))
    assert list(left.positions) == []
    conn = await oms.db()
    try:
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_margin_call_when_group_level_set_then_event_at_the_groups_level(
    oms: Any, put_quote: Any, watch: Any
) -> None:
    group = new_group()
    account_id, position_id = await tight_position(oms, put_quote, group)
    watcher = await watch(account_id)
    assert await margin_calls(oms, account_id) == []

    await oms.stub.SetRiskSettings(
        oms_pb2.SetRiskSettingsRequest(
            settings=oms_pb2.RiskSettings(client_group=group, margin_call_level="150")
        )
    )

    async def called() -> bool:
        return bool(await margin_calls(oms, account_id))

    await eventually(called)
    await watcher.drain()
    [event] = await margin_calls(oms, account_id)
    assert (event["marginLevel"], event["marginCallLevel"]) == ("107.85", "150")
    assert event["stopOutLevel"] == "50"  # the group sets no stop-out: the account's own
    assert await close_reason(oms, position_id) is None


async def test_margin_call_when_group_has_no_row_then_global_level_applies(
    oms: Any, put_quote: Any, watch: Any
) -> None:
    group = new_group()  # no row of its own
    account_id, _ = await tight_position(oms, put_quote, group)
    watcher = await watch(account_id)
    conn = await oms.db()
    try:
        before = await conn.fetchrow(
            "SELECT margin_call_level, stop_out_level FROM oms.risk_settings "
            "WHERE client_group = ''"
        )
    finally:
        await conn.close()
    try:
        await sql(
            oms, "UPDATE oms.risk_settings SET margin_call_level = 140 WHERE client_group = ''"
        )

        async def called() -> bool:
            return bool(await margin_calls(oms, account_id))

        await eventually(called)
        await watcher.drain()
        [event] = await margin_calls(oms, account_id)
        assert event["marginCallLevel"] == "140"
    finally:
        await sql(
            oms,
            "UPDATE oms.risk_settings SET margin_call_level = $1, stop_out_level = $2 "
            "WHERE client_group = ''",
            before["margin_call_level"],
            before["stop_out_level"],
        )
        await eventually(lambda: _global_call_is(oms, before["margin_call_level"]))


async def _global_call_is(oms: Any, level: Decimal | None) -> bool:
    return bool(oms.app.service.uow.risk.global_row.margin_call_level == level)


async def test_stop_out_when_group_level_below_accounts_own_then_own_level_stands(
    oms: Any, put_quote: Any, watch: Any
) -> None:
    """A group's laxer stop-out never lowers an account's own (the stricter wins)."""
    group = new_group()
    account_id, position_id = await tight_position(oms, put_quote, group)
    await sql(
        oms,
        "UPDATE oms.accounts SET margin_call_level = 150, stop_out_level = 120 "
        "WHERE account_id = $1",
        account_id,
    )
    await oms.stub.SetRiskSettings(
        oms_pb2.SetRiskSettingsRequest(
            settings=oms_pb2.RiskSettings(
                client_group=group, margin_call_level="80", stop_out_level="20"
            )
        )
    )

    closing = await oms.app.service.stop_out(AccountId(account_id))

    assert [o.position_id for o in closing] == [position_id]
    assert await close_reason(oms, position_id) == "STOP_OUT"


async def test_margin_watch_when_group_level_set_then_listed_at_the_groups_level(
    oms: Any, put_quote: Any
) -> None:
    group = new_group()
    account_id, _ = await tight_position(oms, put_quote, group)
    before = await oms.stub.ListMarginWatch(oms_pb2.ListMarginWatchRequest(within="0"))
    assert str(account_id) not in {a.account_id for a in before.accounts}  # 107.85 > 100

    await oms.stub.SetRiskSettings(
        oms_pb2.SetRiskSettingsRequest(
            settings=oms_pb2.RiskSettings(
                client_group=group, margin_call_level="200", stop_out_level="60"
            )
        )
    )
    after = await oms.stub.ListMarginWatch(oms_pb2.ListMarginWatchRequest(within="0"))

    listed = {a.account_id: a for a in after.accounts}
    entry = listed[str(account_id)]
    assert (entry.margin_level, entry.margin_call_level, entry.stop_out_level) == (
        "107.85",
        "200",
        "60",
    )
