"""The whole stack as separate processes, one private stack per test session, shared by e2e tests.

Free ports, its own database, Redis database and exchange, so this runs next to a developer's stack
without touching it. Markets trade around the clock here (``markets_always_open``): the tests must
not depend on the weekday.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from e2e_client import WsInbox, wait_until_logged

from devstack.supervisor import Stack, StackConfig, claim_redis_db


@pytest.fixture(scope="session")
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """The whole stack on free ports with private state; stopped (and cleaned) at the end."""
    run_dir = Path(tempfile.mkdtemp(prefix="fxmesh-e2e-"))
    redis_db = await claim_redis_db("redis://127.0.0.1:6379", owner=f"e2e:{os.getpid()}")
    stack = Stack(StackConfig.isolated(run_dir, redis_db=redis_db, ready_timeout=120.0))
    await stack.start(lambda _line: None)
    failed_before = request.session.testsfailed
    yield stack
    await stack.stop(lambda _line: None)
    if request.session.testsfailed > failed_before:
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"e2e: stack logs kept in {run_dir / 'logs'}")
    else:
        shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
async def open_ws(stack: Stack) -> AsyncIterator[Callable[[dict[str, str]], Any]]:
    """Open an authenticated WebSocket for a bearer header; every one is closed after the test."""
    opened: list[WsInbox] = []

    async def connect(auth: dict[str, str]) -> WsInbox:
        token = auth["authorization"].removeprefix("Bearer ")
        inbox = WsInbox(await websockets.connect(f"{stack.edge_ws_url}?token={token}"))
        opened.append(inbox)
        await inbox.wait_for("authenticated", lambda m: m.get("type") == "authenticated")
        return inbox

    yield connect
    for inbox in opened:
        await inbox.close()


@pytest.fixture
def logged(stack: Stack) -> Callable[[str, str], Any]:
    """``await logged(service, needle)`` waits until the service's log contains the needle."""

    async def wait(service: str, needle: str) -> None:
        await wait_until_logged(stack, service, needle)

    return wait
