"""QuickFIX engine set-up shared by the gateway (initiator) and the LP simulator (acceptor).

Settings are built in code (no .cfg files); message stores and logs live under the run directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import quickfix as fix
import structlog

SPEC_DIR = Path(__file__).resolve().parent / "spec"
FIX44_XML = SPEC_DIR / "FIX44.xml"
BEGIN_STRING = "FIX.4.4"
# Engine.stop: how long Logouts may take before the engine is forced down (the gateway passes
# FXMESH_FIXGW_STOP_GRACE_SECONDS), and how long the forced stop may take at most.
DEFAULT_STOP_GRACE_SECONDS = 2.0
FORCE_STOP_SECONDS = 10.0

log = structlog.stdlib.get_logger(__name__)
# Engines whose forced stop did not return in time: kept alive for the process's life.
_STUCK: list[tuple[Any, ...]] = []


@dataclass(frozen=True, slots=True)
class SessionSpec:
    """One FIX session as seen from our side."""

    sender_comp_id: str
    target_comp_id: str

    def session_id(self) -> fix.SessionID:
        return fix.SessionID(BEGIN_STRING, self.sender_comp_id, self.target_comp_id)


def _yn(flag: bool) -> str:
    return "Y" if flag else "N"


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """Per-session QuickFIX settings: sequence-number persistence, data dictionary, validation.

    ``reset_on_logon`` False keeps sequence numbers and sent messages in the FileStore across
    logouts, disconnects and restarts (resend requests are answered, gaps filled); True resets
    both sides to 1 on every logon (ResetOnLogon/ResetOnLogout/ResetOnDisconnect=Y).
    """

    reset_on_logon: bool = True
    data_dictionary: Path = FIX44_XML
    validate_user_defined_fields: bool = False
    allow_unknown_msg_fields: bool = True
    validate_fields_out_of_order: bool = True
    validate_fields_have_values: bool = True
    heartbeat_seconds: int | None = None  # HeartBtInt of an initiator session; None: the default

    def dictionary(self) -> fix.Dictionary:
        """These options as the settings of one session (they override the defaults)."""
        d = fix.Dictionary()
        self.apply(d)
        return d

    def apply(self, d: fix.Dictionary) -> None:
        reset = _yn(self.reset_on_logon)
        d.setString("ResetOnLogon", reset)
        d.setString("ResetOnLogout", reset)
        d.setString("ResetOnDisconnect", reset)
        d.setString("UseDataDictionary", "Y")
        d.setString("DataDictionary", str(self.data_dictionary))
        d.setString("ValidateUserDefinedFields", _yn(self.validate_user_defined_fields))
        d.setString("AllowUnknownMsgFields", _yn(self.allow_unknown_msg_fields))
        d.setString("ValidateFieldsOutOfOrder", _yn(self.validate_fields_out_of_order))
        d.setString("ValidateFieldsHaveValues", _yn(self.validate_fields_have_values))
        if self.heartbeat_seconds is not None:
            d.setString("HeartBtInt", str(self.heartbeat_seconds))


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
    SessionOptions().apply(d)
    d.setString("SocketNodelay", "Y")
    return d


def initiator_settings(
    run_dir: Path,
    sessions: list[tuple[SessionSpec, str, int]],
    heartbeat_seconds: int,
    reconnect_seconds: int,
    message_log: bool = False,
    *,
    options: Mapping[SessionSpec, SessionOptions] | None = None,
) -> fix.SessionSettings:
    """Settings for initiator sessions: each (spec, host, port).

    ``options`` gives a session its own persistence, data dictionary and validation; a session
    without an entry gets ``SessionOptions()`` (reset on every logon, the bundled FIX44.xml).
    """
    settings = fix.SessionSettings()
    defaults = _common_defaults(run_dir, "fixgw", message_log)
    defaults.setString("ConnectionType", "initiator")
    defaults.setString("HeartBtInt", str(heartbeat_seconds))
    defaults.setString("ReconnectInterval", str(reconnect_seconds))
    settings.set(defaults)
    for spec, host, port in sessions:
        d = (options or {}).get(spec, SessionOptions()).dictionary()
        d.setString("SocketConnectHost", host)
        d.setString("SocketConnectPort", str(port))
        settings.set(spec.session_id(), d)
    return settings


def acceptor_settings(
    run_dir: Path,
    name: str,
    port: int,
    sessions: list[SessionSpec],
    message_log: bool = False,
    *,
    reset_on_logon: bool = True,
    options: SessionOptions | None = None,
) -> fix.SessionSettings:
    """Settings for an acceptor listening on ``port`` for the given sessions.

    ``reset_on_logon`` False persists sequence numbers and messages (run_dir/name/store) so that a
    restart of either side resumes the session; ``options`` sets the data dictionary and validation
    (its own ``reset_on_logon`` is replaced by the argument).
    """
    session_options = replace(options or SessionOptions(), reset_on_logon=reset_on_logon)
    settings = fix.SessionSettings()
    defaults = _common_defaults(run_dir, name, message_log)
    defaults.setString("ConnectionType", "acceptor")
    defaults.setString("SocketAcceptPort", str(port))
    defaults.setString("SocketReuseAddress", "Y")
    settings.set(defaults)
    for spec in sessions:
        settings.set(spec.session_id(), session_options.dictionary())
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

    async def stop(self, grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS) -> None:
        """Log out every session, wait at most ``grace_seconds`` for the logouts, then force the
        engine to stop and release it.

        QuickFIX's own graceful ``stop()`` waits up to 10 s per engine for a peer to answer the
        Logout; it is never used. ``stop(True)`` skips that wait; it only joins the engine's
        thread, and even that is bounded (``FORCE_STOP_SECONDS``): an engine that does not stop
        in time is kept alive (never destroyed under a running thread) and logged.
        """
        engine = self._engine
        if engine is None:
            return
        self._engine = None
        loop = asyncio.get_running_loop()
        until = loop.time() + max(grace_seconds, 0.0)
        with contextlib.suppress(Exception):
            for session_id in engine.getSessions():
                session = fix.Session.lookupSession(session_id)
                if session is not None and session.isLoggedOn():
                    session.logout()  # no text, as QuickFIX's own stop
        while loop.time() < until:
            try:
                logged_on = bool(engine.isLoggedOn())
            except Exception:
                logged_on = False
            if not logged_on:
                break
            await asyncio.sleep(0.05)
        stopping = _force_stop(engine)
        try:
            await asyncio.wait_for(asyncio.shield(stopping), FORCE_STOP_SECONDS)
        except TimeoutError:
            # Never destroy an engine whose thread still runs: keep it (and what it points to).
            _STUCK.append((engine, self._app, self._settings, self._store, self._log, stopping))
            log.error("fix_engine_stop_timed_out", seconds=FORCE_STOP_SECONDS)
            return
        del engine


def _force_stop(engine: Any) -> asyncio.Future[None]:
    """``engine.stop(True)`` on a daemon thread of its own (not the loop's executor, which
    ``asyncio.run`` waits for at exit: a stop that never returns must not hang the process)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    # The thread lets go of the engine before it reports: a closure over ``engine`` would keep it
    # alive until the thread object dropped its target, after the caller's ``del``, and the engine
    # (its sessions still in QuickFIX's table) would outlive ``stop``.
    held = [engine]

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def run() -> None:
        stopping = held.pop()
        try:
            stopping.stop(True)
        except Exception:
            log.exception("fix_engine_stop_failed")
        del stopping
        post(loop, finish)

    threading.Thread(target=run, name="fix-engine-stop", daemon=True).start()
    return done


async def stop_all(
    engines: Iterable[FixEngine], grace_seconds: float = DEFAULT_STOP_GRACE_SECONDS
) -> None:
    """Stop several engines at once (each bounded): N engines take one grace, not N."""
    await asyncio.gather(*(e.stop(grace_seconds) for e in engines), return_exceptions=True)


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
