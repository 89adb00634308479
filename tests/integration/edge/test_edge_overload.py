"""edge under overload, against the fake oms at the gRPC boundary: the excess over edge's admission
limit is refused with 503 OVERLOADED + Retry-After without waiting and never reaches oms, closes
and cancels still go through, reads are shed, and every admitted order is answered. oms's own
refusal reaches the client the same way; an order whose answer is lost is answered so the client
retries it by clientOrderId.

No timing asserts: "fast" is shown by the refusals arriving while the admitted orders are still
held inside oms (the fake's ``hold``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
from prometheus_client import REGISTRY

from edge.app import create_app
from edge.wsserver import edge_http_server

ACCOUNT = "1001"  # alice


@contextlib.asynccontextmanager
async def edge_with(base: Any, **overrides: Any) -> AsyncIterator[str]:
    """A second edge on the session's fake oms, quotes and brokers, with ``overrides``; its URL."""
    settings = base.settings.model_copy(update=overrides)
    server = edge_http_server(create_app(settings), "127.0.0.1:0", ws_ping_interval=20.0)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving


def queued() -> float:
    """Orders waiting for a slot at edge (the gauge is per process: one edge is busy at a time)."""
    return REGISTRY.get_sample_value("fxmesh_edge_admission_queued") or 0.0


def market(client_order_id: str, symbol: str = "EURUSD") -> dict[str, str]:
    return {"symbol": symbol, "side": "BUY", "volume": "0.10", "clientOrderId": client_order_id}


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(3000):  # 30 s at most: a bound for a stuck test, not a timing assert
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached in 30 s")


async def test_orders_when_more_than_edge_admits_then_excess_refused_503_and_admitted_all_answered(
    edge: Any, alice_token: str
) -> None:
    # Arrange: 2 in flight, 2 may wait (long enough never to time out here), 8 orders at once.
    oms = edge.oms
    tag = uuid.uuid4().hex[:8]
    position_id = oms.open_position(ACCOUNT)
    oms.hold = asyncio.Event()
    placed_before = len(oms.placed)
    auth = {"Authorization": f"Bearer {alice_token}"}
    try:
        async with (
            edge_with(
                edge,
                edge_max_in_flight=2,
                edge_admission_queue=2,
                edge_admission_queue_timeout_seconds=60.0,
            ) as url,
            httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as http,
        ):
            # Act
            orders = [
                asyncio.create_task(http.post("/api/orders/market", json=market(f"{tag}-{i}")))
                for i in range(8)
            ]
            await until(lambda: sum(t.done() for t in orders) >= 4)
            await until(lambda: len(oms.placed) - placed_before >= 2)
            summary = await http.get("/api/account/summary")
            close = await http.post(
                f"/api/positions/{position_id}/close", json={"clientOrderId": f"{tag}-close"}
            )
            still_held = [t for t in orders if not t.done()]
            oms.hold.set()
            answers = await asyncio.gather(*orders)
    finally:
        oms.hold = None

    # Assert: refused while the admitted ones were still held in oms, i.e. without waiting.
    assert len(still_held) == 4
    refused = [r for r in answers if r.status_code != 200]
    assert len(refused) == 4
    for response in refused:
        assert response.status_code == 503, response.text
        assert response.headers["Retry-After"] == "1"
        body = response.json()
        assert body["code"] == "OVERLOADED"
        assert body["details"]["cause"] == "QUEUE_FULL"
        assert set(body) == {"code", "message", "details"}
    # Refused orders never reached oms; every admitted one was answered, filled.
    reached = {r.client_order_id for r in oms.placed[placed_before:]}
    admitted = [r for r in answers if r.status_code == 200]
    assert {r.json()["order"]["clientOrderId"] for r in admitted} == reached
    assert len(reached) == 4
    assert all(r.json()["order"]["status"] == "FILLED" for r in admitted)
    # Reads are shed first; a close is never refused.
    assert summary.status_code == 503
    assert summary.json()["details"]["cause"] == "READS_SHED"
    assert close.status_code == 200, close.text
    assert close.json()["order"]["status"] == "FILLED"


async def test_order_when_retried_with_its_idempotency_key_then_it_goes_ahead_of_a_newer_first_try(
    edge: Any, alice_token: str, bob_token: str
) -> None:
    # Arrange: 1 in flight, 1 may wait. alice's order is refused while bob's waits; then bob's
    # next order waits in the queue when alice retries hers (the same Idempotency-Key).
    oms = edge.oms
    tag = uuid.uuid4().hex[:8]
    first_hold = oms.hold = asyncio.Event()
    alice = {"Authorization": f"Bearer {alice_token}"}
    bob = {"Authorization": f"Bearer {bob_token}"}
    try:
        async with (
            edge_with(
                edge,
                edge_max_in_flight=1,
                edge_admission_queue=1,
                edge_admission_queue_timeout_seconds=60.0,
                edge_admission_retry_queue_timeout_seconds=60.0,
            ) as url,
            httpx.AsyncClient(base_url=url, timeout=60) as http,
        ):

            def order(auth: dict[str, str], name: str) -> asyncio.Task[httpx.Response]:
                cid = f"{tag}-{name}"
                headers = {**auth, "Idempotency-Key": cid}
                return asyncio.create_task(
                    http.post("/api/orders/market", json=market(cid), headers=headers)
                )

            placed_before = len(oms.placed)
            alice_first = order(alice, "a1")
            await until(lambda: len(oms.placed) - placed_before == 1)  # held in oms
            bob_first = order(bob, "b1")
            await until(lambda: queued() == 1)
            refused = await order(alice, "a2")
            second_hold = oms.hold = asyncio.Event()
            first_hold.set()  # alice's first order finishes, bob's first enters and is held
            await alice_first
            await until(lambda: len(oms.placed) - placed_before == 2)
            bob_newer = order(bob, "b2")
            await until(lambda: queued() == 1)  # waiting: it arrived before alice's retry

            # Act: alice's order stands from its refusal, before bob's newer one.
            alice_retry = order(alice, "a2")
            bumped = await bob_newer
            second_hold.set()
            retried, first_of_bob = await asyncio.gather(alice_retry, bob_first)
    finally:
        oms.hold = None

    # Assert
    assert refused.status_code == 503, refused.text
    assert bumped.status_code == 503, bumped.text
    assert bumped.json()["details"]["cause"] == "QUEUE_FULL"
    assert retried.status_code == 200, retried.text
    assert retried.json()["order"]["status"] == "FILLED"
    assert first_of_bob.status_code == 200, first_of_bob.text


async def test_place_order_when_oms_refuses_overloaded_then_503_with_its_retry_after(
    edge: Any, alice_token: str
) -> None:
    async with edge.client(alice_token) as http:
        response = await http.post("/api/orders/market", json=market("busy-1", symbol="BUSY"))

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json()["code"] == "OVERLOADED"


async def test_place_order_when_answer_lost_to_deadline_then_504_naming_client_order_id(
    edge: Any, alice_token: str
) -> None:
    cid = f"slow-{uuid.uuid4().hex[:8]}"
    auth = {"Authorization": f"Bearer {alice_token}"}
    async with (
        edge_with(edge, grpc_deadline_seconds=0.05, edge_order_deadline_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, headers=auth, timeout=60) as http,
    ):
        response = await http.post("/api/orders/market", json=market(cid, symbol="SLOW"))

    assert response.status_code == 504, response.text
    body = response.json()
    assert body["code"] == "ORDER_OUTCOME_UNKNOWN"
    assert body["details"]["client_order_id"] == cid
    assert "same client_order_id" in body["message"]
    assert response.headers["Retry-After"] == "1"
