"""The LP simulator: a real QuickFIX FIX 4.4 acceptor streaming prices and filling orders.

QuickFIX threads only parse messages into small commands and post them to the event loop, and a
price stream's clock thread only says when a tick is due; every decision and every send happens on
the loop. Usable in-process (tests) or via ``python -m fixgw.lpsim``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import random
import threading
import time
from collections.abc import Collection
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any

import quickfix as fix
import quickfix44 as fix44
import structlog
from prometheus_client import Counter, Gauge

from fixgw import engine
from fixgw.fixmsg import get_decimal, get_str, md_request_symbols, msg_type, send, set_str
from fixgw.lpsim.prices import PriceBook, PriceSpec
from fixgw.lpsim.streams import Pattern, StreamSpec, StreamStats

log = structlog.stdlib.get_logger(__name__)

ORDERS = Counter("fxmesh_lpsim_orders_total", "Orders answered, by outcome.", ["outcome"])
MD_SENT = Counter("fxmesh_lpsim_md_messages_sent_total", "Market data sent, by type.", ["msg_type"])
LOGGED_ON = Gauge("fxmesh_lpsim_sessions_logged_on", "FIX sessions logged on.")
DISCONNECTS = Counter("fxmesh_lpsim_disconnects_total", "Disconnects requested on the API.")

BOOK_SIZE = "1000000"
BUY, SELL = "1", "2"


@dataclass(slots=True)
class SimConfig:
    """Runtime knobs (changeable while running)."""

    latency_ms: int = 0
    reject_rate: float = 0.0
    partial_fills: int = 1
    tick_interval_ms: int = 100
    walk: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "latencyMs": self.latency_ms,
            "rejectRate": self.reject_rate,
            "partialFills": self.partial_fills,
            "tickIntervalMs": self.tick_interval_ms,
            "walk": self.walk,
        }


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


@dataclass(frozen=True, slots=True)
class CancelRequest:
    session: str
    cl_ord_id: str
    orig_cl_ord_id: str
    symbol: str
    side: str


@dataclass(frozen=True, slots=True)
class MdRequest:
    session: str
    req_id: str
    request_type: str
    symbols: tuple[str, ...]


@dataclass(slots=True)
class SessionState:
    session_id: fix.SessionID
    logged_on: bool = False
    subscriptions: dict[str, str] = field(default_factory=dict)  # symbol -> MDReqID
    cl_ord_ids: set[str] = field(default_factory=set)


@dataclass(slots=True)
class RestingOrder:
    order: NewOrder
    order_id: str


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


def _parse_command(
    session: str, message: fix.Message
) -> NewOrder | CancelRequest | MdRequest | None:
    kind = msg_type(message)
    if kind == "V":
        return MdRequest(
            session=session,
            req_id=get_str(message, 262) or "",
            request_type=get_str(message, 263) or "0",
            symbols=tuple(md_request_symbols(message)),
        )
    if kind == "D":
        return NewOrder(
            session=session,
            cl_ord_id=get_str(message, 11) or "",
            symbol=get_str(message, 55) or "",
            side=get_str(message, 54) or "",
            qty=get_decimal(message, 38),
            ord_type=get_str(message, 40) or "1",
            price=get_decimal(message, 44),
            tif=get_str(message, 59) or "0",
        )
    if kind == "F":
        return CancelRequest(
            session=session,
            cl_ord_id=get_str(message, 11) or "",
            orig_cl_ord_id=get_str(message, 41) or "",
            symbol=get_str(message, 55) or "",
            side=get_str(message, 54) or "",
        )
    return None


def _now_fix() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H:%M:%S.%f")[:-3]


def split_quantity(qty: Decimal, parts: int) -> list[Decimal]:
    """Split ``qty`` into at most ``parts`` positive pieces at the quantity's own precision."""
    exponent = qty.as_tuple().exponent
    quantum = (
        Decimal(1).scaleb(exponent) if isinstance(exponent, int) and exponent < 0 else Decimal(1)
    )
    base = (qty / parts).quantize(quantum, rounding=ROUND_DOWN)
    if base <= 0:
        return [qty]
    pieces = [base] * (parts - 1)
    pieces.append(qty - base * (parts - 1))
    return pieces


class LpSimulator:
    """A FIX 4.4 liquidity provider for development and tests."""

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
    ) -> None:
        self.port = port
        self.config = config or SimConfig()
        self.book = PriceBook(specs, random.Random(seed))
        self._rng = random.Random(seed)
        self._run_dir = run_dir
        self._sender = sender_comp_id
        self._targets = target_comp_ids or ["FXMESH"]
        self._message_log = message_log
        self.sessions: dict[str, SessionState] = {}
        self._resting: dict[tuple[str, str], RestingOrder] = {}
        self._reenable: set[str] = set()
        self._ids = itertools.count(1)
        self._acceptor: engine.FixEngine | None = None
        self._app: _AcceptorApp | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._tick_task: asyncio.Task[None] | None = None
        self._streams: dict[str, PriceStream] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start accepting FIX connections and streaming prices."""
        loop = asyncio.get_running_loop()
        specs = [engine.SessionSpec(self._sender, t) for t in self._targets]
        settings = engine.acceptor_settings(
            self._run_dir, "lpsim", self.port, specs, self._message_log
        )
        self._app = _AcceptorApp(self, loop)
        self._acceptor = engine.FixEngine("acceptor", self._app, settings, self._message_log)
        await self._acceptor.start()
        self._tick_task = asyncio.create_task(self._tick_loop(), name="lpsim-ticks")
        log.info("lpsim_started", port=self.port, sender=self._sender, targets=self._targets)

    async def stop(self) -> None:
        """Stop streaming and close every session."""
        if self._tick_task is not None:
            self._tick_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tick_task
        for symbol in list(self._streams):
            await self.stop_stream(symbol)
        for task in list(self._tasks):
            task.cancel()
        if self._acceptor is not None:
            await self._acceptor.stop()
            self._acceptor = None
        LOGGED_ON.set(0)
        log.info("lpsim_stopped")

    # -- control operations ------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        """Sessions, config and current prices, as JSON-ready data (decimals as strings)."""
        return {
            "fixPort": self.port,
            "sessions": [
                {
                    "sessionId": key,
                    "loggedOn": s.logged_on,
                    "subscriptions": sorted(s.subscriptions),
                }
                for key, s in self.sessions.items()
            ],
            "config": self.config.as_json(),
            "prices": {
                sym: {"bid": str(p.bid), "ask": str(p.ask)} for sym, p in self.book.prices.items()
            },
            "restingOrders": len(self._resting),
            "streams": {
                sym: {**s.spec.as_json(), **s.stats.as_json()} for sym, s in self._streams.items()
            },
        }

    def update_config(self, **changes: Any) -> SimConfig:
        """Change runtime knobs (latency_ms, reject_rate, partial_fills, tick_interval_ms, walk)."""
        current = asdict(self.config)
        unknown = set(changes) - set(current)
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        current.update({k: v for k, v in changes.items() if v is not None})
        new = SimConfig(**current)
        if not 0 <= new.reject_rate <= 1 or new.partial_fills < 1 or new.tick_interval_ms < 1:
            raise ValueError("rejectRate in [0,1], partialFills >= 1, tickIntervalMs >= 1")
        if new.latency_ms < 0:
            raise ValueError("latencyMs >= 0")
        self.config = new
        log.info("lpsim_config_changed", **new.as_json())
        return new

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
            session = fix.Session.lookupSession(state.session_id)
            if session is not None and session.isLoggedOn():
                # Session.logout() sends a Logout and disables the session; _on_logout enables it
                # again so that the initiator's reconnect is accepted.
                session.logout("simulated disconnect")
                self._reenable.add(engine.session_key(state.session_id))
                count += 1
        DISCONNECTS.inc()
        log.info("lpsim_disconnect", sessions=count)
        return count

    # -- QuickFIX events (on the loop) -------------------------------------------------------

    def _on_create(self, session_id: fix.SessionID) -> None:
        self.sessions.setdefault(engine.session_key(session_id), SessionState(session_id))

    def _on_logon(self, key: str) -> None:
        state = self.sessions.get(key)
        if state is not None:
            state.logged_on = True
            state.subscriptions.clear()
        LOGGED_ON.set(sum(s.logged_on for s in self.sessions.values()))
        log.info("lpsim_logon", session=key)

    def _on_logout(self, key: str) -> None:
        state = self.sessions.get(key)
        if state is not None:
            state.logged_on = False
            state.subscriptions.clear()
            if key in self._reenable:
                self._reenable.discard(key)
                session = fix.Session.lookupSession(state.session_id)
                if session is not None:
                    session.logon()
        LOGGED_ON.set(sum(s.logged_on for s in self.sessions.values()))
        log.info("lpsim_logout", session=key)

    def _on_command(self, command: NewOrder | CancelRequest | MdRequest) -> None:
        state = self.sessions.get(command.session)
        if state is None:
            return
        if isinstance(command, MdRequest):
            self._on_md_request(state, command)
        elif isinstance(command, NewOrder):
            self._spawn(self._on_new_order(state, command))
        else:
            self._spawn(self._on_cancel(state, command))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- market data -------------------------------------------------------------------------

    def _on_md_request(self, state: SessionState, req: MdRequest) -> None:
        if req.request_type == "2":
            for sym in [s for s, rid in state.subscriptions.items() if rid == req.req_id]:
                del state.subscriptions[sym]
            for sym in req.symbols:
                state.subscriptions.pop(sym, None)
            log.info(
                "lpsim_md_unsubscribed",
                session=engine.session_key(state.session_id),
                req_id=req.req_id,
            )
            return
        unknown = [s for s in req.symbols if s not in self.book]
        if unknown or not req.symbols:
            reject = fix44.MarketDataRequestReject()
            set_str(reject, 262, req.req_id)
            set_str(reject, 281, "0")  # UNKNOWN_SYMBOL
            set_str(reject, 58, f"unknown symbol: {','.join(unknown) or '(none)'}")
            send(reject, state.session_id)
            MD_SENT.labels("Y").inc()
            return
        for sym in req.symbols:
            send(self._snapshot(req.req_id, sym), state.session_id)
            MD_SENT.labels("W").inc()
            if req.request_type == "1":
                state.subscriptions[sym] = req.req_id

    def _snapshot(self, req_id: str, symbol: str) -> fix.Message:
        price = self.book.get(symbol)
        msg = fix44.MarketDataSnapshotFullRefresh()
        set_str(msg, 262, req_id)
        set_str(msg, 55, symbol)
        for entry_type, px in (("0", price.bid), ("1", price.ask)):
            group = fix44.MarketDataSnapshotFullRefresh.NoMDEntries()
            set_str(group, 269, entry_type)
            set_str(group, 270, px)
            set_str(group, 271, BOOK_SIZE)
            msg.addGroup(group)
        return msg

    def _incremental(self, req_id: str, symbol: str) -> fix.Message:
        price = self.book.get(symbol)
        msg = fix44.MarketDataIncrementalRefresh()
        set_str(msg, 262, req_id)
        for entry_type, px in (("0", price.bid), ("1", price.ask)):
            group = fix44.MarketDataIncrementalRefresh.NoMDEntries()
            set_str(group, 279, "1")  # CHANGE
            set_str(group, 269, entry_type)
            set_str(group, 55, symbol)
            set_str(group, 270, px)
            set_str(group, 271, BOOK_SIZE)
            msg.addGroup(group)
        return msg

    def _publish(self, symbol: str | None = None, exclude: Collection[str] = ()) -> None:
        for state in self.sessions.values():
            if not state.logged_on:
                continue
            for sym, req_id in list(state.subscriptions.items()):
                if (symbol is not None and sym != symbol) or sym in exclude:
                    continue
                if send(self._incremental(req_id, sym), state.session_id):
                    MD_SENT.labels("X").inc()

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
        return f"{prefix}{next(self._ids)}"

    def _report(
        self,
        order: NewOrder,
        order_id: str,
        exec_type: str,
        ord_status: str,
        cum_qty: Decimal,
        leaves_qty: Decimal,
        avg_px: Decimal,
        *,
        last_qty: Decimal | None = None,
        last_px: Decimal | None = None,
        text: str | None = None,
        rej_reason: str | None = None,
        cl_ord_id: str | None = None,
        orig_cl_ord_id: str | None = None,
    ) -> fix.Message:
        msg = fix44.ExecutionReport()
        set_str(msg, 37, order_id)
        set_str(msg, 17, self._next_id("E"))
        set_str(msg, 150, exec_type)
        set_str(msg, 39, ord_status)
        set_str(msg, 11, cl_ord_id or order.cl_ord_id)
        if orig_cl_ord_id:
            set_str(msg, 41, orig_cl_ord_id)
        set_str(msg, 55, order.symbol or "UNKNOWN")
        set_str(msg, 54, order.side or BUY)
        set_str(msg, 40, order.ord_type)
        if order.qty is not None:
            set_str(msg, 38, order.qty)
        if order.price is not None:
            set_str(msg, 44, order.price)
        set_str(msg, 151, leaves_qty)
        set_str(msg, 14, cum_qty)
        set_str(msg, 6, avg_px)
        if last_qty is not None:
            set_str(msg, 32, last_qty)
        if last_px is not None:
            set_str(msg, 31, last_px)
        if text:
            set_str(msg, 58, text)
        if rej_reason:
            set_str(msg, 103, rej_reason)
        set_str(msg, 60, _now_fix())
        return msg

    def _reject(self, state: SessionState, order: NewOrder, reason: str, text: str) -> None:
        zero = Decimal(0)
        order_id = self._next_id("O")
        send(
            self._report(order, order_id, "8", "8", zero, zero, zero, text=text, rej_reason=reason),
            state.session_id,
        )
        ORDERS.labels("rejected").inc()
        log.info("lpsim_order_rejected", cl_ord_id=order.cl_ord_id, text=text)

    def _marketable_price(self, order: NewOrder) -> Decimal | None:
        price = self.book.get(order.symbol)
        px = price.ask if order.side == BUY else price.bid
        if order.ord_type == "2" and order.price is not None:
            if order.side == BUY and px > order.price:
                return None
            if order.side == SELL and px < order.price:
                return None
        return px

    def _fill(self, state: SessionState, order: NewOrder, order_id: str, px: Decimal) -> None:
        assert order.qty is not None
        cum = Decimal(0)
        for piece in split_quantity(order.qty, self.config.partial_fills):
            cum += piece
            leaves = order.qty - cum
            status = "2" if leaves == 0 else "1"
            report = self._report(
                order, order_id, "F", status, cum, leaves, px, last_qty=piece, last_px=px
            )
            send(report, state.session_id)
        ORDERS.labels("filled").inc()
        log.info("lpsim_order_filled", cl_ord_id=order.cl_ord_id, price=str(px), qty=str(order.qty))

    async def _on_new_order(self, state: SessionState, order: NewOrder) -> None:
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        if order.symbol not in self.book:
            self._reject(state, order, "1", f"unknown symbol {order.symbol}")
            return
        if order.qty is None or order.qty <= 0 or order.side not in (BUY, SELL):
            self._reject(state, order, "99", "invalid quantity or side")
            return
        if order.ord_type not in ("1", "2") or (order.ord_type == "2" and order.price is None):
            self._reject(state, order, "99", "unsupported order type")
            return
        if order.cl_ord_id in state.cl_ord_ids:
            self._reject(state, order, "6", "duplicate ClOrdID")
            return
        state.cl_ord_ids.add(order.cl_ord_id)
        if self.config.reject_rate > 0 and self._rng.random() < self.config.reject_rate:
            self._reject(state, order, "99", "simulated reject")
            return
        order_id = self._next_id("O")
        zero = Decimal(0)
        send(self._report(order, order_id, "0", "0", zero, order.qty, zero), state.session_id)
        px = self._marketable_price(order)
        if px is not None:
            self._fill(state, order, order_id, px)
            return
        if order.tif in ("3", "4"):  # IOC / FOK that cannot trade now
            send(
                self._report(order, order_id, "4", "4", zero, zero, zero, text="not marketable"),
                state.session_id,
            )
            ORDERS.labels("cancelled").inc()
            return
        key = engine.session_key(state.session_id)
        self._resting[(key, order.cl_ord_id)] = RestingOrder(order, order_id)
        ORDERS.labels("resting").inc()

    def _match_resting(self, symbol: str | None) -> None:
        for key, resting in list(self._resting.items()):
            order = resting.order
            if symbol is not None and order.symbol != symbol:
                continue
            state = self.sessions.get(key[0])
            if state is None or not state.logged_on:
                continue
            px = self._marketable_price(order)
            if px is not None:
                del self._resting[key]
                self._fill(state, order, resting.order_id, px)

    async def _on_cancel(self, state: SessionState, cancel: CancelRequest) -> None:
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)
        key = (engine.session_key(state.session_id), cancel.orig_cl_ord_id)
        resting = self._resting.pop(key, None)
        if resting is None:
            reject = fix44.OrderCancelReject()
            set_str(reject, 37, "NONE")
            set_str(reject, 11, cancel.cl_ord_id)
            set_str(reject, 41, cancel.orig_cl_ord_id)
            set_str(reject, 39, "8")
            set_str(reject, 434, "1")  # response to an OrderCancelRequest
            set_str(reject, 102, "1")  # unknown order
            set_str(reject, 58, "unknown order")
            send(reject, state.session_id)
            ORDERS.labels("cancel_rejected").inc()
            return
        order = resting.order
        zero = Decimal(0)
        report = self._report(
            order,
            resting.order_id,
            "4",
            "4",
            zero,
            zero,
            zero,
            cl_ord_id=cancel.cl_ord_id,
            orig_cl_ord_id=cancel.orig_cl_ord_id,
        )
        send(report, state.session_id)
        ORDERS.labels("cancelled").inc()
