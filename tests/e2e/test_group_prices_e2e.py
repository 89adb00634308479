"""End to end: a client group with its own markup sees and is filled at its own price.

An admin opens two accounts, one in a fresh client group and one in the default group, and gives
the fresh group its own EURUSD markup through ``PUT /admin/markups``; quotes (reloading on NOTIFY)
writes the group's quote next to the default one; edge shows each client its group's price, and
a market BUY of each fills at the ask its client was shown (LP FIX -> fixgw -> quotes -> Redis ->
edge / router).

Shared state: the LP's random walk is frozen for the test and put back in ``finally``, and the
group markup (of a group only this test uses) is deleted.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest
from e2e_client import login
from test_admin_e2e import admin_client, eventually

from devstack.supervisor import Stack

pytestmark = pytest.mark.e2e

SYMBOL = "EURUSD"


async def _account(admin: httpx.AsyncClient, group: str) -> tuple[str, str]:
    name, password = f"e2e-g-{uuid.uuid4().hex[:10]}", "e2e-password-1"
    body = {
        "username": name,
        "password": password,
        "accountType": "DEMO",
        "currency": "USD",
        "leverage": 100,
    }
    if group:
        body["group"] = group
    created = await admin.post("/admin/accounts", json=body)
    assert created.status_code == 201, created.text
    account_id = created.json()["account"]["accountId"]
    funded = await admin.post(
        "/admin/deposit",
        json={"accountId": account_id, "amount": "5000.00", "method": "BANK_TRANSFER"},
        headers={"Idempotency-Key": f"e2e-{uuid.uuid4().hex[:8]}"},
    )
    assert funded.status_code == 200, funded.text
    return name, password


async def test_group_markup_when_set_then_group_client_sees_and_fills_at_group_price(
    stack: Stack,
) -> None:
    admin = await admin_client(stack)
    edge = httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0)
    lpsim = httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0)
    group = f"e2e-grp-{uuid.uuid4().hex[:6]}"
    walk = (await lpsim.get("/state", params={"max_orders": 0})).json()["config"]["walk"]
    frozen = await lpsim.put("/config", json={"walk": False})
    assert frozen.status_code == 200, frozen.text
    try:
        vip = await login(edge, *await _account(admin, group))
        plain = await login(edge, *await _account(admin, ""))

        async def shown(auth: dict[str, str]) -> tuple[Decimal, Decimal] | None:
            reply = await edge.get(f"/api/symbols/{SYMBOL}", headers=auth)
            doc = reply.json()
            if reply.status_code != 200 or doc.get("bid") is None:
                return None
            return Decimal(doc["bid"]), Decimal(doc["ask"])

        default = await eventually("a EURUSD quote", lambda: shown(plain))
        set_markup = await admin.put(
            f"/admin/markups/{group}/{SYMBOL}",
            json={"unit": "POINTS", "markupBid": "20", "markupAsk": "30"},
        )
        assert set_markup.status_code == 200, set_markup.text

        async def group_price() -> tuple[Decimal, Decimal] | None:
            price = await shown(vip)
            return price if price is not None and price != default else None

        vip_bid, vip_ask = await eventually("the group's own price", group_price)
        # The group's own markup replaces the default one: wider than the default here.
        assert vip_bid < default[0]
        assert vip_ask > default[1]
        assert await shown(plain) == default

        async def bought(auth: dict[str, str]) -> Decimal | None:
            reply = await edge.post(
                "/api/orders/market",
                json={
                    "symbol": SYMBOL,
                    "side": "BUY",
                    "volume": "0.10",
                    "clientOrderId": uuid.uuid4().hex[:12],
                },
                headers=auth,
            )
            order = reply.json().get("order", {})
            if reply.status_code != 200 or order.get("status") != "FILLED":
                return None
            return Decimal(order["averageFillPrice"])

        assert await eventually("the group client's fill", lambda: bought(vip)) == vip_ask
        assert await eventually("the default client's fill", lambda: bought(plain)) == default[1]
    finally:
        await admin.delete(f"/admin/markups/{group}/{SYMBOL}")
        await lpsim.put("/config", json={"walk": walk})
        await admin.aclose()
        await edge.aclose()
        await lpsim.aclose()
