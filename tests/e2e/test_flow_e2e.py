"""End to end: a client's fills and closed deal reach the router's flow figures through oms's events
on RabbitMQ (the stack runs the router with FXMESH_ROUTER_FLOW_FEED on)."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from e2e_client import eventually, login, open_account

from devstack.supervisor import Stack

pytestmark = pytest.mark.e2e


async def test_order_then_close_through_edge_then_router_records_fills_markouts_and_the_deal(
    stack: Stack,
) -> None:
    account_id, login_name, password = await open_account(stack)
    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0) as edge:
        auth = await login(edge, login_name, password)
        placed = await edge.post(
            "/api/orders/market",
            json={"symbol": "EURUSD", "side": "BUY", "volume": "0.10", "clientOrderId": "flow-1"},
            headers=auth,
        )
        assert placed.status_code == 200, placed.text
        positions = await edge.get("/api/account/positions", headers=auth)
        [position] = positions.json()["positions"]
        closed = await edge.post(
            f"/api/positions/{position['positionId']}/close",
            json={"clientOrderId": "flow-2"},
            headers=auth,
        )
        assert closed.status_code == 200, closed.text

    db = await asyncpg.connect(stack.config.postgres_dsn)
    try:

        async def fills() -> list[asyncpg.Record]:
            rows = await db.fetch(
                "SELECT side, mid_1s FROM router.flow_fills WHERE account_id = $1 "
                "ORDER BY fill_time",
                account_id,
            )
            return rows if len(rows) == 2 and all(r["mid_1s"] is not None for r in rows) else []

        recorded = await eventually("both fills with their 1 s markout", fills)
        deal = await eventually(
            "the closed deal",
            lambda: db.fetchrow(
                "SELECT position_id, profit FROM router.flow_closes WHERE account_id = $1",
                account_id,
            ),
        )
    finally:
        await db.close()

    assert [r["side"] for r in recorded] == ["BUY", "SELL"]
    assert deal["position_id"] == str(position["positionId"])
