"""End to end: the broker's control room drives the whole stack through admin REST, the client
trades through edge.

An admin creates and funds an account, the client trades; the admin suspends the account and the
next order is refused (ACCOUNT_NOT_ACTIVE); the admin disables a symbol and the next order in it
is refused (SYMBOL_DISABLED); the admin raises a symbol's markup by 40 points and the next client
quote is exactly 40 points wider (LP FIX -> fixgw -> quotes reloading on NOTIFY -> Redis -> edge).

Shared state: the disabled symbol is one this test creates; the markup is changed on GBPUSD (a
seeded symbol with live LP quotes) and put back in ``finally``, with the LP's walk. Each test
logs in as its own admin user.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import httpx
import pytest
from e2e_client import eventually, login

from admin import repository
from admin.domain import Role
from devstack.supervisor import Stack
from fxmesh import passwords

pytestmark = pytest.mark.e2e

MARKUP_SYMBOL = "GBPUSD"
POINT = Decimal("0.00001")


async def admin_client(stack: Stack) -> httpx.AsyncClient:
    """An httpx client on admin REST logged in as a fresh ADMIN user of this test."""
    username = f"e2e-adm-{uuid.uuid4().hex[:8]}"
    password = "E2e-admin-password-1"
    conn = await asyncpg.connect(stack.config.postgres_dsn)
    try:
        await repository.upsert_user(conn, username, passwords.hash_password(password), Role.ADMIN)
    finally:
        await conn.close()
    client = httpx.AsyncClient(base_url=stack.admin_url, timeout=30.0)
    reply = await client.post("/admin/login", json={"username": username, "password": password})
    assert reply.status_code == 200, reply.text
    client.headers["Authorization"] = f"Bearer {reply.json()['accessToken']}"
    return client


def market(symbol: str, key: str) -> dict[str, str]:
    return {"symbol": symbol, "side": "BUY", "volume": "0.10", "clientOrderId": key}


async def test_admin_controls_client_account_symbols_and_markup_end_to_end(stack: Stack) -> None:
    admin = await admin_client(stack)
    edge = httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0)
    lpsim = httpx.AsyncClient(base_url=stack.lpsim_control_url, timeout=30.0)
    try:
        # The admin creates and funds an account; the client logs in and trades.
        login_name, password = f"e2e-{uuid.uuid4().hex[:10]}", "e2e-password-1"
        created = await admin.post(
            "/admin/accounts",
            json={
                "username": login_name,
                "password": password,
                "accountType": "DEMO",
                "currency": "USD",
                "leverage": 100,
            },
        )
        assert created.status_code == 201, created.text
        account_id = created.json()["account"]["accountId"]
        funded = await admin.post(
            "/admin/deposit",
            json={"accountId": account_id, "amount": "5000.00", "method": "BANK_TRANSFER"},
            headers={"Idempotency-Key": f"e2e-{uuid.uuid4().hex[:8]}"},
        )
        assert funded.status_code == 200, funded.text
        auth = await login(edge, login_name, password)

        async def filled() -> bool:
            reply = await edge.post(
                "/api/orders/market", json=market("EURUSD", uuid.uuid4().hex[:12]), headers=auth
            )
            return reply.status_code == 200 and reply.json()["order"]["status"] == "FILLED"

        await eventually("a first filled order", filled)

        # A symbol the admin creates, then disables: the next order is SYMBOL_DISABLED.
        symbol = f"E{uuid.uuid4().hex[:6].upper()}"
        made = await admin.post(
            "/admin/symbols",
            json={
                "symbol": symbol,
                "assetClass": "FX",
                "baseCurrency": "EUR",
                "quoteCurrency": "USD",
                "digits": 5,
                "contractSize": "100000",
                "volumeMin": "0.01",
                "volumeMax": "10",
                "volumeStep": "0.01",
            },
        )
        assert made.status_code == 201, made.text
        disabled = await admin.post(f"/admin/symbols/{symbol}/disable")
        assert disabled.status_code == 200, disabled.text
        refused = await edge.post(
            "/api/orders/market", json=market(symbol, uuid.uuid4().hex[:12]), headers=auth
        )
        assert refused.status_code == 200, refused.text
        assert refused.json()["order"]["status"] == "REJECTED"
        assert refused.json()["order"]["rejectReason"] == "SYMBOL_DISABLED"

        # The admin raises GBPUSD's markup by 40 points: the next client quote is 40 wider.
        await markup_widens_quote(admin, edge, lpsim, auth)

        # The admin suspends the account: the next order is ACCOUNT_NOT_ACTIVE.
        suspended = await admin.post(f"/admin/accounts/{account_id}/suspend")
        assert suspended.status_code == 200, suspended.text
        after = await edge.post(
            "/api/orders/market", json=market("EURUSD", uuid.uuid4().hex[:12]), headers=auth
        )
        assert after.status_code == 200, after.text
        assert after.json()["order"]["status"] == "REJECTED"
        assert after.json()["order"]["rejectReason"] == "ACCOUNT_NOT_ACTIVE"
    finally:
        await admin.aclose()
        await edge.aclose()
        await lpsim.aclose()


async def markup_widens_quote(
    admin: httpx.AsyncClient,
    edge: httpx.AsyncClient,
    lpsim: httpx.AsyncClient,
    auth: dict[str, str],
) -> None:
    current = await admin.get(f"/admin/symbols/{MARKUP_SYMBOL}")
    assert current.status_code == 200, current.text
    markup = current.json()["symbol"]["spreadMarkup"]

    async def spread() -> Decimal | None:
        reply = await edge.get(f"/api/symbols/{MARKUP_SYMBOL}", headers=auth)
        doc = reply.json()
        if reply.status_code != 200 or doc.get("bid") is None:
            return None
        return (Decimal(doc["ask"]) - Decimal(doc["bid"])) / POINT

    walk = (await lpsim.get("/state", params={"max_orders": 0})).json()["config"]["walk"]
    frozen = await lpsim.put("/config", json={"walk": False})
    assert frozen.status_code == 200, frozen.text
    try:
        before = await eventually(f"a {MARKUP_SYMBOL} quote", spread)
        raised = await admin.put(
            f"/admin/symbols/{MARKUP_SYMBOL}", json={"spreadMarkup": markup + 40}
        )
        assert raised.status_code == 200, raised.text
        assert raised.json()["symbol"]["spreadMarkup"] == markup + 40

        async def changed() -> Decimal | None:
            now = await spread()
            return now if now is not None and now != before else None

        widened = await eventually("a wider quote", changed)
        assert widened == before + 40
    finally:
        back = await admin.put(f"/admin/symbols/{MARKUP_SYMBOL}", json={"spreadMarkup": markup})
        assert back.status_code == 200, back.text
        await lpsim.put("/config", json={"walk": walk})


async def test_admin_raises_a_groups_stop_out_level_and_the_running_oms_stops_the_client_out(
    stack: Stack,
) -> None:
    """Risk settings reach oms's trigger watcher without a restart: a client of a fresh group
    holds 1 lot EURUSD well above its own 50 % stop-out; the admin raises the group's stop-out
    above the account's margin level and the position is closed STOP_OUT."""
    admin = await admin_client(stack)
    edge = httpx.AsyncClient(base_url=stack.edge_url, timeout=30.0)
    group = f"e2e-lvl-{uuid.uuid4().hex[:8]}"
    try:
        login_name, password = f"e2e-{uuid.uuid4().hex[:10]}", "e2e-password-1"
        created = await admin.post(
            "/admin/accounts",
            json={
                "username": login_name,
                "password": password,
                "accountType": "DEMO",
                "currency": "USD",
                "leverage": 100,
                "group": group,
            },
        )
        assert created.status_code == 201, created.text
        account_id = created.json()["account"]["accountId"]
        funded = await admin.post(
            "/admin/deposit",
            json={"accountId": account_id, "amount": "1300.00", "method": "BANK_TRANSFER"},
            headers={"Idempotency-Key": f"e2e-{uuid.uuid4().hex[:8]}"},
        )
        assert funded.status_code == 200, funded.text
        auth = await login(edge, login_name, password)

        async def bought() -> bool:
            order = {**market("EURUSD", uuid.uuid4().hex[:12]), "volume": "1.00"}
            reply = await edge.post("/api/orders/market", json=order, headers=auth)
            return reply.status_code == 200 and reply.json()["order"]["status"] == "FILLED"

        await eventually("1 lot EURUSD filled", bought)  # ~1 085 USD margin: ~120 %
        summary = (await edge.get("/api/account/summary", headers=auth)).json()
        level = Decimal(summary["marginLevel"])
        assert 60 < level < 200, summary

        raised = await admin.put(
            "/admin/risk-settings",
            params={"group": group},
            json={"marginCallLevel": "300", "stopOutLevel": "250"},
        )
        assert raised.status_code == 200, raised.text

        async def flat() -> bool:
            reply = await edge.get("/api/account/positions", headers=auth)
            return reply.status_code == 200 and reply.json()["positions"] == []

        await eventually("the stop-out at the group's level", flat)
        trades = await edge.get("/api/account/trades", params={"pageSize": 100}, headers=auth)
        assert trades.status_code == 200, trades.text
        [closing] = [d for d in trades.json()["deals"] if d["entry"] == "OUT"]
        assert closing["reason"] == "STOP_OUT"
    finally:
        await admin.aclose()
        await edge.aclose()
