"""QuickFIX engine set-up shared by the gateway (initiator) and the LP simulator (acceptor).

Settings are built in code (no .cfg files); message stores and logs live under the run directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import quickfix as fix

SPEC_DIR = Path(__file__).resolve().parent / "spec"
FIX44_XML = SPEC_DIR / "FIX44.xml"
BEGIN_STRING = "FIX.4.4"


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One FIX session as seen from our side."""

    sender_comp_id: str
    target_comp_id: str

    def session_id(self) -> fix.SessionID:
        return fix.SessionID(BEGIN_STRING, self.sender_comp_id, self.target_comp_id)


def _common_defaults(run_dir: Path, name: str, message_log: bool) -> fix.Dictionary:
    store = run_dir / name / "store"
    store.mkdir(parents=True, exist_ok=True)
    d = fix.Dictionary()
    d.setString("FileStorePath", str(store))
    if message_log:
        log_dir = run_dir / name / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        d.setString("FileLogPath", str(log_dir))
    d.setString("StartTime", "00:00:00")
    d.setString("EndTime", "00:00:00")
    d.setString("UseDataDictionary", "Y")
    d.setString("DataDictionary", str(FIX44_XML))
    d.setString("ValidateUserDefinedFields", "N")
    d.setString("AllowUnknownMsgFields", "Y")
    d.setString("ResetOnLogon", "Y")
    d.setString("ResetOnLogout", "Y")
    d.setString("ResetOnDisconnect", "Y")
    d.setString("SocketNodelay", "Y")
    return d


def initiator_settings(
    run_dir: Path,
    sessions: list[tuple[SessionSpec, str, int]],
    heartbeat_seconds: int,
    reconnect_seconds: int,
    message_log: bool = False,
) -> fix.SessionSettings:
    """Settings for initiator sessions: each (spec, host, port)."""
    settings = fix.SessionSettings()
    defaults = _common_defaults(run_dir, "fixgw", message_log)
    defaults.setString("ConnectionType", "initiator")
    defaults.setString("HeartBtInt", str(heartbeat_seconds))
    defaults.setString("ReconnectInterval", str(reconnect_seconds))
    settings.set(defaults)
    for spec, host, port in sessions:
        d = fix.Dictionary()
        d.setString("SocketConnectHost", host)
        d.setString("SocketConnectPort", str(port))
        settings.set(spec.session_id(), d)
    return settings


def acceptor_settings(
    run_dir: Path, name: str, port: int, sessions: list[SessionSpec], message_log: bool = False
) -> fix.SessionSettings:
    """Settings for an acceptor listening on ``port`` for the given sessions."""
    settings = fix.SessionSettings()
    defaults = _common_defaults(run_dir, name, message_log)
    defaults.setString("ConnectionType", "acceptor")
    defaults.setString("SocketAcceptPort", str(port))
    defaults.setString("SocketReuseAddress", "Y")
    settings.set(defaults)
    for spec in sessions:
        settings.set(spec.session_id(), fix.Dictionary())
    return settings


class FixEngine:
    """A QuickFIX initiator or acceptor with everything it points to kept alive, and a clean stop.

    QuickFIX keeps raw pointers to the application, settings and factories, and registers its
    sessions in a process-wide table until the engine object is destroyed. ``stop`` therefore stops
    the engine off the event loop and then drops it *before* its dependencies, so a new engine with
    the same session ids (a restart, the next test) starts from a clean table.
    """

    def __init__(
        self,
        kind: str,
        application: fix.Application,
        settings: fix.SessionSettings,
        message_log: bool = False,
    ) -> None:
        self._app = application
        self._settings = settings
        self._store = fix.FileStoreFactory(settings)
        self._log = fix.FileLogFactory(settings) if message_log else None
        cls = {
            "initiator": fix.SocketInitiator,
            "acceptor": fix.ThreadedSocketAcceptor,
        }[kind]
        args: list[Any] = [self._app, self._store, self._settings]
        if self._log is not None:
            args.append(self._log)
        self._engine: Any = cls(*args)

    async def start(self) -> None:
        """Start the engine's threads (binding / connecting happens there)."""
        await asyncio.to_thread(self._engine.start)

    async def stop(self) -> None:
        """Log out and stop every session, then release the engine."""
        engine = self._engine
        if engine is None:
            return
        await asyncio.to_thread(engine.stop)
        self._engine = None
        del engine


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now (for acceptors, which cannot report an ephemeral port back)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def post(loop: asyncio.AbstractEventLoop, fn: Any, *args: Any) -> None:
    """Hand work from a QuickFIX thread to the event loop; drop it if the loop has closed."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def session_key(session_id: fix.SessionID) -> str:
    """A stable string key for a session, e.g. ``FIX.4.4:LPSIM->FXMESH``."""
    return str(session_id.toString())


def copy_session_id(session_id: fix.SessionID) -> fix.SessionID:
    """A SessionID owned by Python (the callback's argument is only valid during the callback)."""
    return fix.SessionID(
        session_id.getBeginString().getValue(),
        session_id.getSenderCompID().getValue(),
        session_id.getTargetCompID().getValue(),
    )
