"""Stopping a QuickFIX engine is bounded: a peer that never answers our Logout does not hold the
stop (nor the test run) — the engine is forced down after the grace."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import quickfix as fix
from fixgw_harness import WAIT, until

from fixgw import engine


class _Silent(fix.Application):  # type: ignore[misc]
    """An acceptor that, once a Logout arrives, blocks its session thread until released."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release
        self.logout_seen = threading.Event()
        self.logged_on = threading.Event()

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.logged_on.set()

    def onLogout(self, session_id: fix.SessionID) -> None:
        return None

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        if message.getHeader().getField(35) == "5":
            self.logout_seen.set()
            self.release.wait(60)  # the peer hangs: no Logout answer

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None


class _Plain(_Silent):
    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None


async def test_stop_when_peer_never_answers_logout_then_engine_forced_down_after_grace(
    tmp_path: Path,
) -> None:
    # Arrange: an initiator logged on to an acceptor that will not answer its Logout.
    release = threading.Event()
    port = engine.free_port()
    lp_side = _Silent(release)
    acceptor = engine.FixEngine(
        "acceptor",
        lp_side,
        engine.acceptor_settings(tmp_path, "lp", port, [engine.SessionSpec("LPX", "FXMESH")]),
    )
    await acceptor.start()
    our_side = _Plain(threading.Event())
    spec = engine.SessionSpec("FXMESH", "LPX")
    initiator = engine.FixEngine(
        "initiator",
        our_side,
        engine.initiator_settings(tmp_path, [(spec, "127.0.0.1", port)], 30, 1),
    )
    await initiator.start()
    await asyncio.wait_for(until(our_side.logged_on.is_set), WAIT)
    try:
        # Act
        await asyncio.wait_for(initiator.stop(grace_seconds=0.2), WAIT)

        # Assert: stopped without the peer's answer (it never gives one before ``release``), and
        # the session is gone from QuickFIX's table (a new engine may take it).
        assert not release.is_set()
        assert fix.Session.lookupSession(spec.session_id()) is None
    finally:
        release.set()
        await asyncio.wait_for(acceptor.stop(grace_seconds=0.2), WAIT)
