"""Orders oms lost track of (a crash, a timeout, a router outage) are settled from the router's
final word, exactly once, including across a restart of oms over the same database."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import grpc
from oms_helpers import balance_of, ledger_consistent, order_request

from fxmesh.v1 import oms_pb2, oms_pb2_grpc, router_pb2, types_pb2
from oms.server import OmsApp

D = Decimal


async def counts(oms: Any, account_id: int) -> tuple[int, int, int]:
    """(deals, positions, commission ledger rows) of the account."""
    conn = await oms.db()
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM oms.deals WHERE account_id = $1", account_id),
            await conn.fetchval(
                "SELECT count(*) FROM oms.positions WHERE account_id = $1", account_id
            ),
            await conn.fetchval(
                "SELECT count(*) FROM oms.ledger WHERE account_id = $1 AND type = 'COMMISSION'",
                account_id,
            ),
        )
    finally:
        await conn.close()


async def restart(oms: Any) -> tuple[OmsApp, Any]:
    """A new oms process over the same database (its start-up recovery runs before serving)."""
    app = OmsApp(oms.settings, run_relay=False, now=oms.clock)
    port = await app.start()
    return app, grpc.aio.insecure_channel(f"127.0.0.1:{port}")


async def test_order_stuck_filling_when_router_filled_it_then_restart_completes_it_once(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "crash"  # the router fills, then neither its answer nor the router is there

    reply = await oms.stub.PlaceOrder(order_request(account_id))

    assert reply.order.status == types_pb2.ORDER_STATUS_FILLING
    assert await counts(oms, account_id) == (0, 0, 0)
    oms.router.mode = "fill"  # the router is back; oms restarts
    for _ in range(2):  # and restarts again: nothing may be applied twice
        app, channel = await restart(oms)
        try:
            stub = oms_pb2_grpc.OmsServiceStub(channel)
            order = (
                await stub.GetOrder(
                    oms_pb2.GetOrderRequest(
                        account_id=str(account_id), order_id=reply.order.order_id
                    )
                )
            ).order
        finally:
            await channel.close()
            await app.stop()
        assert order.status == types_pb2.ORDER_STATUS_FILLED
        assert order.average_fill_price == "1.08450"
        assert await counts(oms, account_id) == (1, 1, 1)
    conn = await oms.db()
    try:
        assert await balance_of(conn, account_id) == D("9996.50")
        await ledger_consistent(conn, account_id)
        statuses = await conn.fetch(
            "SELECT to_status, reason FROM oms.order_events WHERE order_id = $1 ORDER BY seq",
            int(reply.order.order_id),
        )
        assert [s["to_status"] for s in statuses] == ["ACCEPTED", "FILLING", "FILLED"]
    finally:
        await conn.close()


async def test_place_order_when_execute_answer_lost_then_reconciled_and_filled_once(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "lost"

    reply = await oms.stub.PlaceOrder(order_request(account_id))

    assert reply.order.status == types_pb2.ORDER_STATUS_FILLED
    assert oms.router.reconciles[-1] == reply.order.order_id
    assert [p.volume for p in reply.positions] == ["1.00"]
    assert await counts(oms, account_id) == (1, 1, 1)


async def test_router_down_when_order_placed_then_filling_until_recovery_rejects_and_fences(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "down"

    reply = await oms.stub.PlaceOrder(order_request(account_id))

    assert reply.order.status == types_pb2.ORDER_STATUS_FILLING  # not rejected blindly
    oms.router.mode = "fill"
    await oms.app.recovery.run_once(everything=True)

    order = (
        await oms.stub.GetOrder(
            oms_pb2.GetOrderRequest(account_id=str(account_id), order_id=reply.order.order_id)
        )
    ).order
    assert order.status == types_pb2.ORDER_STATUS_REJECTED
    assert order.reject_reason == "EXECUTION_UNAVAILABLE"
    # A late Execute of the fenced order can never fill it.
    late = await oms.router.Execute(router_pb2.ExecuteRequest(order=order), _NoContext())
    assert late.reject_reason == "ORDER_ABANDONED"
    assert await counts(oms, account_id) == (0, 0, 0)


async def test_order_left_accepted_by_a_crash_when_recovered_then_rejected_not_executed(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    conn = await oms.db()
    try:
        order_id = await conn.fetchval(
            "INSERT INTO oms.orders (account_id, client_order_id, symbol, side, type, "
            "time_in_force, volume, status) VALUES ($1, 'crashed', 'EURUSD', 'BUY', 'MARKET', "
            "'IOC', 1, 'ACCEPTED') RETURNING order_id",
            account_id,
        )
        await conn.execute(
            "INSERT INTO oms.order_events (order_id, seq, from_status, to_status, reason) "
            "VALUES ($1, 1, 'PENDING', 'ACCEPTED', 'ACCEPT')",
            order_id,
        )
    finally:
        await conn.close()

    await oms.app.recovery.run_once(everything=True)

    order = (
        await oms.stub.GetOrder(
            oms_pb2.GetOrderRequest(account_id=str(account_id), order_id=str(order_id))
        )
    ).order
    assert order.status == types_pb2.ORDER_STATUS_REJECTED
    assert order.reject_reason == "EXECUTION_UNAVAILABLE"
    assert str(order_id) in oms.router.reconciles


class _NoContext:
    """The stand-in router's Execute called in-process (no abort expected)."""

    async def abort(self, code: Any, details: str) -> None:
        raise AssertionError(f"unexpected abort {code}: {details}")
