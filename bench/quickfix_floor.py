"""Floor: NewOrderSingle -> ExecutionReport round trip between two bare QuickFIX engines on loopback.

    python bench/quickfix_floor.py [--orders 2000] [--port 0]

Both engines run in this process (an initiator and a ThreadedSocketAcceptor that fills every order
at once); the asyncio loop waits for each ExecutionReport handed over with call_soon_threadsafe,
exactly as fixgw does. Prints one JSON document with round-trip percentiles and the event loop's
lag while QuickFIX threads are busy. Issue 4 folds this into the full benchmark harness.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import tempfile
import time
from pathlib import Path

import quickfix as fix
import quickfix44 as fix44

SPEC = Path(__file__).resolve().parent.parent / "fixgw" / "spec" / "FIX44.xml"


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
        "DataDictionary": str(SPEC),
        "HeartBtInt": "30",
        "ReconnectInterval": "1",
        "ResetOnLogon": "Y",
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
    """Acceptor side: fill every order at a fixed price."""

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
    """Initiator side: hands logon and each ExecutionReport to the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, inbox: asyncio.Queue[str]) -> None:
        super().__init__()
        self.loop, self.inbox = loop, inbox

    def onLogon(self, session_id: fix.SessionID) -> None:
        self.loop.call_soon_threadsafe(self.inbox.put_nowait, "logon")

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        self.loop.call_soon_threadsafe(self.inbox.put_nowait, message.getField(31))


def _pct(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))] * 1e3


async def run(orders: int, port: int) -> dict[str, object]:
    if port == 0:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[str] = asyncio.Queue()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        acc_settings, _ = _settings("acceptor", port, "LP", "FXM", work)
        ini_settings, session_id = _settings("initiator", port, "FXM", "LP", work)
        filler, client = _Filler(), _Client(loop, inbox)
        acceptor = fix.ThreadedSocketAcceptor(
            filler, fix.FileStoreFactory(acc_settings), acc_settings
        )
        initiator = fix.SocketInitiator(client, fix.FileStoreFactory(ini_settings), ini_settings)
        acceptor.start()
        initiator.start()
        lags: list[float] = []

        async def watch_loop() -> None:
            while True:
                started = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append(time.perf_counter() - started - 0.001)

        watcher = asyncio.create_task(watch_loop())
        try:
            assert await asyncio.wait_for(inbox.get(), 30) == "logon"
            rtts: list[float] = []
            for n in range(orders):
                order = fix44.NewOrderSingle()
                for tag, value in (
                    (11, str(n)),
                    (54, "1"),
                    (55, "EURUSD"),
                    (40, "1"),
                    (38, "100000"),
                ):
                    order.setField(fix.StringField(tag, value))
                order.setField(fix.TransactTime())
                started = time.perf_counter()
                fix.Session.sendToTarget(order, session_id)
                await asyncio.wait_for(inbox.get(), 10)
                rtts.append(time.perf_counter() - started)
        finally:
            watcher.cancel()
            await asyncio.to_thread(initiator.stop)
            await asyncio.to_thread(acceptor.stop)
    warm = sorted(rtts[len(rtts) // 10 :])  # first 10 % is warm-up
    lags.sort()
    return {
        "scenario": "floor.quickfix_nos_er",
        "machine": {
            "python": platform.python_version(),
            "cpu": platform.processor() or platform.machine(),
        },
        "orders": orders,
        "round_trip_ms": {
            q: round(_pct(warm, v), 3)
            for q, v in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p99.9", 0.999))
        }
        | {"max": round(warm[-1] * 1e3, 3)},
        "event_loop_lag_ms": {"p50": round(_pct(lags, 0.5), 3), "p99": round(_pct(lags, 0.99), 3)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.orders, args.port)), indent=2))


if __name__ == "__main__":
    main()
