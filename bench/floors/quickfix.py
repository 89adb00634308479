"""FIX floor: NewOrderSingle -> ExecutionReport round trips over QuickFIX on loopback.

``round_trips`` drives a bare QuickFIX initiator, one order at a time; the asyncio loop waits for
each terminal ExecutionReport handed over with ``call_soon_threadsafe``, exactly as fixgw does.
The floor runs it against a bare ThreadedSocketAcceptor in the same process that fills every order
at once; scenario 2 runs it against the stack's LP simulator. It also reports the event loop's lag
while QuickFIX threads are busy (QuickFIX threads contend with the loop for the GIL).

Both engines are always stopped off the event loop before returning: QuickFIX keeps process-wide
session tables and crashes at interpreter exit otherwise.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import quickfix as fix
import quickfix44 as fix44

from bench.stats import Latencies
from fixgw import FIX44_XML, free_port

TERMINAL_ORD_STATUS = frozenset({"2", "4", "8", "C"})


def _settings(
    kind: str, port: int, sender: str, target: str, work: Path
) -> tuple[fix.SessionSettings, fix.SessionID]:
    settings = fix.SessionSettings()
    defaults = fix.Dictionary()
    for key, value in {
        "ConnectionType": kind,
        "FileStorePath": str(work / f"store-{kind}"),
        "StartTime": "00:00:00",
        "EndTime": "00:00:00",
        "UseDataDictionary": "Y",
        "DataDictionary": str(FIX44_XML),
        "ValidateUserDefinedFields": "N",
        "AllowUnknownMsgFields": "Y",
        "HeartBtInt": "30",
        "ReconnectInterval": "1",
        "ResetOnLogon": "Y",
        "SocketNodelay": "Y",
        "SocketConnectHost": "127.0.0.1",
        "SocketConnectPort": str(port),
        "SocketAcceptPort": str(port),
    }.items():
        defaults.setString(key, value)
    settings.set(defaults)
    session_id = fix.SessionID("FIX.4.4", sender, target)
    settings.set(session_id, fix.Dictionary())
    return settings, session_id


class _Quiet(fix.Application):  # type: ignore[misc]
    """No-op session callbacks; subclasses override what they need."""

    def onCreate(self, session_id: fix.SessionID) -> None: ...
    def onLogon(self, session_id: fix.SessionID) -> None: ...
    def onLogout(self, session_id: fix.SessionID) -> None: ...
    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...
    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None: ...


class _Filler(_Quiet):
    """Bare acceptor: fill every order at a fixed price, on QuickFIX's own thread."""

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        report = fix44.ExecutionReport()
        for tag, value in (
            (37, "1"),
            (17, message.getField(11)),
            (150, "F"),
            (39, "2"),
            (54, "1"),
            (55, "EURUSD"),
            (151, "0"),
            (14, "1"),
            (6, "1.08450"),
            (31, "1.08450"),
            (32, "1"),
            (11, message.getField(11)),
        ):
            report.setField(fix.StringField(tag, value))
        fix.Session.sendToTarget(report, session_id)


class _Client(_Quiet):
    """Initiator: hands logon and each terminal ExecutionReport to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[str]) -> None:
        super().__init__()
        self.loop, self.inbox = loop, inbox

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.loop.call_soon_threadsafe(self.inbox.put_nowait, "logon")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        if message.getHeader().getField(35) != "8":
            return
        if message.getField(39) in TERMINAL_ORD_STATUS:
            self.loop.call_soon_threadsafe(self.inbox.put_nowait, f"{message.getField(39)}")


async def round_trips(
    orders: int,
    *,
    acceptor_port: int | None = None,
    sender: str = "FXM",
    target: str = "LP",
    symbol: str = "EURUSD",
    quantity: str = "1000",
) -> dict[str, Any]:
    """``orders`` sequential NOS -> terminal ER round trips (first 10 % are warm-up).

    Without ``acceptor_port`` a bare filling acceptor is started on a free port (the floor);
    with it, the initiator connects to that acceptor (the LP simulator).
    """
    own_acceptor = acceptor_port is None
    port = free_port() if acceptor_port is None else acceptor_port
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[str] = asyncio.Queue()
    rtts = Latencies()
    lags = Latencies()
    statuses: dict[str, int] = {}
    warmup = orders // 10
    with tempfile.TemporaryDirectory(prefix="bench-fix-") as tmp:
        work = Path(tmp)
        acceptor = None
        keep: list[Any] = []
        if own_acceptor:
            acc_settings, _ = _settings("acceptor", port, target, sender, work)
            filler = _Filler()
            store = fix.FileStoreFactory(acc_settings)
            acceptor = fix.ThreadedSocketAcceptor(filler, store, acc_settings)
            keep += [filler, store, acc_settings]
            await asyncio.to_thread(acceptor.start)
        ini_settings, session_id = _settings("initiator", port, sender, target, work)
        client = _Client(loop, inbox)
        ini_store = fix.FileStoreFactory(ini_settings)
        initiator = fix.SocketInitiator(client, ini_store, ini_settings)
        await asyncio.to_thread(initiator.start)

        async def watch_loop() -> None:
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.record(max(0.0, time.perf_counter() - started - 0.001))

        watcher = asyncio.create_task(watch_loop())
        try:
            if await asyncio.wait_for(inbox.get(), 30) != "logon":
                raise RuntimeError("FIX session did not log on")
            tag = f"{int(time.time())}"
            for n in range(orders):
                order = fix44.NewOrderSingle()
                for field_tag, value in (
                    (11, f"bench-{tag}-{n}"),
                    (54, "1"),
                    (55, symbol),
                    (40, "1"),
                    (38, quantity),
                ):
                    order.setField(fix.StringField(field_tag, value))
                order.setField(fix.TransactTime())
                started = time.perf_counter()
                fix.Session.sendToTarget(order, session_id)
                status = await asyncio.wait_for(inbox.get(), 10)
                if n >= warmup:
                    rtts.record(time.perf_counter() - started)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            watcher.cancel()
            await asyncio.to_thread(initiator.stop)
            if acceptor is not None:
                await asyncio.to_thread(acceptor.stop)
            del initiator, acceptor, keep
    return {
        "orders": orders,
        "warmup_orders": warmup,
        "ord_status_counts": statuses,
        "latency_ms": rtts.summary(),
        "event_loop_lag_ms": lags.summary(),
    }


async def measure(quick: bool) -> dict[str, dict[str, Any]]:
    """The floor: two bare engines in this process."""
    result = await round_trips(300 if quick else 3000)
    return {
        "quickfix_nos_er": {
            "what": "NewOrderSingle -> ExecutionReport between two bare QuickFIX 1.16 engines on "
            "loopback (initiator answered on the asyncio loop via call_soon_threadsafe), 1 in flight",
            **result,
        }
    }
