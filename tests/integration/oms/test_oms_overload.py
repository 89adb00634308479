"""oms under overload: the real OmsService (PostgreSQL, Redis, the stand-in router) served with a
small admission limit. The excess is refused RESOURCE_EXHAUSTED OVERLOADED with a retry hint and
nothing stored, a close is admitted anyway, reads are shed, and every admitted order is answered
and ends terminal.

No timing asserts: the refusals are shown to be immediate by arriving while the admitted orders
are still held at the router (its ``gate``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import grpc

from fxmesh.admission import OVERLOADED, RETRY_AFTER_KEY, Admission
from fxmesh.errors import from_rpc_error
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2
from oms.api.servicer import OmsServicer


def market(account_id: int, client_order_id: str) -> oms_pb2.PlaceOrderRequest:
    return oms_pb2.PlaceOrderRequest(
        account_id=str(account_id),
        client_order_id=client_order_id,
        symbol="EURUSD",
        side=types_pb2.SIDE_BUY,
        type=types_pb2.ORDER_TYPE_MARKET,
        volume="0.10",
    )


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):  # 30 s at most: a bound for a stuck test, not a timing assert
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 30 s")


async def outcome(call: Any) -> Any:
    try:
        return await call
    except grpc.aio.AioRpcError as exc:
        return exc


async def test_orders_when_more_than_oms_admits_then_excess_refused_and_admitted_all_terminal(
    oms: Any, put_quote: Any
) -> None:
    # Arrange: a position to close, then oms served with 2 in flight and 2 waiting at most.
    account_id = await oms.new_account(deposit="100000.00")
    await put_quote("EURUSD", "1.08440", "1.08450")
    opened = await oms.stub.PlaceOrder(market(account_id, f"ovl-open-{uuid.uuid4().hex[:8]}"))
    position_id = opened.positions[0].position_id
    policy = oms.settings.model_copy(
        update={"oms_max_in_flight": 2, "oms_admission_queue": 2}
    ).admission_policy()
    # Queued orders must not time out while the router holds the admitted ones.
    policy = dataclasses.replace(policy, queue_timeout_seconds=60.0)
    server = GrpcServer("omsoverload", "127.0.0.1:0")
    server.add(
        oms_pb2_grpc.add_OmsServiceServicer_to_server,
        OmsServicer(oms.app.service, Admission("omsoverload", policy)),
        "fxmesh.v1.OmsService",
    )
    port = await server.start()
    router = oms.router
    router.gate = asyncio.Event()
    executed_before = len(router.requests)
    tag = uuid.uuid4().hex[:8]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = oms_pb2_grpc.OmsServiceStub(channel)
            # Act
            orders = [
                asyncio.create_task(outcome(stub.PlaceOrder(market(account_id, f"{tag}-{i}"))))
                for i in range(8)
            ]
            await until(lambda: sum(t.done() for t in orders) >= 4)
            await until(lambda: len(router.requests) - executed_before >= 2)
            read = await outcome(
                stub.GetAccountSummary(oms_pb2.GetAccountSummaryRequest(account_id=str(account_id)))
            )
            close = asyncio.create_task(
                outcome(
                    stub.ClosePosition(
                        oms_pb2.ClosePositionRequest(
                            account_id=str(account_id),
                            position_id=position_id,
                            client_order_id=f"{tag}-close",
                        )
                    )
                )
            )
            # The close is admitted although oms is full: it reaches the router.
            await until(lambda: len(router.requests) - executed_before >= 3)
            still_held = sum(not t.done() for t in orders)
            router.gate.set()
            answers = await asyncio.gather(*orders)
            closed = await close
    finally:
        router.gate = None
        await server.stop(0)

    # Assert: four refused at once (the other four were still held), with the retry hint.
    assert still_held == 4
    refused = [a for a in answers if isinstance(a, grpc.aio.AioRpcError)]
    assert len(refused) == 4
    for exc in refused:
        err = from_rpc_error(exc)
        assert err.code is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert err.reason == OVERLOADED
        assert err.metadata[RETRY_AFTER_KEY] == "1"
        assert err.metadata["cause"] == "QUEUE_FULL"
    read_err = from_rpc_error(read)
    assert (read_err.reason, read_err.metadata["cause"]) == (OVERLOADED, "READS_SHED")
    # Every admitted order answered and FILLED; the close too; nothing stored for the refused.
    admitted = [a for a in answers if not isinstance(a, grpc.aio.AioRpcError)]
    assert [a.order.status for a in admitted] == [types_pb2.ORDER_STATUS_FILLED] * 4
    assert closed.order.status == types_pb2.ORDER_STATUS_FILLED
    conn = await oms.db()
    try:
        rows = await conn.fetch(
            "SELECT client_order_id, status FROM oms.orders WHERE account_id = $1 "
            "AND client_order_id LIKE $2",
            account_id,
            f"{tag}-%",
        )
    finally:
        await conn.close()
    stored = {r["client_order_id"]: r["status"] for r in rows}
    assert stored == {
        **{a.order.client_order_id: "FILLED" for a in admitted},
        f"{tag}-close": "FILLED",
    }


# RPCs that deliberately bypass admission control, and what bounds them instead.
NOT_ADMITTED = {
    # A stream lives as long as a client watches: it would hold a slot for hours.
    "WatchAccount": "at most marks_max_accounts watched accounts (TOO_MANY_WATCHES)",
}


def test_servicer_when_any_rpc_then_it_passes_admission_control() -> None:
    rpcs = [name for name in vars(oms_pb2_grpc.OmsServiceServicer) if name[0].isupper()]

    unadmitted = [rpc for rpc in rpcs if not hasattr(getattr(OmsServicer, rpc), "__wrapped__")]

    assert rpcs
    assert unadmitted == list(NOT_ADMITTED)
