"""Test harness for fixgw: a bare QuickFIX initiator that records what it receives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import grpc
import quickfix as fix
import quickfix44 as fix44

from fixgw import engine
from fixgw.fixmsg import set_str
from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc, types_pb2

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
        msg = _fix_msg(message)
        engine.post(self._loop, self._owner.admin_out.append, msg)

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        msg = _fix_msg(message)
        engine.post(self._loop, self._owner.admin_in.append, msg)

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        msg = _fix_msg(message)
        engine.post(self._loop, self._owner.app_out.append, msg)

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._owner.inbox.put_nowait, _fix_msg(message))


def _fix_msg(message: fix.Message) -> FixMsg:
    pairs = _pairs(message.toString())
    return FixMsg(next(v for t, v in pairs if t == 35), pairs)


class BareInitiator:
    """A plain QuickFIX initiator (FXMESH -> ``lp_comp_id``) that records every message.

    Application messages received go to ``inbox``, those sent to ``app_out`` (with their
    MsgSeqNum); admin messages received and sent are kept in ``admin_in`` / ``admin_out`` (Logon,
    ResendRequest, SequenceReset...). ``reset_on_logon``
    False keeps sequence numbers across logons (the store under ``run_dir``).
    """

    def __init__(
        self,
        port: int,
        run_dir: Path,
        *,
        lp_comp_id: str = "LPSIM",
        reset_on_logon: bool = True,
    ) -> None:
        self.port = port
        self.run_dir = run_dir
        self.inbox: asyncio.Queue[FixMsg] = asyncio.Queue()
        self.admin_in: list[FixMsg] = []
        self.admin_out: list[FixMsg] = []
        self.app_out: list[FixMsg] = []
        self.logged_on = asyncio.Event()
        self.spec = engine.SessionSpec("FXMESH", lp_comp_id)
        self.reset_on_logon = reset_on_logon
        self._initiator: engine.FixEngine | None = None

    async def start(self) -> None:
        options = engine.SessionOptions(reset_on_logon=self.reset_on_logon)
        settings = engine.initiator_settings(
            self.run_dir,
            [(self.spec, "127.0.0.1", self.port)],
            30,
            1,
            options={self.spec: options},
        )
        self._app = _CollectingApp(self, asyncio.get_running_loop())
        self._initiator = engine.FixEngine("initiator", self._app, settings)
        await self._initiator.start()
        await asyncio.wait_for(self.logged_on.wait(), WAIT)

    async def stop(self) -> None:
        if self._initiator is not None:
            await self._initiator.stop()
            self._initiator = None

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

    async def collect_until(self, msg_type: str, where: Callable[[FixMsg], bool]) -> list[FixMsg]:
        """Every application message received up to and including the first ``msg_type``
        matching ``where``."""
        seen: list[FixMsg] = []

        async def find() -> list[FixMsg]:
            while True:
                msg = await self.inbox.get()
                seen.append(msg)
                if msg.msg_type == msg_type and where(msg):
                    return seen

        return await asyncio.wait_for(find(), WAIT)

    def drain(self) -> list[FixMsg]:
        """Every application message received and not read yet."""
        out: list[FixMsg] = []
        while not self.inbox.empty():
            out.append(self.inbox.get_nowait())
        return out


def new_order_single(
    cl_ord_id: str,
    symbol: str,
    side: str,
    qty: str,
    ord_type: str = "1",
    price: str | None = None,
    tif: str = "3",
) -> fix.Message:
    """A 35=D, every field from its string."""
    msg = fix44.NewOrderSingle()
    set_str(msg, 11, cl_ord_id)
    set_str(msg, 55, symbol)
    set_str(msg, 54, side)
    set_str(msg, 38, qty)
    set_str(msg, 40, ord_type)
    set_str(msg, 59, tif)
    set_str(msg, 60, "20250101-00:00:00.000")
    if price is not None:
        set_str(msg, 44, price)
    return msg


def order_status_request(
    cl_ord_id: str, symbol: str, side: str, req_id: str | None = None
) -> fix.Message:
    """A 35=H for one order."""
    msg = fix44.OrderStatusRequest()
    set_str(msg, 11, cl_ord_id)
    set_str(msg, 55, symbol)
    set_str(msg, 54, side)
    if req_id is not None:
        set_str(msg, 790, req_id)
    return msg


def order_cancel_request(cl_ord_id: str, orig: str, symbol: str, side: str) -> fix.Message:
    """A 35=F cancelling ``orig``."""
    msg = fix44.OrderCancelRequest()
    set_str(msg, 11, cl_ord_id)
    set_str(msg, 41, orig)
    set_str(msg, 55, symbol)
    set_str(msg, 54, side)
    set_str(msg, 60, "20250101-00:00:00.000")
    return msg


async def until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (wrap in asyncio.wait_for for a deadline)."""
    while not condition():  # noqa: ASYNC110 - polling state owned by another component
        await asyncio.sleep(0.05)


# -- quotes stand-in --------------------------------------------------------------------------


class RecordingQuotes(quotes_pb2_grpc.QuotesServiceServicer):
    """Records every tick received on PublishTicks."""

    def __init__(self) -> None:
        self.ticks: list[types_pb2.Quote] = []
        self.streams = 0

    async def PublishTicks(
        self,
        request_iterator: AsyncIterator[quotes_pb2.PublishTicksRequest],
        context: grpc.aio.ServicerContext,
    ) -> quotes_pb2.PublishTicksResponse:
        self.streams += 1
        accepted = 0
        async for batch in request_iterator:
            self.ticks.extend(batch.ticks)
            accepted += len(batch.ticks)
        return quotes_pb2.PublishTicksResponse(accepted=accepted)

    def has(self, symbol: str, bid: str, ask: str) -> bool:
        return any(t.symbol == symbol and t.bid == bid and t.ask == ask for t in self.ticks)


class QuotesStandIn:
    """A grpc.aio server hosting RecordingQuotes; restartable on the same port."""

    def __init__(self) -> None:
        self.port = 0
        self.recorder = RecordingQuotes()
        self._server: grpc.aio.Server | None = None

    async def start(self) -> None:
        self.recorder = RecordingQuotes()
        self._server = grpc.aio.server()
        quotes_pb2_grpc.add_QuotesServiceServicer_to_server(self.recorder, self._server)
        self.port = self._server.add_insecure_port(f"127.0.0.1:{self.port}")
        await self._server.start()

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop(0)
            self._server = None
