"""The LP simulator: a real QuickFIX FIX 4.4 acceptor streaming prices and filling orders.

QuickFIX threads only parse messages into small commands and post them to the event loop, and a
price stream's clock thread only says when a tick is due; every decision and every send happens on
the loop. Usable in-process (tests) or via ``python -m devstack.lpsim``.

For testing an A-book gateway it also plays faults and dialects (``fixgw.lpsim.knobs``):
order-style enforcement, partial fills, IOC partial-then-expire, slippage, rejects (35=8, 35=j,
35=3), silence and late reports, duplicate ExecIDs, sequence gaps, disconnect and restart, FIX 4.2
ExecTypes, LP symbol names and custom tags. Orders are remembered, so an OrderStatusRequest (35=H)
answers their true state.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import math
import random
import threading
import time
from collections.abc import Callable, Collection, Coroutine
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import quickfix as fix
import quickfix44 as fix44
import structlog
from prometheus_client import Counter, Gauge

from fixgw import engine
from fixgw.fixmsg import get_decimal, get_str, md_request_symbols, msg_type, send
from fixgw.lpsim import messages
from fixgw.lpsim.knobs import Fault, FaultQueue, SimConfig
from fixgw.lpsim.orders import (
    BUY,
    FILLED,
    SELL,
    SimOrder,
    fill_price,
    immediate_quantity,
    split_quantity,
    within_limit,
)
from fixgw.lpsim.prices import PriceBook, PriceSpec
from fixgw.lpsim.streams import Pattern, StreamSpec, StreamStats
from fxmesh.background import BackgroundLoop

__all__ = ["LpSimulator", "SimConfig", "split_quantity"]

log = structlog.stdlib.get_logger(__name__)

ORDERS = Counter(
    "fxmesh_lpsim_orders_total", "Orders answered, by simulator and outcome.", ["lp", "outcome"]
)
MD_SENT = Counter(
    "fxmesh_lpsim_md_messages_sent_total", "Market data sent, by type.", ["lp", "msg_type"]
)
LOGGED_ON = Gauge("fxmesh_lpsim_sessions_logged_on", "FIX sessions logged on.", ["lp"])
DISCONNECTS = Counter(
    "fxmesh_lpsim_disconnects_total", "Disconnects and restarts requested.", ["lp", "kind"]
)

MAX_ORDERS = 200_000  # orders remembered for status queries (oldest finished ones forgotten)


@dataclass(frozen=True, slots=True)
class NewOrder:
    session: str
    cl_ord_id: str
    symbol: str
    side: str
    qty: Decimal | None
    ord_type: str
    price: Decimal | None
    tif: str
    seq_num: int = 0
    poss_dup: bool = False


@dataclass(frozen=True, slots=True)
class CancelRequest:
    session: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str


@dataclass(frozen=True, slots=True)
class StatusRequest:
    session: str
    cl_ord_id: str
    symbol: str
    side: str
    req_id: str | None


@dataclass(frozen=True, slots=True)
class MdRequest:
    session: str
    req_id: str
    request_type: str
    symbols: tuple[str, ...]
    depth: int = 1  # MarketDepth (264): 1 top of book, N levels, 0 the full book


Command = NewOrder | CancelRequest | StatusRequest | MdRequest


@dataclass(slots=True)
class SessionState:
    session_id: fix.SessionID
    logged_on: bool = False
    subscriptions: dict[str, str] = field(default_factory=dict)  # our symbol -> MDReqID
    depth: dict[str, int] = field(default_factory=dict)  # our symbol -> MarketDepth (not 1)


@dataclass(slots=True)
class PriceStream:
    """A running stream (see ``fixgw.lpsim.streams``)."""

    spec: StreamSpec
    stats: StreamStats
    next_seq: int
    stopped: threading.Event = field(default_factory=threading.Event)
    clock: threading.Thread | None = None


class _AcceptorApp(fix.Application):  # type: ignore[misc]
    """Thin adapter: parse on the QuickFIX thread, decide on the event loop."""

    def __init__(self, sim: LpSimulator, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._sim = sim
        self._loop = loop

    def onCreate(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._sim._on_create, engine.copy_session_id(session_id))

    def onLogon(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._sim._on_logon, engine.session_key(session_id))

    def onLogout(self, session_id: fix.SessionID) -> None:
        engine.post(self._loop, self._sim._on_logout, engine.session_key(session_id))

    def toAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromAdmin(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def toApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        return None

    def fromApp(self, message: fix.Message, session_id: fix.SessionID) -> None:
        try:
            command = _parse_command(engine.session_key(session_id), message)
        except Exception:  # never let an exception unwind into QuickFIX's thread
            log.exception("lpsim_parse_failed")
            return
        if command is not None:
            engine.post(self._loop, self._sim._on_command, command)


def _parse_command(session: str, message: fix.Message) -> Command | None:
    kind = msg_type(message)
    if kind == "V":
        return MdRequest(
            session=session,
            req_id=get_str(message, 262) or "",
            request_type=get_str(message, 263) or "0",
            symbols=tuple(md_request_symbols(message)),
            depth=int(depth) if (depth := get_str(message, 264) or "1").isdigit() else 1,
        )
    if kind == "D":
        header = message.getHeader()
        seq = get_str(header, 34) or "0"
        return NewOrder(
            session=session,
            cl_ord_id=get_str(message, 11) or "",
            symbol=get_str(message, 55) or "",
            side=get_str(message, 54) or "",
            qty=get_decimal(message, 38),
            ord_type=get_str(message, 40) or "1",
            price=get_decimal(message, 44),
            tif=get_str(message, 59) or "0",
            seq_num=int(seq) if seq.isdigit() else 0,
            poss_dup=get_str(header, 43) == "Y",
        )
    if kind == "F":
        return CancelRequest(
            session=session,
            cl_ord_id=get_str(message, 11) or "",
            orig_cl_ord_id=get_str(message, 41) or "",
            symbol=get_str(message, 55) or "",
            side=get_str(message, 54) or "",
        )
    if kind == "H":
        return StatusRequest(
            session=session,
            cl_ord_id=get_str(message, 11) or "",
            symbol=get_str(message, 55) or "",
            side=get_str(message, 54) or "",
            req_id=get_str(message, 790),
        )
    return None


class LpSimulator:
    """A FIX 4.4 liquidity provider for development and tests.

    Several may run at once (each its own ``port``, ``sender_comp_id`` and prices: ``seed``,
    ``price_offset_points``). ``reset_on_logon`` False (the default) keeps sequence numbers and
    sent messages in the FileStore under ``run_dir/lpsim``, so a restart resumes the session.
    """

    def __init__(
        self,
        specs: list[PriceSpec],
        *,
        port: int,
        run_dir: Path,
        sender_comp_id: str = "LPSIM",
        target_comp_ids: list[str] | None = None,
        config: SimConfig | None = None,
        seed: int | None = None,
        message_log: bool = False,
        reset_on_logon: bool = False,
        price_offset_points: int = 0,
        max_orders: int = MAX_ORDERS,
    ) -> None:
        self.port = port
        self.config = config or SimConfig()
        if price_offset_points:
            specs = [
                replace(s, start_mid=s.start_mid + s.point * price_offset_points) for s in specs
            ]
        self.book = PriceBook(specs, random.Random(seed))
        self._rng = random.Random(seed)
        self._run_dir = run_dir
        self.sender_comp_id = sender_comp_id
        self._targets = target_comp_ids or ["FXMESH"]
        self._message_log = message_log
        self.reset_on_logon = reset_on_logon
        self.price_offset_points = price_offset_points
        self._max_orders = max_orders
        self.sessions: dict[str, SessionState] = {}
        self.orders: collections.OrderedDict[tuple[str, str], SimOrder] = collections.OrderedDict()
        self._resting: dict[tuple[str, str], SimOrder] = {}
        self.faults = FaultQueue()
        self.counters: collections.Counter[str] = collections.Counter()
        self._reenable: set[str] = set()
        # Ids unique across restarts of the process: a gateway applies each ExecID once.
        self._boot = format(int(time.time() * 1000), "x")
        self._ids = itertools.count(1)
        self._acceptor: engine.FixEngine | None = None
        self._app: _AcceptorApp | None = None
        self._up = asyncio.Event()
        self._restarting = False
        # Sessions down for a restart: what is due for them waits until they log on again.
        self._held: set[str] = set()
        self._outbox: dict[str, list[fix.Message]] = {}
        self._late_queue: dict[tuple[str, str], list[fix.Message]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._ticker = BackgroundLoop("lpsim-ticks", self._tick_loop)
        self._streams: dict[str, PriceStream] = {}
        self._md_w = MD_SENT.labels(sender_comp_id, "W")
        self._md_x = MD_SENT.labels(sender_comp_id, "X")
        self._md_y = MD_SENT.labels(sender_comp_id, "Y")

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start accepting FIX connections and streaming prices."""
        await self._start_acceptor()
        self._ticker.start()
        log.info(
            "lpsim_started",
            port=self.port,
            sender=self.sender_comp_id,
            targets=self._targets,
            reset_on_logon=self.reset_on_logon,
        )

    async def _start_acceptor(self) -> None:
        loop = asyncio.get_running_loop()
        specs = [engine.SessionSpec(self.sender_comp_id, t) for t in self._targets]
        settings = engine.acceptor_settings(
            self._run_dir,
            "lpsim",
            self.port,
            specs,
            self._message_log,
            reset_on_logon=self.reset_on_logon,
        )
        self._app = _AcceptorApp(self, loop)
        self._acceptor = engine.FixEngine("acceptor", self._app, settings, self._message_log)
        await self._acceptor.start()
        self._up.set()

    async def _stop_acceptor(self) -> None:
        self._up.clear()
        if self._acceptor is not None:
            acceptor, self._acceptor = self._acceptor, None
            await acceptor.stop()
        for state in self.sessions.values():
            state.logged_on = False
            state.subscriptions.clear()
            state.depth.clear()
        self._gauge_logged_on()

    async def stop(self) -> None:
        """Stop streaming and close every session."""
        await self._ticker.stop()
        for symbol in list(self._streams):
            await self.stop_stream(symbol)
        for task in list(self._tasks):
            task.cancel()
        for timer in self._timers:
            timer.cancel()
        await self._stop_acceptor()
        log.info("lpsim_stopped", sender=self.sender_comp_id)

    async def restart(self, down_ms: int) -> None:
        """Stop the acceptor now (sessions log out) and start it again ``down_ms`` later.

        The FileStore is kept, so with ``reset_on_logon`` False sequence numbers resume; reports
        due while down are sent once it is up again. Returns once the acceptor is down.
        """
        if self._restarting or self._acceptor is None:
            raise RuntimeError("the acceptor is not running (restart already in progress?)")
        self._restarting = True
        self._held = set(self.sessions)
        DISCONNECTS.labels(self.sender_comp_id, "restart").inc()
        log.info("lpsim_restart", sender=self.sender_comp_id, down_ms=down_ms)
        try:
            await self._stop_acceptor()
        except BaseException:
            self._restarting = False
            raise
        self._spawn(self._come_back(down_ms))

    async def _come_back(self, down_ms: int) -> None:
        try:
            await asyncio.sleep(down_ms / 1000)
            await self._start_acceptor()
        finally:
            self._restarting = False
        log.info("lpsim_restarted", sender=self.sender_comp_id)

    async def wait_up(self) -> None:
        """Until the acceptor is running (after a restart)."""
        await self._up.wait()

    # -- control operations ------------------------------------------------------------------

    def state(self, max_orders: int = 100) -> dict[str, Any]:
        """Sessions, config, prices, orders and counters, as JSON-ready data (decimals as
        strings); ``orders`` holds the latest ``max_orders`` orders."""
        recent = list(itertools.islice(reversed(self.orders.values()), max_orders))
        return {
            "senderCompId": self.sender_comp_id,
            "fixPort": self.port,
            "resetOnLogon": self.reset_on_logon,
            "priceOffsetPoints": self.price_offset_points,
            "acceptor": "up" if self._up.is_set() else "down",
            "sessions": [
                {
                    "sessionId": key,
                    "loggedOn": s.logged_on,
                    "subscriptions": sorted(s.subscriptions),
                    **self._seq_nums(s),
                }
                for key, s in self.sessions.items()
            ],
            "config": self.config.as_json(),
            "faults": self.faults.as_json(),
            "prices": {
                sym: {"bid": str(p.bid), "ask": str(p.ask)} for sym, p in self.book.prices.items()
            },
            "restingOrders": len(self._resting),
            "ordersKnown": len(self.orders),
            "orders": [o.as_json() for o in reversed(recent)],
            "counters": dict(sorted(self.counters.items())),
            "streams": {
                sym: {**s.spec.as_json(), **s.stats.as_json()} for sym, s in self._streams.items()
            },
        }

    def _seq_nums(self, state: SessionState) -> dict[str, int | None]:
        session = self._session(state) if self._up.is_set() else None
        if session is None:
            return {"nextSenderSeqNum": None, "nextTargetSeqNum": None}
        return {
            "nextSenderSeqNum": int(session.getExpectedSenderNum()),
            "nextTargetSeqNum": int(session.getExpectedTargetNum()),
        }

    def order(self, cl_ord_id: str) -> list[SimOrder]:
        """The orders with this ClOrdID (one per session at most)."""
        return [o for (_, c), o in self.orders.items() if c == cl_ord_id]

    def update_config(self, **changes: Any) -> SimConfig:
        """Change runtime knobs (any ``SimConfig`` field); ValueError on a bad one."""
        self.config = self.config.changed(**changes)
        log.info("lpsim_config_changed", sender=self.sender_comp_id, **self.config.as_json())
        return self.config

    def add_fault(self, fault: Fault, count: int = 1) -> list[dict[str, Any]]:
        """Queue ``fault`` for the next ``count`` orders; the pending faults."""
        self.faults.add(fault, count)
        log.info("lpsim_fault_queued", sender=self.sender_comp_id, count=count, **fault.as_json())
        return self.faults.as_json()

    def set_price(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        """Set a symbol's price exactly and publish it to subscribers now."""
        if symbol not in self.book:
            raise KeyError(symbol)
        self.book.set_price(symbol, bid, ask)
        self._publish(symbol)
        self._match_resting(symbol)

    async def start_stream(
        self,
        symbol: str,
        ticks_per_second: float,
        *,
        pattern: Pattern = "ramp",
        first_seq: int = 0,
        bid: Decimal | None = None,
        ask: Decimal | None = None,
        step_points: int = 1,
        cycle: int = 1000,
        start_delay_seconds: float = 0.1,
    ) -> StreamSpec:
        """Send ``symbol``'s ticks at ``ticks_per_second`` from ``start_delay_seconds`` from now.

        Replaces a stream already running on ``symbol``. ``bid`` / ``ask`` (ramp) default to the
        current price; the periodic tick loop leaves a streamed symbol alone.
        """
        if symbol not in self.book:
            raise KeyError(symbol)
        current = self.book.get(symbol)
        spec = StreamSpec(
            symbol=symbol,
            ticks_per_second=ticks_per_second,
            pattern=pattern,
            first_seq=first_seq,
            start_time=time.time() + start_delay_seconds,
            bid=current.bid if bid is None else bid,
            ask=current.ask if ask is None else ask,
            step=current.spec.point * step_points,
            cycle=cycle,
        )
        await self.stop_stream(symbol)
        stream = PriceStream(spec, StreamStats(), next_seq=spec.first_seq)
        stream.clock = threading.Thread(
            target=self._stream_clock,
            args=(stream, asyncio.get_running_loop()),
            name=f"lpsim-stream-{symbol}",
            daemon=True,
        )
        self._streams[symbol] = stream
        stream.clock.start()
        log.info("lpsim_stream_started", **spec.as_json())
        return spec

    async def stop_stream(self, symbol: str) -> dict[str, Any] | None:
        """Stop ``symbol``'s stream; what it sent (None when there was none)."""
        stream = self._streams.pop(symbol, None)
        if stream is None:
            return None
        stream.stopped.set()
        if stream.clock is not None:
            await asyncio.to_thread(stream.clock.join)
        result = {**stream.spec.as_json(), **stream.stats.as_json()}
        log.info("lpsim_stream_stopped", **result)
        return result

    def disconnect(self) -> int:
        """Log out every logged-on session (initiators reconnect); returns how many."""
        count = 0
        for state in self.sessions.values():
            session = self._session(state)
            if session is not None and session.isLoggedOn():
                # Session.logout() sends a Logout and disables the session; _on_logout enables it
                # again so that the initiator's reconnect is accepted.
                session.logout("simulated disconnect")
                self._reenable.add(engine.session_key(state.session_id))
                count += 1
        DISCONNECTS.labels(self.sender_comp_id, "disconnect").inc()
        log.info("lpsim_disconnect", sender=self.sender_comp_id, sessions=count)
        return count

    def skip_sequence(self, count: int, probe: bool = True) -> list[dict[str, Any]]:
        """Skip ``count`` outgoing sequence numbers on every logged-on session.

        The counterparty sees a gap at our next message and must send a ResendRequest (answered
        with a SequenceReset-GapFill). ``probe`` sends a Heartbeat at once so it sees it now.
        """
        if count < 1:
            raise ValueError("count >= 1")
        skipped = []
        for key, state in self.sessions.items():
            session = self._session(state) if state.logged_on else None
            if session is None:
                continue
            first = int(session.getExpectedSenderNum())
            session.setNextSenderMsgSeqNum(first + count)
            if probe:
                send(fix44.Heartbeat(), state.session_id)
            skipped.append(
                {"sessionId": key, "skippedFrom": first, "nextSenderSeqNum": first + count}
            )
        self.counters["sequence_gaps"] += len(skipped)
        log.info("lpsim_sequence_gap", sender=self.sender_comp_id, count=count, sessions=skipped)
        return skipped

    # -- QuickFIX events (on the loop) -------------------------------------------------------

    def _session(self, state: SessionState) -> Any:
        return fix.Session.lookupSession(state.session_id)

    def _gauge_logged_on(self) -> None:
        LOGGED_ON.labels(self.sender_comp_id).set(sum(s.logged_on for s in self.sessions.values()))

    def _on_create(self, session_id: fix.SessionID) -> None:
        self.sessions.setdefault(engine.session_key(session_id), SessionState(session_id))

    def _on_logon(self, key: str) -> None:
        state = self.sessions.get(key)
        if state is not None:
            state.logged_on = True
            state.subscriptions.clear()
            state.depth.clear()
        self._gauge_logged_on()
        self._held.discard(key)
        held = self._outbox.pop(key, [])
        if state is not None:
            for message in held:
                send(message, state.session_id)
        log.info("lpsim_logon", session=key, held_reports_sent=len(held))

    def _on_logout(self, key: str) -> None:
        state = self.sessions.get(key)
        if state is not None:
            state.logged_on = False
            state.subscriptions.clear()
            state.depth.clear()
            if key in self._reenable:
                self._reenable.discard(key)
                session = self._session(state) if self._up.is_set() else None
                if session is not None:
                    session.logon()
        self._gauge_logged_on()
        log.info("lpsim_logout", session=key)

    def _on_command(self, command: Command) -> None:
        state = self.sessions.get(command.session)
        if state is None:
            return
        if isinstance(command, MdRequest):
            self._on_md_request(state, command)
        elif isinstance(command, NewOrder):
            self._on_new_order(state, command)
        elif isinstance(command, StatusRequest):
            self._on_status_request(state, command)
        else:
            self._after_latency(self._on_cancel, state, command)

    def _after_latency(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` now, or ``latency_ms`` from now (equal delays keep the arrival order)."""
        latency_ms = self.config.latency_ms
        if not latency_ms:
            fn(*args)
            return

        def run() -> None:
            self._timers.discard(handle)
            try:
                fn(*args)
            except Exception:
                log.exception("lpsim_answer_failed")

        handle = asyncio.get_running_loop().call_later(latency_ms / 1000, run)
        self._timers.add(handle)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _send(self, session_id: fix.SessionID, message: fix.Message) -> bool:
        """Send now or, for a session down for a restart, once it has logged on again."""
        if self._held:
            key = engine.session_key(session_id)
            if key in self._held:
                self._outbox.setdefault(key, []).append(message)
                return False
        return send(message, session_id)

    # -- symbols -----------------------------------------------------------------------------

    def _wire_symbol(self, symbol: str) -> str:
        return self.config.symbol_map.get(symbol, symbol)

    def _our_symbol(self, wire: str) -> str | None:
        """Our symbol for the LP's name; None when unknown (incl. our name of a mapped symbol)."""
        symbol_map = self.config.symbol_map
        if symbol_map:
            for ours, theirs in symbol_map.items():
                if theirs == wire:
                    return ours
            if wire in symbol_map:
                return None
        return wire if wire in self.book else None

    # -- market data -------------------------------------------------------------------------

    def _on_md_request(self, state: SessionState, req: MdRequest) -> None:
        ours = [self._our_symbol(s) for s in req.symbols]
        if req.request_type == "2":
            for sym in [s for s, rid in state.subscriptions.items() if rid == req.req_id]:
                del state.subscriptions[sym]
                state.depth.pop(sym, None)
            for mine in ours:
                if mine is not None:
                    state.subscriptions.pop(mine, None)
                    state.depth.pop(mine, None)
            log.info(
                "lpsim_md_unsubscribed",
                session=engine.session_key(state.session_id),
                req_id=req.req_id,
            )
            return
        unknown = [w for w, s in zip(req.symbols, ours, strict=True) if s is None]
        if unknown or not req.symbols:
            text = f"unknown symbol: {','.join(unknown) or '(none)'}"
            self._send(state.session_id, messages.md_reject(req.req_id, text))
            self._md_y.inc()
            return
        for known in ours:
            assert known is not None
            if req.depth != 1:
                state.depth[known] = req.depth
            else:
                state.depth.pop(known, None)
            self._send(state.session_id, self._snapshot(state, req.req_id, known))
            self._md_w.inc()
            if req.request_type == "1":
                state.subscriptions[known] = req.req_id

    def _snapshot(self, state: SessionState, req_id: str, symbol: str) -> fix.Message:
        """A full refresh of ``symbol``: top of book, or levels for a depth subscription."""
        price = self.book.get(symbol)
        depth = state.depth.get(symbol)
        if depth is None:
            return messages.snapshot(req_id, self._wire_symbol(symbol), price.bid, price.ask)
        sizes = self.config.depth_sizes
        levels = len(sizes) if depth == 0 else min(depth, len(sizes))
        step = price.spec.point * self.config.depth_step_points
        bids = [(price.bid - i * step, sizes[i]) for i in range(levels) if price.bid > i * step]
        asks = [(price.ask + i * step, sizes[i]) for i in range(levels)]
        return messages.depth_snapshot(req_id, self._wire_symbol(symbol), bids, asks)

    def _publish(self, symbol: str | None = None, exclude: Collection[str] = ()) -> None:
        if not self._up.is_set():
            return
        for state in self.sessions.values():
            if not state.logged_on:
                continue
            for sym, req_id in list(state.subscriptions.items()):
                if (symbol is not None and sym != symbol) or sym in exclude:
                    continue
                if sym in state.depth:  # depth subscribers get full refreshes
                    if send(self._snapshot(state, req_id, sym), state.session_id):
                        self._md_w.inc()
                    continue
                price = self.book.get(sym)
                msg = messages.incremental(req_id, self._wire_symbol(sym), price.bid, price.ask)
                if send(msg, state.session_id):
                    self._md_x.inc()

    async def _tick_loop(self) -> None:
        while True:
            interval = self.config.tick_interval_ms / 1000
            await asyncio.sleep(interval)
            try:
                streamed = self._streams.keys()
                if self.config.walk:
                    self.book.step(interval, exclude=streamed)
                self._publish(exclude=streamed)
                self._match_resting(None)
            except Exception:
                log.exception("lpsim_tick_failed")

    def _stream_clock(self, stream: PriceStream, loop: asyncio.AbstractEventLoop) -> None:
        # A thread that only keeps time: the event loop's timers wake up to a millisecond late
        # (epoll's resolution), which would be part of every measured tick latency; a thread
        # sleeps to ~0.1 ms and hands the tick to the loop, which does the sending.
        spec, stopped = stream.spec, stream.stopped
        seq = spec.first_seq
        while not stopped.wait(max(0.0, spec.due(seq) - time.time())):
            try:
                loop.call_soon_threadsafe(self._stream_due, stream)
            except RuntimeError:  # the loop is closed
                return
            seq = max(seq + 1, math.floor(spec.near(time.time())) + 1)

    def _stream_due(self, stream: PriceStream) -> None:
        if stream.stopped.is_set():
            return
        spec, stats = stream.spec, stream.stats
        first, last, skipped = spec.plan(stream.next_seq, time.time())
        stats.skipped += skipped
        stream.next_seq += skipped
        for seq in range(first, last + 1):
            try:
                self._stream_tick(spec, seq)
            except Exception:
                log.exception("lpsim_stream_tick_failed", symbol=spec.symbol, seq=seq)
            stats.record(seq, time.time() - spec.due(seq))
            stream.next_seq = seq + 1

    def _stream_tick(self, spec: StreamSpec, seq: int) -> None:
        if spec.pattern == "ramp":
            bid, ask = spec.ramp_price(seq)
            self.book.set_price(spec.symbol, bid, ask)
        else:
            self.book.step_symbol(spec.symbol, 1 / spec.ticks_per_second)
        self._publish(spec.symbol)
        self._match_resting(spec.symbol)

    # -- orders ------------------------------------------------------------------------------

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{self._boot}-{next(self._ids)}"

    def _count(self, outcome: str) -> None:
        self.counters[outcome] += 1
        ORDERS.labels(self.sender_comp_id, outcome).inc()

    def _remember(self, order: SimOrder) -> None:
        self.orders[(order.session, order.cl_ord_id)] = order
        while len(self.orders) > self._max_orders:
            key, oldest = next(iter(self.orders.items()))
            if not oldest.final:
                break
            del self.orders[key]

    def _state_of(self, order: SimOrder) -> SessionState | None:
        return self.sessions.get(order.session)

    def _emit(self, order: SimOrder, message: fix.Message) -> None:
        """Send one of the order's reports, as its delivery says (normal, silent, late)."""
        state = self._state_of(order)
        if state is None:
            return
        if order.delivery == "silent":
            order.withheld += 1
            return
        if order.delivery == "late":
            order.withheld += 1
            key = (order.session, order.cl_ord_id)
            queue = self._late_queue.get(key)
            if queue is None:
                self._late_queue[key] = queue = []
                self._spawn(self._late(order, queue))
            queue.append(message)
            return
        self._send(state.session_id, message)

    async def _late(self, order: SimOrder, queue: list[fix.Message]) -> None:
        key = (order.session, order.cl_ord_id)
        try:
            await asyncio.sleep((order.late_ms or 0) / 1000)
        finally:
            self._late_queue.pop(key, None)
        order.delivery = "normal"
        state = self._state_of(order)
        if state is None:
            return
        for message in queue:
            self._send(state.session_id, message)
        self._count("late_reports")
        log.info("lpsim_late_reports_sent", cl_ord_id=order.cl_ord_id, reports=len(queue))

    def _report(self, order: SimOrder, exec_type: str, **kwargs: Any) -> fix.Message:
        return messages.execution_report(
            order,
            self._next_id("E"),
            exec_type,
            custom_tags=self.config.custom_tags,
            **kwargs,
        )

    def _reject(self, order: SimOrder, reason: str, text: str) -> None:
        order.reject(reason, text)
        self._emit(order, self._report(order, "8"))
        self._count("rejected")
        log.info("lpsim_order_rejected", cl_ord_id=order.cl_ord_id, text=text)

    def _new_sim_order(self, cmd: NewOrder) -> SimOrder:
        return SimOrder(
            session=cmd.session,
            cl_ord_id=cmd.cl_ord_id,
            order_id=self._next_id("O"),
            symbol=self._our_symbol(cmd.symbol) or "",
            wire_symbol=cmd.symbol,
            side=cmd.side,
            qty=cmd.qty,
            ord_type=cmd.ord_type,
            price=cmd.price,
            tif=cmd.tif,
        )

    def _problem(self, order: SimOrder) -> tuple[str, str] | None:
        """(OrdRejReason, Text) when the order cannot be accepted."""
        if not order.symbol:
            return "1", f"unknown symbol {order.wire_symbol}"
        if order.qty is None or order.qty <= 0 or order.side not in (BUY, SELL):
            return "99", "invalid quantity or side"
        style = order.style
        if style is None or (order.ord_type == "2" and order.price is None):
            return "99", "unsupported order type"
        accepted = self.config.accepted_styles
        if style not in accepted:
            return "11", f"order style {style} not accepted; accepted: {', '.join(accepted)}"
        return None

    def _on_new_order(self, state: SessionState, cmd: NewOrder) -> None:
        """Take the order in arrival order (known to status queries at once), then answer it
        after the configured latency."""
        key = (cmd.session, cmd.cl_ord_id)
        if key in self.orders:
            if cmd.poss_dup:  # a resend of an order we have: answered already
                log.info("lpsim_possdup_order_ignored", cl_ord_id=cmd.cl_ord_id)
                return
            duplicate = self._new_sim_order(cmd)
            duplicate.reject("6", "duplicate ClOrdID")
            self._send(state.session_id, self._report(duplicate, "8"))
            self._count("rejected")
            return
        fault = self.faults.take()
        if fault is not None and fault.forget:
            self._count("forgotten")
            log.info("lpsim_order_forgotten", cl_ord_id=cmd.cl_ord_id)
            return
        order = self._new_sim_order(cmd)
        if fault is None or fault.kind not in ("businessReject", "sessionReject"):
            self._remember(order)
        if fault is not None and fault.kind == "silence":
            order.delivery = "silent" if fault.late_ms is None else "late"
            order.late_ms = fault.late_ms
            self._count("silenced")
        self._after_latency(self._answer_order, state, cmd, order, fault)

    def _answer_order(
        self, state: SessionState, cmd: NewOrder, order: SimOrder, fault: Fault | None
    ) -> None:
        if fault is not None and fault.kind == "businessReject":
            text = fault.text or "order refused"
            self._send(state.session_id, messages.business_reject(cmd.seq_num, cmd.cl_ord_id, text))
            self._count("business_rejected")
            return
        if fault is not None and fault.kind == "sessionReject":
            text = fault.text or "order refused"
            self._send(state.session_id, messages.session_reject(cmd.seq_num, text))
            self._count("session_rejected")
            return
        problem = self._problem(order)
        if problem is not None:
            self._reject(order, *problem)
            return
        if fault is not None and fault.kind == "reject":
            self._reject(order, "99", fault.text or self.config.reject_text)
            return
        if self.config.reject_rate > 0 and self._rng.random() < self.config.reject_rate:
            self._reject(order, "99", self.config.reject_text)
            return
        order.accept()
        self._emit(order, self._report(order, "0"))
        self._execute(order)

    def _price_for(self, order: SimOrder) -> tuple[Decimal | None, str]:
        """The fill price now (with slippage, within the limit), or None and why not."""
        quote = self.book.get(order.symbol)
        slip = quote.spec.point * self.config.slippage_points
        quoted = fill_price(order.side, quote.bid, quote.ask, Decimal(0))
        px = fill_price(order.side, quote.bid, quote.ask, slip)
        limit = order.price if order.ord_type == "2" else None
        if within_limit(order.side, px, limit):
            return px, ""
        if slip and within_limit(order.side, quoted, limit):
            return None, f"price moved beyond limit {limit}"
        return None, "not marketable"

    def _execute(self, order: SimOrder) -> None:
        """Trade a just-accepted order as far as it can now; rest or expire the remainder."""
        assert order.qty is not None
        assert order.style is not None
        px, why = self._price_for(order)
        if px is None:
            if order.style == "LIMIT":
                self._resting[(order.session, order.cl_ord_id)] = order
                self._count("resting")
            else:
                self._expire(order, why)
            return
        qty = immediate_quantity(order.qty, order.style, self.config.fill_ratio)
        if qty > 0:
            self._fill(order, qty, px)
        if order.leaves_qty > 0:
            text = "FOK: not enough liquidity" if order.style == "LIMIT_FOK" else "IOC remainder"
            self._expire(order, f"{text} expired" if qty > 0 else "no liquidity")

    def _expire(self, order: SimOrder, text: str) -> None:
        exec_type = self.config.expire_exec_type
        order.expire(exec_type, text)
        self._emit(order, self._report(order, exec_type))
        self._count("expired")
        log.info("lpsim_order_expired", cl_ord_id=order.cl_ord_id, text=text)

    def _fill(self, order: SimOrder, qty: Decimal, px: Decimal) -> None:
        config = self.config
        for piece in split_quantity(qty, config.partial_fills):
            exec_id = self._next_id("E")
            order.fill(exec_id, piece, px)
            exec_type = "F"
            if config.legacy_exec_type:  # FIX 4.2: 1 partial fill, 2 fill
                exec_type = "2" if order.status == FILLED else "1"
            transact_time = messages.now_fix()
            for _ in range(2 if config.duplicate_exec_ids else 1):
                report = messages.execution_report(
                    order,
                    exec_id,
                    exec_type,
                    last_qty=piece,
                    last_px=px,
                    custom_tags=config.custom_tags,
                    transact_time=transact_time,
                )
                self._emit(order, report)
        self._count("filled" if order.status == FILLED else "partially_filled")
        log.info("lpsim_order_filled", cl_ord_id=order.cl_ord_id, price=str(px), qty=str(qty))

    def _match_resting(self, symbol: str | None) -> None:
        if not self._resting:
            return
        for key, order in list(self._resting.items()):
            if symbol is not None and order.symbol != symbol:
                continue
            state = self._state_of(order)
            if state is None or not state.logged_on:
                continue
            px, _ = self._price_for(order)
            if px is not None:
                del self._resting[key]
                self._fill(order, order.leaves_qty, px)

    def _on_status_request(self, state: SessionState, req: StatusRequest) -> None:
        order = self.orders.get((req.session, req.cl_ord_id))
        if order is None:
            msg = messages.unknown_order_status(
                req.cl_ord_id, req.symbol, req.side, self._next_id("E"), req.req_id
            )
            self._count("status_unknown")
        else:
            msg = self._report(order, "I", status_req_id=req.req_id)
            self._count("status")
        self._send(state.session_id, msg)

    def _on_cancel(self, state: SessionState, cancel: CancelRequest) -> None:
        key = (cancel.session, cancel.orig_cl_ord_id)
        order = self.orders.get(key)
        resting = self._resting.pop(key, None)
        if resting is None or order is None:
            if order is None:
                reason, text, order_id, status = "1", "unknown order", "NONE", "8"
            else:
                reason, text = "0", f"too late to cancel: OrdStatus {order.status}"
                order_id, status = order.order_id, order.status
            msg = messages.cancel_reject(
                cancel.cl_ord_id, cancel.orig_cl_ord_id, order_id, status, reason, text
            )
            self._send(state.session_id, msg)
            self._count("cancel_rejected")
            return
        order.cancel()
        report = self._report(
            order, "4", cl_ord_id=cancel.cl_ord_id, orig_cl_ord_id=cancel.orig_cl_ord_id
        )
        self._send(state.session_id, report)
        self._count("cancelled")
