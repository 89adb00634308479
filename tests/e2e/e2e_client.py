"""What the e2e tests drive the stack with: login, a WebSocket inbox, log waits.

A plain module next to the tests (pytest puts this folder on sys.path), so tests import it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

import httpx
import websockets

from devstack.probes import log_tail
from devstack.supervisor import Stack

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
