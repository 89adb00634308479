"""What the e2e tests drive the stack with: login, a WebSocket inbox, log waits.

A plain module next to the tests (pytest puts this folder on sys.path), so tests import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import grpc
import httpx
import websockets

from devstack.probes import log_tail
from devstack.supervisor import Stack
from fxmesh.money import parse_decimal
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2

WAIT = 60.0  # generous: a slow CI machine must never make this flaky
DEMO_LOGIN = os.environ.get("FXMESH_DEMO_LOGIN", "demo")
DEMO_PASSWORD = os.environ.get("FXMESH_DEMO_PASSWORD", "demo1234")


class WsInbox:
    """Every message received on one WebSocket, with a way to wait for a matching one."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []
        self._arrived = asyncio.Condition()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in self.ws:
                async with self._arrived:
                    self.messages.append(json.loads(raw))
                    self._arrived.notify_all()

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def wait_for(self, what: str, match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        async def first_match() -> dict[str, Any]:
            async with self._arrived:
                while True:
                    for msg in self.messages:
                        if match(msg):
                            return msg
                    await self._arrived.wait()

        try:
            return await asyncio.wait_for(first_match(), WAIT)
        except TimeoutError:
            kinds = [m.get("type") for m in self.messages[-20:]]
            raise AssertionError(
                f"no {what} on the WebSocket within {WAIT:.0f} s; got {kinds}"
            ) from None

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def eventually(what: str, probe: Callable[[], Awaitable[Any]], within: float = WAIT) -> Any:
    """Poll an async probe until it returns something truthy (never a fixed sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await probe()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        await asyncio.sleep(0.2)


async def wait_until_logged(stack: Stack, service: str, needle: str) -> None:
    log = stack.log_file(service)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while needle not in log.read_text(errors="replace"):
        if loop.time() > deadline:
            raise AssertionError(f"{needle} not in {log}; tail:\n{log_tail(log, 20)}")
        await asyncio.sleep(0.5)


async def login(edge: httpx.AsyncClient, login: str, password: str) -> dict[str, str]:
    """Log in through edge; the bearer header for the account."""
    reply = await edge.post("/api/login", json={"login": login, "password": password})
    assert reply.status_code == 200, reply.text
    return {"authorization": f"Bearer {reply.json()['accessToken']}"}


MARKUP = Decimal("0.00005")  # EURUSD: 5 points on each side at 5 digits


async def open_account(
    stack: Stack, deposit: str = "10000.00", *, netting: bool = False
) -> tuple[str, str, str]:
    """A fresh USD hedging (or ``netting``) account with a deposit: (account_id, login,
    password)."""
    login_name = f"e2e-{uuid.uuid4().hex[:10]}"
    password = "e2e-password-1"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{stack.config.ports.oms}") as channel:
        oms = oms_pb2_grpc.OmsServiceStub(channel)
        reply = await oms.CreateAccount(
            oms_pb2.CreateAccountRequest(
                login=login_name,
                password=password,
                type=types_pb2.ACCOUNT_TYPE_DEMO,
                currency="USD",
                leverage=100,
                margin_mode=(
                    types_pb2.MARGIN_MODE_NETTING if netting else types_pb2.MARGIN_MODE_HEDGING
                ),
                initial_deposit=deposit,
            ),
            timeout=WAIT,
        )
    return reply.account.account_id, login_name, password


async def pin_eurusd(lpsim: httpx.AsyncClient, client_bid: str, client_ask: str) -> None:
    """Freeze the LP price so that the client quote becomes exactly client_bid / client_ask."""
    frozen = await lpsim.put("/config", json={"walk": False})
    assert frozen.status_code == 200, frozen.text
    lp_bid, lp_ask = Decimal(client_bid) + MARKUP, Decimal(client_ask) - MARKUP
    priced = await lpsim.put("/prices/EURUSD", json={"bid": str(lp_bid), "ask": str(lp_ask)})
    assert priced.status_code == 200, priced.text


async def ledger_of(edge: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    reply = await edge.get("/api/account/ledger", params={"pageSize": 1000}, headers=auth)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["entries"])


def money(value: str) -> Decimal:
    return parse_decimal(value, "money")


async def assert_balance_is_sum_of_ledger(edge: httpx.AsyncClient, auth: dict[str, str]) -> Decimal:
    summary = await edge.get("/api/account/summary", headers=auth)
    assert summary.status_code == 200, summary.text
    balance = money(summary.json()["balance"])
    entries = await ledger_of(edge, auth)
    assert sum((money(e["amount"]) for e in entries), Decimal(0)) == balance
    for e in entries:
        assert money(e["balanceAfter"]) == money(e["balanceBefore"]) + money(e["amount"])
    return balance


async def open_positions(edge: httpx.AsyncClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    reply = await edge.get("/api/account/positions", headers=auth)
    assert reply.status_code == 200, reply.text
    return list(reply.json()["positions"])
