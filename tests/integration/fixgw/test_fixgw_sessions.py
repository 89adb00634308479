"""LP sessions that survive faults: real QuickFIX sessions over loopback, fixgw's Gateway against a
small in-test acceptor (the LP side), and the session RPCs through a real grpc.aio server.

The LP side here is a bare QuickFIX acceptor with a persistent store, so each test controls exactly
what the LP sends, when it is away, and which sequence numbers it expects.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
import quickfix as fix
import quickfix44 as fix44
from fixgw_harness import WAIT, FixMsg, until
from prometheus_client import REGISTRY

from fixgw import engine
from fixgw.config import LpConfig
from fixgw.domain import BusinessReject, CancelReject, ExecutionReport, RawTick, SessionReject
from fixgw.fixmsg import md_request_symbols, set_str
from fixgw.service import Gateway, SessionStatus
from fixgw.servicer import FixGatewayServicer
from fxmesh.errors import from_rpc_error
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc

LP_SPEC = engine.SessionSpec("LPSIM", "FXMESH")


def _pairs(raw: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    for part in raw.split("\x01"):
        tag, sep, value = part.partition("=")
        if sep and tag.isdigit():
            out.append((int(tag), value))
    return out


def _fix_msg(message: fix.Message) -> FixMsg:
    pairs = _pairs(message.toString())
    return FixMsg(next(v for t, v in pairs if t == 35), pairs)


class _LpApp(fix.Application):  # type: ignore[misc]
    def __init__(self, lp: TestLp, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._lp = lp
        self._loop = loop

    def onCreate(self, session_id: fix.SessionID) -> None:
        return None

    def onLogon(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._lp.set_logged_on, True)

    def onLogout(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._lp.set_logged_on, False)

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._lp.received.append, _fix_msg(message))

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        msg = _fix_msg(message)
        engine.post(self._loop, self._lp.received.append, msg)
        if msg.msg_type == "V":  # answer with a snapshot of each requested (LP) symbol
            for symbol in md_request_symbols(message):
                prices = self._lp.prices.get(symbol)
                if prices is None:
                    continue
                snapshot = fix44.MarketDataSnapshotFullRefresh()
                set_str(snapshot, 262, msg.first(262) or "")
                set_str(snapshot, 55, symbol)
                for entry_type, price in zip(("0", "1"), prices, strict=True):
                    entry = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
                    set_str(entry, 269, entry_type)
                    set_str(entry, 270, price)
                    snapshot.addGroup(entry)
                fix.Session.sendToTarget(snapshot, session_id)


class TestLp:
    """The LP side: a QuickFIX acceptor (LPSIM -> FXMESH) with a persistent store, restartable."""

    __test__ = False

    def __init__(self, port: int, run_dir: Path, reset_on_logon: bool = False) -> None:
        self.port = port
        self.run_dir = run_dir
        self.reset_on_logon = reset_on_logon
        self.received: list[FixMsg] = []
        self.prices: dict[str, tuple[str, str]] = {}
        self.logged_on = False
        self._engine: engine.FixEngine | None = None

    def set_logged_on(self, value: bool) -> None:
        self.logged_on = value

    async def start(self) -> None:
        settings = engine.acceptor_settings(
            self.run_dir, "lp", self.port, [LP_SPEC], reset_on_logon=self.reset_on_logon
        )
        self._engine = engine.FixEngine(
            "acceptor", _LpApp(self, asyncio.get_running_loop()), settings
        )
        await self._engine.start()

    async def stop(self) -> None:
        if self._engine is not None:
            await self._engine.stop()
            self._engine = None
        self.logged_on = False

    def session(self) -> Any:
        return fix.Session.lookupSession(LP_SPEC.session_id())

    def send(self, message: fix.Message) -> bool:
        return bool(fix.Session.sendToTarget(message, LP_SPEC.session_id()))

    def of(self, msg_type: str, where: Callable[[FixMsg], bool] = lambda _: True) -> list[FixMsg]:
        return [m for m in self.received if m.msg_type == msg_type and where(m)]


@dataclass
class RecordingFlow:
    """An OrderFlow that records what the gateway hands it."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    reconciling_lps: set[str] = field(default_factory=set)

    def on_logon(self, lp: str) -> None:
        self.events.append(("logon", lp))

    def on_logout(self, lp: str) -> None:
        self.events.append(("logout", lp))

    def on_execution_report(self, report: ExecutionReport) -> None:
        self.events.append(("report", report))

    def on_cancel_reject(self, reject: CancelReject) -> None:
        self.events.append(("cancel_reject", reject))

    def on_business_reject(self, reject: BusinessReject) -> None:
        self.events.append(("business_reject", reject))

    def on_session_reject(self, reject: SessionReject) -> None:
        self.events.append(("session_reject", reject))

    def on_order_sent(self, lp: str, cl_ord_id: str, seq_num: int) -> None:
        self.events.append(("order_sent", (lp, cl_ord_id, seq_num)))

    def unresolved(self, lp: str) -> int:
        return 2 if lp in self.reconciling_lps else 0

    def reconciling(self, lp: str) -> bool:
        return lp in self.reconciling_lps

    def of(self, kind: str) -> list[Any]:
        return [value for k, value in self.events if k == kind]


def make_gateway(
    run_dir: Path, port: int, ticks: list[RawTick], name: str = "LP1", **lp: Any
) -> Gateway:
    config = LpConfig(name=name, host="127.0.0.1", port=port, target_comp_id="LPSIM", **lp)
    return Gateway(
        [config],
        ["EURUSD"],
        run_dir,
        ticks.append,
        heartbeat_seconds=30,
        reconnect_seconds=1,
        reconnect_max_seconds=4,
        stable_logon_seconds=0.5,
        test_request_seconds=0.5,
    )


async def wait_until(condition: Callable[[], bool]) -> None:
    await asyncio.wait_for(until(condition), WAIT)


def new_order(cl_ord_id: str, symbol: str = "EURUSD") -> fix.Message:
    msg = fix44.NewOrderSingle()
    set_str(msg, 11, cl_ord_id)
    set_str(msg, 55, symbol)
    set_str(msg, 54, "1")
    set_str(msg, 60, "20250101-00:00:00.000")
    set_str(msg, 38, "100000")
    set_str(msg, 40, "1")
    return msg


def status_request(cl_ord_id: str) -> fix.Message:
    msg = fix44.OrderStatusRequest()
    set_str(msg, 11, cl_ord_id)
    set_str(msg, 55, "EURUSD")
    set_str(msg, 54, "1")
    return msg


def execution_report(
    cl_ord_id: str, exec_id: str, exec_type: str = "F", symbol: str = "EURUSD"
) -> fix.Message:
    msg = fix44.ExecutionReport()
    for tag, value in (
        (37, "LPO-1"),
        (11, cl_ord_id),
        (17, exec_id),
        (150, exec_type),
        (39, "2"),
        (55, symbol),
        (54, "1"),
        (32, "100000"),
        (31, "1.08457"),
        (151, "0"),
        (14, "100000"),
        (6, "1.08457"),
        (60, "20250102-03:04:05.678"),
        (9001, "custom-lp-tag"),
    ):
        set_str(msg, tag, value)
    return msg


def seq_of(msg: FixMsg) -> int:
    return int(msg.first(34) or 0)


@pytest.fixture
async def lp(tmp_path: Path) -> AsyncIterator[TestLp]:
    side = TestLp(engine.free_port(), tmp_path / "lp")
    await side.start()
    yield side
    await side.stop()


# -- persistence: restarts resume sequence numbers, resends recover gaps ------------------------


async def test_fixgw_restart_when_lp_sent_while_away_then_seq_continues_and_resend_recovers(
    lp: TestLp, tmp_path: Path
) -> None:
    # Arrange: a first gateway process logs on, then goes away
    ticks: list[RawTick] = []
    first = make_gateway(tmp_path / "fixgw", lp.port, ticks)
    await first.start()
    await wait_until(lambda: first.logged_on("LP1") and lp.logged_on)
    before = first.view("LP1")
    await first.stop()
    await wait_until(lambda: not lp.logged_on)

    # Act: the LP reports a fill while fixgw is down (stored, sent on resend), then fixgw restarts
    assert lp.send(execution_report("FXM1-1", "EXEC-AWAY"))
    flow = RecordingFlow()
    second = make_gateway(tmp_path / "fixgw", lp.port, ticks)
    second.set_order_flow(flow)
    await second.start()
    try:
        await wait_until(lambda: any(r.exec_id == "EXEC-AWAY" for r in flow.of("report")))

        # Assert: the session resumed (no reset to 1) and the report came as a resend
        logons = lp.of("A")
        assert len(logons) == 2
        assert seq_of(logons[1]) > seq_of(logons[0]) >= 1
        assert seq_of(logons[1]) >= before.next_sender_seq_num
        assert logons[1].first(141) is None  # no ResetSeqNumFlag
        report = next(r for r in flow.of("report") if r.exec_id == "EXEC-AWAY")
        assert report.poss_dup is True
        assert report.cl_ord_id == "FXM1-1"
        assert report.last_px == Decimal("1.08457")
        after = second.view("LP1")
        assert after.next_sender_seq_num > before.next_sender_seq_num
        assert after.next_target_seq_num > before.next_target_seq_num
        assert flow.of("logon") == ["LP1"]
    finally:
        await second.stop()


async def test_lp_restart_when_fixgw_sent_while_away_then_seq_continues_and_resend_recovers(
    lp: TestLp, tmp_path: Path
) -> None:
    # Arrange
    ticks: list[RawTick] = []
    gateway = make_gateway(tmp_path / "fixgw", lp.port, ticks)
    await gateway.start()
    try:
        await wait_until(lambda: gateway.logged_on("LP1") and lp.logged_on)
        lp_next_sender = int(lp.session().getExpectedSenderNum())

        # Act: the LP goes away; fixgw's QuickFIX stores a status request meanwhile
        await lp.stop()
        await wait_until(lambda: not gateway.logged_on("LP1"))
        assert gateway.send("LP1", status_request("FXM2-1")) is False  # the seam refuses
        queued = fix.Session.sendToTarget(
            status_request("FXM2-1"), gateway.lps["LP1"].spec.session_id()
        )
        assert queued  # stored under the next sequence number, sent on resend
        await lp.start()

        # Assert: the LP resumed its own numbering and got the missed message as a resend
        await wait_until(lambda: bool(lp.of("H")))
        await wait_until(lambda: gateway.logged_on("LP1"))
        resent = lp.of("H")[0]
        assert resent.first(11) == "FXM2-1"
        assert resent.first(43) == "Y"
        assert int(lp.session().getExpectedSenderNum()) > lp_next_sender
        assert seq_of(lp.of("A")[-1]) > 1
    finally:
        await gateway.stop()


async def test_resend_request_when_it_covers_new_order_then_gap_filled_not_resent(
    lp: TestLp, tmp_path: Path
) -> None:
    # Arrange
    flow = RecordingFlow()
    ticks: list[RawTick] = []
    gateway = make_gateway(tmp_path / "fixgw", lp.port, ticks, name="LPDNS")
    gateway.set_order_flow(flow)
    await gateway.start()
    suppressed = REGISTRY.get_sample_value("fxmesh_fixgw_orders_not_resent_total", {"lp": "LPDNS"})
    try:
        await wait_until(lambda: gateway.logged_on("LPDNS") and lp.logged_on)
        assert gateway.send("LPDNS", new_order("FXM3-1"))
        await wait_until(lambda: bool(lp.of("D")))
        order = lp.of("D")[0]
        await wait_until(lambda: bool(flow.of("order_sent")))
        assert flow.of("order_sent") == [("LPDNS", "FXM3-1", seq_of(order))]

        # Act: the LP "lost" everything from the order on and asks for it again. The test sets
        # the LP's expected number from this thread while QuickFIX's own thread may be taking in
        # a heartbeat, which can undo the setting: then no resend covers the order, and it is
        # set again (the behaviour under test is fixgw's answer to a resend, not that race).
        def fills_order_slot(m: FixMsg) -> bool:
            return m.first(123) == "Y" and seq_of(m) <= seq_of(order) < int(m.first(36) or 0)

        for attempt in range(3):
            lp.session().setNextTargetMsgSeqNum(seq_of(order))
            assert gateway.send("LPDNS", status_request(f"FXM3-1-{attempt}"))
            try:
                await asyncio.wait_for(until(lambda: bool(lp.of("4", fills_order_slot))), 10)
                break
            except TimeoutError:
                continue

        # Assert: the order's slot is gap-filled, the status request is resent, the order is not
        await wait_until(lambda: bool(lp.of("4", fills_order_slot)))
        await wait_until(lambda: bool(lp.of("H")))
        assert [m.first(11) for m in lp.of("D")] == ["FXM3-1"]
        after = REGISTRY.get_sample_value("fxmesh_fixgw_orders_not_resent_total", {"lp": "LPDNS"})
        assert (after or 0) - (suppressed or 0) == 1
        assert gateway.logged_on("LPDNS")
    finally:
        await gateway.stop()


async def test_new_order_when_session_down_then_refused_and_never_sent_later(
    lp: TestLp, tmp_path: Path
) -> None:
    # Arrange
    ticks: list[RawTick] = []
    gateway = make_gateway(tmp_path / "fixgw", lp.port, ticks, name="LPDOWN")
    await gateway.start()
    try:
        await wait_until(lambda: gateway.logged_on("LPDOWN") and lp.logged_on)
        await lp.stop()
        await wait_until(lambda: not gateway.logged_on("LPDOWN"))

        # Act: even straight through QuickFIX, a NewOrderSingle is not stored for later
        stored = fix.Session.sendToTarget(
            new_order("FXM4-1"), gateway.lps["LPDOWN"].spec.session_id()
        )
        await lp.start()
        await wait_until(lambda: gateway.logged_on("LPDOWN") and lp.logged_on)
        assert gateway.send("LPDOWN", status_request("FXM4-1"))
        await wait_until(lambda: bool(lp.of("H")))

        # Assert
        assert stored is False
        assert lp.of("D") == []
    finally:
        await gateway.stop()


# -- session state, RTT, counters and the session RPCs ------------------------------------------


@pytest.fixture
async def served(lp: TestLp, tmp_path: Path) -> AsyncIterator[tuple[Gateway, RecordingFlow, Any]]:
    """A gateway with a recording order flow behind a real grpc.aio server on port 0."""
    lp.prices["EUR/USD"] = ("1.08450", "1.08462")
    flow = RecordingFlow()
    ticks: list[RawTick] = []
    gateway = make_gateway(
        tmp_path / "fixgw", lp.port, ticks, name="LPRPC", symbol_map={"EURUSD": "EUR/USD"}
    )
    gateway.set_order_flow(flow)
    server = GrpcServer("fixgw", "127.0.0.1:0")
    server.add(
        fixgw_pb2_grpc.add_FixGatewayServiceServicer_to_server,
        FixGatewayServicer(gateway),
        "fxmesh.v1.FixGatewayService",
    )
    port = await server.start()
    await gateway.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = fixgw_pb2_grpc.FixGatewayServiceStub(channel)
    await wait_until(lambda: gateway.logged_on("LPRPC") and lp.logged_on)
    yield gateway, flow, stub
    await channel.close()
    await server.stop(0)
    await gateway.stop()


async def get_session(stub: Any, name: str) -> fixgw_pb2.LpSession:
    response: fixgw_pb2.GetSessionResponse = await stub.GetSession(
        fixgw_pb2.GetSessionRequest(name=name), timeout=5
    )
    return response.session


async def test_get_session_when_logged_on_then_every_field_reported(
    served: tuple[Gateway, RecordingFlow, Any], lp: TestLp
) -> None:
    gateway, flow, stub = served
    await wait_until(lambda: gateway.view("LPRPC").heartbeat_rtt is not None)
    await wait_until(lambda: gateway.top_of_book("LPRPC", "EURUSD") is not None)
    assert gateway.send("LPRPC", new_order("FXM5-1"))
    await wait_until(lambda: bool(flow.of("order_sent")))

    session = await get_session(stub, "LPRPC")
    listed = (await stub.ListSessions(fixgw_pb2.ListSessionsRequest(), timeout=5)).sessions

    assert [s.name for s in listed] == ["LPRPC"]
    assert session.session_id == "FIX.4.4:FXMESH->LPSIM"
    assert session.state == fixgw_pb2.SESSION_STATE_LOGGED_ON
    assert session.logged_on is True
    assert session.healthy is True
    assert session.orders_unresolved == 0
    assert session.HasField("heartbeat_rtt")
    assert session.heartbeat_rtt.ToTimedelta().total_seconds() < 5
    assert session.messages_out["A"] == 1
    assert session.messages_in["A"] == 1
    assert session.messages_out["V"] == 1
    assert session.messages_out["D"] == 1
    assert session.messages_out["1"] >= 1  # TestRequest
    assert session.messages_in["0"] >= 1  # its Heartbeat
    assert session.messages_in["W"] == 1
    assert list(session.subscribed_symbols) == ["EURUSD"]
    assert session.ticks_received == 1
    for stamp in ("logon_time", "last_quote_time", "last_order_time", "last_message_time"):
        assert session.HasField(stamp), stamp
    assert not session.HasField("last_error_time")
    assert session.last_error == ""
    assert session.reconnect_attempts == 0
    assert session.next_sender_seq_num > 1
    assert session.next_target_seq_num > 1

    # An LP held for reconciliation is logged on but not healthy.
    flow.reconciling_lps.add("LPRPC")
    held = await get_session(stub, "LPRPC")
    assert held.logged_on is True
    assert held.healthy is False
    assert held.orders_unresolved == 2
    assert gateway.healthy("LPRPC") is False


async def test_disconnect_connect_reconnect_rpcs_when_called_then_state_follows(
    served: tuple[Gateway, RecordingFlow, Any], lp: TestLp
) -> None:
    gateway, flow, stub = served
    first_logon = (await get_session(stub, "LPRPC")).logon_time.ToDatetime()

    # Disconnect: logged out and kept down
    down = (await stub.Disconnect(fixgw_pb2.DisconnectRequest(name="LPRPC"), timeout=5)).session
    assert down.state == fixgw_pb2.SESSION_STATE_DISCONNECTED
    await wait_until(lambda: not gateway.logged_on("LPRPC") and not lp.logged_on)
    await asyncio.sleep(3)  # several QuickFIX reconnect intervals: it must stay down
    still = await get_session(stub, "LPRPC")
    assert still.state == fixgw_pb2.SESSION_STATE_DISCONNECTED
    assert still.logged_on is False
    assert still.healthy is False
    assert still.last_error == ""  # a requested logout is not an error
    assert flow.of("logout") == ["LPRPC"]
    assert gateway.send("LPRPC", new_order("FXM6-0")) is False

    # Connect: logs on again
    up = (await stub.Connect(fixgw_pb2.ConnectRequest(name="LPRPC"), timeout=5)).session
    assert up.state == fixgw_pb2.SESSION_STATE_CONNECTING
    await wait_until(lambda: gateway.view("LPRPC").state is SessionStatus.LOGGED_ON)
    second = await get_session(stub, "LPRPC")
    assert second.logged_on is True
    assert second.logon_time.ToDatetime() > first_logon

    # Reconnect: out and in again at once
    again = (await stub.Reconnect(fixgw_pb2.ReconnectRequest(name="LPRPC"), timeout=5)).session
    assert again.state == fixgw_pb2.SESSION_STATE_CONNECTING
    await wait_until(lambda: len(flow.of("logon")) == 3 and gateway.logged_on("LPRPC"))
    third = await get_session(stub, "LPRPC")
    assert third.state == fixgw_pb2.SESSION_STATE_LOGGED_ON
    assert third.logon_time.ToDatetime() > second.logon_time.ToDatetime()
    assert third.reconnect_attempts == 0
    assert len(lp.of("A")) == 3
    assert [seq_of(m) for m in lp.of("A")] == sorted({seq_of(m) for m in lp.of("A")})


async def test_session_rpcs_when_lp_unknown_then_not_found(
    served: tuple[Gateway, RecordingFlow, Any],
) -> None:
    _, _, stub = served
    calls = [
        (stub.GetSession, fixgw_pb2.GetSessionRequest(name="NOPE")),
        (stub.Connect, fixgw_pb2.ConnectRequest(name="NOPE")),
        (stub.Disconnect, fixgw_pb2.DisconnectRequest(name="NOPE")),
        (stub.Reconnect, fixgw_pb2.ReconnectRequest(name="NOPE")),
    ]

    for call, request in calls:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call(request, timeout=5)

        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        error = from_rpc_error(caught.value)
        assert error.reason == "LP_NOT_FOUND"
        assert error.metadata == {"lp": "NOPE"}


async def test_lp_messages_when_symbol_mapped_then_broker_names_both_ways(
    served: tuple[Gateway, RecordingFlow, Any], lp: TestLp
) -> None:
    gateway, flow, _ = served

    # Market data: subscribed with the LP's name, the tick and the book carry the broker's
    await wait_until(lambda: gateway.top_of_book("LPRPC", "EURUSD") is not None)
    requested = lp.of("V")[0]
    assert requested.first(55) == "EUR/USD"
    assert gateway.top_of_book("LPRPC", "EURUSD") == (Decimal("1.08450"), Decimal("1.08462"))
    assert gateway.top_of_book("LPRPC", "EUR/USD") is None
    assert gateway.lp_symbol("LPRPC", "EURUSD") == "EUR/USD"
    assert gateway.lp_symbol("LPRPC", "GBPUSD") == "GBPUSD"
    assert gateway.lps_for("EURUSD") == ["LPRPC"]

    # Act: the LP reports a FIX 4.2 style fill (ExecType 2) on its own symbol, with a custom tag
    assert lp.send(execution_report("FXM7-1", "EXEC-LEGACY", exec_type="2", symbol="EUR/USD"))

    # Assert
    await wait_until(lambda: bool(flow.of("report")))
    report = flow.of("report")[0]
    assert report.symbol == "EURUSD"
    assert report.lp_symbol == "EUR/USD"
    assert report.exec_type == "F"
    assert report.exec_type_raw == "2"
    assert report.poss_dup is False
    assert report.cum_qty == Decimal(100000)
    assert report.transact_time is not None
    assert report.received_at is not None


async def test_lp_rejects_when_received_then_handed_to_order_flow(
    served: tuple[Gateway, RecordingFlow, Any], lp: TestLp
) -> None:
    gateway, flow, _ = served
    assert gateway.send("LPRPC", new_order("FXM8-1"))
    await wait_until(lambda: bool(lp.of("D")))
    order_seq = seq_of(lp.of("D")[0])

    business = fix.Message()
    business.getHeader().setField(fix.MsgType("j"))
    for tag, value in (
        (372, "D"),
        (379, "FXM8-1"),
        (380, "3"),
        (58, "market closed"),
        (45, str(order_seq)),
    ):
        set_str(business, tag, value)
    session = fix.Message()
    session.getHeader().setField(fix.MsgType("3"))
    for tag, value in ((45, str(order_seq)), (372, "D"), (373, "5"), (58, "bad price")):
        set_str(session, tag, value)
    cancel = fix.Message()
    cancel.getHeader().setField(fix.MsgType("9"))
    for tag, value in (
        (37, "NONE"),
        (11, "FXM8-1-C"),
        (41, "FXM8-1"),
        (39, "8"),
        (434, "1"),
        (102, "1"),
        (58, "too late"),
    ):
        set_str(cancel, tag, value)

    assert lp.send(business)
    assert lp.send(session)
    assert lp.send(cancel)

    await wait_until(
        lambda: all(flow.of(k) for k in ("business_reject", "session_reject", "cancel_reject"))
    )
    (b,) = flow.of("business_reject")
    assert (b.lp, b.ref_msg_type, b.ref_id, b.reason, b.text, b.ref_seq_num) == (
        "LPRPC",
        "D",
        "FXM8-1",
        "3",
        "market closed",
        order_seq,
    )
    (s,) = flow.of("session_reject")
    assert (s.ref_seq_num, s.ref_msg_type, s.reason, s.text) == (order_seq, "D", "5", "bad price")
    (c,) = flow.of("cancel_reject")
    assert (c.cl_ord_id, c.orig_cl_ord_id, c.ord_status, c.response_to, c.text) == (
        "FXM8-1-C",
        "FXM8-1",
        "8",
        "1",
        "too late",
    )
    assert gateway.logged_on("LPRPC")


# -- failures: backoff, FAILED, recovery --------------------------------------------------------


async def test_lp_unreachable_when_attempts_fail_then_failed_with_backoff_and_recovers(
    tmp_path: Path,
) -> None:
    # Arrange: nothing listens on the LP's port yet
    port = engine.free_port()
    ticks: list[RawTick] = []
    gateway = make_gateway(tmp_path / "fixgw", port, ticks, name="LPDEAD")
    await gateway.start()
    side = TestLp(port, tmp_path / "lp")
    try:
        assert gateway.view("LPDEAD").state is SessionStatus.CONNECTING

        # Act / Assert: repeated failures end in FAILED, with the reason
        await asyncio.wait_for(
            until(lambda: gateway.view("LPDEAD").state is SessionStatus.FAILED), 3 * WAIT
        )
        failed = gateway.view("LPDEAD")
        assert failed.reconnect_attempts >= 3
        assert "no logon" in failed.last_error
        assert failed.last_error_time is not None
        assert failed.logged_on is False

        # The LP comes up: a later attempt logs on, and a stable logon resets the backoff
        await side.start()
        await asyncio.wait_for(until(lambda: gateway.logged_on("LPDEAD")), 3 * WAIT)
        await wait_until(lambda: gateway.view("LPDEAD").reconnect_attempts == 0)
        assert gateway.view("LPDEAD").state is SessionStatus.LOGGED_ON
    finally:
        await gateway.stop()
        await side.stop()


async def test_lp_resets_when_fixgw_persists_then_logon_refused_failed_with_reason(
    tmp_path: Path,
) -> None:
    # Arrange: an LP that resets on every logon against a persistent fixgw session (a mismatch)
    side = TestLp(engine.free_port(), tmp_path / "lp", reset_on_logon=True)
    await side.start()
    ticks: list[RawTick] = []
    gateway = make_gateway(tmp_path / "fixgw", side.port, ticks, name="LPRESET")
    await gateway.start()
    try:
        await wait_until(lambda: gateway.logged_on("LPRESET"))
        await wait_until(lambda: gateway.view("LPRESET").next_target_seq_num > 2)

        # Act: the session drops; the LP starts again from 1, fixgw expects more
        await side.stop()
        await side.start()

        # Assert
        await wait_until(lambda: gateway.view("LPRESET").state is SessionStatus.FAILED)
        view = gateway.view("LPRESET")
        assert "MsgSeqNum too low" in view.last_error
        assert view.logged_on is False
    finally:
        await gateway.stop()
        await side.stop()
