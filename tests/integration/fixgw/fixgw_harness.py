"""Test harness for fixgw: a bare QuickFIX initiator that records what it receives."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import quickfix as fix

from fixgw import engine

WAIT = 20.0  # generous: a slow machine must not flake


@dataclass(frozen=True)
class FixMsg:
    """A received message as its (tag, value) pairs, in wire order (groups included)."""

    msg_type: str
    pairs: list[tuple[int, str]]

    def first(self, tag: int) -> str | None:
        return next((v for t, v in self.pairs if t == tag), None)

    def all(self, tag: int) -> list[str]:
        return [v for t, v in self.pairs if t == tag]


def _pairs(raw: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for part in raw.split("\x01"):
        if "=" in part:
            tag, _, value = part.partition("=")
            out.append((int(tag), value))
    return out


class _CollectingApp(fix.Application):  # type: ignore[misc]
    def __init__(self, owner: BareInitiator, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._owner = owner
        self._loop = loop

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._owner.logged_on.set)

    def onLogout(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._owner.logged_on.clear)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        raw = message.toString()
        pairs = _pairs(raw)
        kind = next(v for t, v in pairs if t == 35)
        engine.post(self._loop, self._owner.inbox.put_nowait, FixMsg(kind, pairs))


class BareInitiator:
    """A plain QuickFIX initiator (FXMESH -> LPSIM) that records every application message."""

    def __init__(self, port: int, run_dir: Path) -> None:
        self.port = port
        self.run_dir = run_dir
        self.inbox: asyncio.Queue[FixMsg] = asyncio.Queue()
        self.logged_on = asyncio.Event()
        self.spec = engine.SessionSpec("FXMESH", "LPSIM")
        self._initiator: engine.FixEngine | None = None

    async def start(self) -> None:
        settings = engine.initiator_settings(
            self.run_dir, [(self.spec, "127.0.0.1", self.port)], 30, 1
        )
        self._app = _CollectingApp(self, asyncio.get_running_loop())
        self._initiator = engine.FixEngine("initiator", self._app, settings)
        await self._initiator.start()
        await asyncio.wait_for(self.logged_on.wait(), WAIT)

    async def stop(self) -> None:
        if self._initiator is not None:
            await self._initiator.stop()

    def send(self, message: fix.Message) -> None:
        assert fix.Session.sendToTarget(message, self.spec.session_id())

    async def expect(
        self, msg_type: str, where: Callable[[FixMsg], bool] = lambda _: True
    ) -> FixMsg:
        """The next message of this type matching ``where`` (others are dropped)."""

        async def find() -> FixMsg:
            while True:
                msg = await self.inbox.get()
                if msg.msg_type == msg_type and where(msg):
                    return msg

        return await asyncio.wait_for(find(), WAIT)


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (wrap in asyncio.wait_for for a deadline)."""
    while not condition():  # noqa: ASYNC110 - polling state owned by another component
        await asyncio.sleep(0.05)
