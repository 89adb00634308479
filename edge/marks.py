"""Live P&L for sockets subscribed to ``positions``: oms's WatchAccount, fanned out by the hub.

One WatchAccount stream per account with a positions subscriber in this edge process (reference
counted: the first subscriber opens it, the last one leaving cancels it). oms sends the account
marked to market at most once per its marks interval, and only when something changed; each
message becomes:

- ``{"type":"account_update","reason":"prices", balance, equity, margin, freeMargin,
  marginLevel, unrealizedPnL, currency, timestamp, "data":{...}}`` (the figures also in ``data``,
  in oms's event payload names, as an event-driven ``account_update`` has them), and
- one ``{"type":"position_update","action":"modified","reason":"prices","position":{positionId,
  symbol, side, volume, openPrice, currentPrice, unrealizedPnL, profit}, timestamp}`` per position
  whose price or P&L moved.

Both are conflated per socket like ticks (``Connection.offer_tick``): a slow reader gets the newest
figures and the newest mark per position. Opening and closing a position is not a mark: those come
as events (``position_update`` opened / closed); a mark of a position already reported closed is
never sent. A stream that breaks (oms restarting) is reopened with backoff.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import grpc
import structlog

from edge.convert import enum_name, timestamp_json
from edge.hub import ACCOUNT_MARK_KEY, Connection, Hub, Outgoing, position_mark_key
from fxmesh.background import cancel_and_wait
from fxmesh.eventtypes import EventType
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2

log = structlog.stdlib.get_logger(__name__)

CLOSED_REMEMBERED = 1_000
_BACKOFF_FIRST, _BACKOFF_MAX = 0.5, 10.0


def _decimal(text: str) -> str | None:
    return text or None


def account_message(mark: oms_pb2.WatchAccountResponse, timestamp: int | None) -> Outgoing:
    figures = {
        "balance": _decimal(mark.balance),
        "equity": _decimal(mark.equity),
        "margin": _decimal(mark.margin),
        "freeMargin": _decimal(mark.free_margin),
        "marginLevel": _decimal(mark.margin_level),
    }
    return Outgoing.of(
        {
            "type": EventType.ACCOUNT_UPDATE,
            "reason": "prices",
            "accountId": mark.account_id,
            "currency": mark.currency,
            **figures,
            "unrealizedPnL": _decimal(mark.unrealized_pnl),
            "timestamp": timestamp,
            # The keys of an event's payload (``AccountData``), unknown figures null rather than "".
            "data": {
                "accountId": mark.account_id,
                "currency": mark.currency,
                **figures,
                "unrealizedPnl": _decimal(mark.unrealized_pnl),
                "reason": "prices",
            },
        }
    )


def position_message(
    account_id: str, position: oms_pb2.PositionMark, timestamp: int | None
) -> Outgoing:
    view = {
        "positionId": position.position_id,
        "accountId": account_id,
        "symbol": position.symbol,
        "side": enum_name(types_pb2.Side.DESCRIPTOR, position.side),
        "volume": position.volume,
        "openPrice": position.open_price,
        "currentPrice": _decimal(position.current_price),
        "unrealizedPnL": _decimal(position.profit),
        "profit": _decimal(position.profit),
    }
    return Outgoing.of(
        {
            "type": EventType.POSITION_UPDATE,
            "action": "modified",
            "reason": "prices",
            "position": view,
            "timestamp": timestamp,
            "data": view,
        }
    )


class _AccountStream:
    """One account's WatchAccount call, its subscribers and what they were last sent."""

    def __init__(self, account_id: str) -> None:
        self.account_id = account_id
        self.subscribers = 0
        self.task: asyncio.Task[None] | None = None
        self.account: Outgoing | None = None
        self.positions: dict[str, tuple[tuple[str, str], Outgoing]] = {}
        self.closed: OrderedDict[str, None] = OrderedDict()

    def update(self, mark: oms_pb2.WatchAccountResponse) -> list[tuple[str, Outgoing]]:
        """The messages ``mark`` makes (figures, and each position whose mark moved)."""
        at = _epoch_ms(mark)
        self.account = account_message(mark, at)
        out = [(ACCOUNT_MARK_KEY, self.account)]
        current: dict[str, tuple[tuple[str, str], Outgoing]] = {}
        for position in mark.positions:
            pid = position.position_id
            if pid in self.closed:
                continue
            shown = (position.current_price, position.profit)
            before = self.positions.get(pid)
            if before is not None and before[0] == shown:
                current[pid] = before
                continue
            message = position_message(self.account_id, position, at)
            current[pid] = (shown, message)
            out.append((position_mark_key(pid), message))
        self.positions = current
        return out

    def snapshot(self) -> list[tuple[str, Outgoing]]:
        """Everything current, for a socket that subscribes while the stream runs."""
        if self.account is None:
            return []
        return [(ACCOUNT_MARK_KEY, self.account)] + [
            (position_mark_key(pid), message) for pid, (_, message) in self.positions.items()
        ]

    def forget(self, position_id: str) -> None:
        self.positions.pop(position_id, None)
        self.closed[position_id] = None
        while len(self.closed) > CLOSED_REMEMBERED:
            self.closed.popitem(last=False)


def _epoch_ms(mark: oms_pb2.WatchAccountResponse) -> int | None:
    if not mark.HasField("as_of") or timestamp_json(mark.as_of) is None:
        return None
    return int(mark.as_of.ToMilliseconds())


class AccountMarksFeed:
    """WatchAccount streams for the accounts with a positions subscriber here."""

    def __init__(self, hub: Hub, oms: oms_pb2_grpc.OmsServiceAsyncStub) -> None:
        self._hub = hub
        self._oms = oms
        self._streams: dict[str, _AccountStream] = {}
        hub.on_position_closed = self.position_closed

    def attach(self, conn: Connection) -> None:
        """``conn`` subscribed to positions: stream its account (it gets the current marks now)."""
        stream = self._streams.get(conn.account_id)
        if stream is None:
            stream = self._streams[conn.account_id] = _AccountStream(conn.account_id)
            stream.task = asyncio.create_task(self._follow(stream), name="edge-marks")
        stream.subscribers += 1
        for key, message in stream.snapshot():
            conn.offer_tick(key, message)

    def detach(self, conn: Connection) -> None:
        """Undo one ``attach``; the last one of an account cancels its stream."""
        stream = self._streams.get(conn.account_id)
        if stream is None:
            return
        stream.subscribers -= 1
        if stream.subscribers <= 0:
            del self._streams[conn.account_id]
            if stream.task is not None:
                stream.task.cancel()

    def watched_accounts(self) -> set[str]:
        return set(self._streams)

    def position_closed(self, account_id: str, position_id: str) -> None:
        """A ``position_update`` closed event went out: no mark of it may follow."""
        stream = self._streams.get(account_id)
        if stream is not None:
            stream.forget(position_id)

    async def _follow(self, stream: _AccountStream) -> None:
        backoff = _BACKOFF_FIRST
        request = oms_pb2.WatchAccountRequest(account_id=stream.account_id)
        while True:
            try:
                async for mark in self._oms.WatchAccount(request):
                    backoff = _BACKOFF_FIRST
                    self._hub.publish_marks(stream.account_id, stream.update(mark))
                log.info("marks_stream_ended", account_id=stream.account_id)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    log.warning("marks_account_unknown", account_id=stream.account_id)
                    return
                log.warning(
                    "marks_stream_lost",
                    account_id=stream.account_id,
                    code=exc.code().name,
                    retry_in_s=backoff,
                )
            except Exception:  # a bug must not end the account's P&L for good
                log.exception("marks_stream_failed", account_id=stream.account_id)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _BACKOFF_MAX)

    async def close(self) -> None:
        tasks = [s.task for s in self._streams.values() if s.task is not None]
        self._streams.clear()
        await cancel_and_wait(tasks)
