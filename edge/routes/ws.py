"""WebSocket /ws: account events and ticks for one authenticated client.

Protocol (JSON text frames):
- authenticate with ``/ws?token=...`` or a first message ``{"type":"auth","token":"..."}`` (within
  ``ws_auth_timeout_seconds``); the server answers ``{"type":"authenticated","accountId":...}`` or
  ``{"type":"error","code":"UNAUTHENTICATED"}`` and closes with 4401 (a revoked token too). More
  than ``ws_max_sockets_per_account`` sockets of one account (across every replica):
  ``{"type":"error","code":"TOO_MANY_SOCKETS"}`` and close 1008.
- subscriptions, the design's form::

      {"action":"subscribe","type":"quotes","symbols":["EURUSD"]}
      {"action":"subscribe","type":"account"}     # account_update, order_*, margin_call(_cleared)
      {"action":"subscribe","type":"positions"}   # position_update, and live P&L (below)
      {"action":"unsubscribe","type":"quotes","symbols":[...]}  # no symbols: every symbol
      {"action":"unsubscribe","type":"account"|"positions"}

  answered ``{"type":"subscribed"|"unsubscribed","subscription":<type>,"symbols":[...]}``
  (symbols: every quote subscription of the socket, for quotes). Default, for the clients written
  before subscriptions: a socket that has never sent an ``action`` message gets every account
  event; its first ``action`` message (of any type) switches it to exactly what it subscribes.
  The older form ``{"type":"subscribe","symbols":[...]}`` -> ``{"type":"subscribed","symbols":
  [...]}`` and ``{"type":"unsubscribe","symbols":[...]}`` still work for quotes.
- after a quotes subscription: the current quote of each symbol, then
  ``{"type":"tick","symbol","bid","ask","spread","timestamp","ts"}`` on every update (spread: ask
  - bid; timestamp and ts: epoch milliseconds; a slow socket gets only the newest tick per symbol).
  At most ``ws_max_symbols`` symbols per socket (else ``TOO_MANY_SUBSCRIPTIONS``).
- account events, only those of the token's account, in the order oms published them, every one
  published after the ``authenticated`` message (wait for it before trading)::

      {"type": "<event>", "data": {...}, "eventId": "...", "occurredAt": "2026-03-02T10:00:00.000Z"}

  where ``<event>`` is one of ``fxmesh.eventtypes.CLIENT_EVENT_TYPES``: ``order_update`` (an order
  changed state: working, modified, triggered, cancelled, expired), ``order_filled``,
  ``order_rejected``, ``position_update`` (opened, changed or closed), ``account_update`` (balance
  or live figures changed), ``margin_call`` (the margin level reached the margin-call level) and
  ``margin_call_cleared`` (it is back above it).
  ``data`` is oms's payload as published (camelCase, decimal strings; its keys are the TypedDicts of
  ``fxmesh.eventtypes``): edge forwards it untouched.
  ``account_update`` also has ``balance, equity, margin, freeMargin, marginLevel, unrealizedPnL``
  at the top level; ``position_update`` has ``action`` (opened / modified / closed) and
  ``position`` (the payload with ``currentPrice`` and ``unrealizedPnL``).
  Delivery is at least once upstream; a repeated ``eventId`` is not sent twice.
- live P&L (``edge.marks``), to sockets subscribed to ``positions``: as prices move, the current
  figures as ``{"type":"account_update","reason":"prices", balance, equity, margin, freeMargin,
  marginLevel, unrealizedPnL, ...}`` and each open position whose price or P&L moved as
  ``{"type":"position_update","action":"modified","reason":"prices","position":{positionId,
  symbol, side, volume, openPrice, currentPrice, unrealizedPnL}}``; at most one per
  ``marks_interval_seconds`` of oms, the newest only for a slow reader. The current state comes
  right after the subscription, so a client never polls for P&L.
- ``{"type":"heartbeat","ts":...}`` every ``ws_heartbeat_seconds``; ``{"type":"ping"}`` ->
  ``{"type":"pong"}``. The socket is closed with 4401 when the token expires or is revoked
  (logout, a reused refresh token: ``{"type":"error","code":"TOKEN_REVOKED"}`` first, on every
  replica at once), and with 1013 when it falls ``ws_max_pending_events`` events behind, or
  (after ``{"type":"error","code":"UNAVAILABLE"}``) when the account's events cannot be
  subscribed at connect time.
- client messages are limited per socket by a token bucket (``ws_messages_per_second``,
  ``ws_message_burst``): a message over the rate is dropped with one
  ``{"type":"error","code":"RATE_LIMITED"}``; a socket that keeps sending far over it is closed
  1008.
- a client that stops reading is never sent an unbounded backlog: once its socket's buffers are
  full, only the newest tick per symbol is kept for it, and it gets that when it reads again.
- a message the server does not understand -> ``{"type":"error","code":"UNKNOWN_MESSAGE"|
  "INVALID_JSON"|"INVALID_SYMBOLS","message":...}``; the socket stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from redis.exceptions import RedisError

from edge.deps import EdgeResources
from edge.feeds import AccountEventsUnavailable, tick_message
from edge.hub import REVOKED, AsgiSink, Connection
from edge.limits import TokenBucket
from edge.wsserver import raw_sink
from fxmesh.auth import TokenClaims
from fxmesh.errors import Unauthenticated
from fxmesh.quotecache import read_quote

log = structlog.stdlib.get_logger(__name__)
router = APIRouter(tags=["ws"])

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_POLICY_VIOLATION = 1008
UNAVAILABLE = {
    "type": "error",
    "code": "UNAVAILABLE",
    "message": "account events are unavailable; reconnect later",
}
TOO_MANY_SOCKETS = {
    "type": "error",
    "code": "TOO_MANY_SOCKETS",
    "message": "this account has too many open sockets",
}
MAX_SYMBOLS = 100
"""Symbols in one message (the socket's total is ``ws_max_symbols``)."""
# Dropped messages in a row (over the rate) after which the socket is closed 1008.
MAX_DROPPED_IN_A_ROW = 200
ACCOUNT_STREAMS = frozenset({"account", "positions"})
_SYMBOL = re.compile(r"^[A-Za-z0-9._#-]{1,32}$")


async def _authenticate(ws: WebSocket, res: EdgeResources) -> TokenClaims | None:
    token = ws.query_params.get("token")
    try:
        if token is None:
            raw = await asyncio.wait_for(ws.receive_text(), res.settings.ws_auth_timeout_seconds)
            first = json.loads(raw)
            if not isinstance(first, dict) or first.get("type") != "auth":
                raise Unauthenticated("authenticate first", metadata={"cause": "AUTH_EXPECTED"})
            token = str(first.get("token") or "")
        return res.tokens.verify(token)
    except (Unauthenticated, TimeoutError, ValueError) as exc:
        message = exc.message if isinstance(exc, Unauthenticated) else "authentication required"
        await _refuse(ws, "UNAUTHENTICATED", message, CLOSE_UNAUTHENTICATED)
        return None


async def _refuse(ws: WebSocket, code: str, message: str, close_code: int) -> None:
    with contextlib.suppress(Exception):
        await ws.send_text(json.dumps({"type": "error", "code": code, "message": message}))
        await ws.close(close_code, message[:100])


def _symbols(msg: dict[str, Any]) -> set[str] | None:
    symbols = msg.get("symbols")
    if not isinstance(symbols, list) or len(symbols) > MAX_SYMBOLS:
        return None
    if not all(isinstance(s, str) and _SYMBOL.match(s) for s in symbols):
        return None
    return set(symbols)


async def _heartbeat(
    ws: WebSocket, conn: Connection, claims: TokenClaims, res: EdgeResources, socket_id: str
) -> None:
    """Heartbeats; on each: the token's expiry, its revocation (should a revocation message have
    been missed) and the renewal of the socket's lease."""
    while True:
        await asyncio.sleep(res.settings.ws_heartbeat_seconds)
        if datetime.now(UTC) >= claims.expires_at:
            with contextlib.suppress(Exception):
                await ws.close(CLOSE_UNAUTHENTICATED, "token expired")
            return
        try:
            if await res.sessions.is_revoked(claims):
                conn.offer(REVOKED)
                conn.close(CLOSE_UNAUTHENTICATED, "token revoked")
                return
            await res.sockets.acquire(conn.account_id, socket_id)
        except RedisError as exc:
            log.warning("ws_heartbeat_redis_failed", error=str(exc))
        conn.offer({"type": "heartbeat", "ts": int(time.time() * 1000)})


def _error(conn: Connection, code: str, message: str) -> None:
    conn.offer({"type": "error", "code": code, "message": message})


async def _subscribe_quotes(
    conn: Connection, res: EdgeResources, symbols: set[str], reply: dict[str, Any]
) -> None:
    if len(conn.symbols | symbols) > res.settings.ws_max_symbols:
        limit = res.settings.ws_max_symbols
        _error(conn, "TOO_MANY_SUBSCRIPTIONS", f"at most {limit} symbols per socket")
        return
    # The group as oms has it now: an admin's change shows from the next subscription.
    conn.group = await res.groups.of(conn.account_id)
    res.hub.subscribe(conn, symbols)
    conn.offer({**reply, "symbols": sorted(conn.symbols)})
    for symbol in sorted(symbols):
        quote = await read_quote(res.redis, symbol, conn.group)
        if quote is not None:
            res.hub.send_tick(conn, symbol, tick_message(quote))


async def _action(msg: dict[str, Any], conn: Connection, res: EdgeResources) -> None:
    """The design's ``{"action": "subscribe" | "unsubscribe", "type": ...}`` messages."""
    action, kind = msg.get("action"), msg.get("type")
    if action not in ("subscribe", "unsubscribe"):
        _error(conn, "UNKNOWN_MESSAGE", "action is subscribe or unsubscribe")
        return
    if kind not in ("quotes", *ACCOUNT_STREAMS):
        _error(conn, "UNKNOWN_MESSAGE", "type is quotes, account or positions")
        return
    if conn.streams is None:
        conn.streams = set()  # from now on: only what the socket subscribes
    reply: dict[str, Any] = {"type": f"{action}d", "subscription": kind}
    if kind in ACCOUNT_STREAMS:
        had_marks = conn.wants_marks
        if action == "subscribe":
            conn.streams.add(kind)
        else:
            conn.streams.discard(kind)
        conn.offer(reply)
        if conn.wants_marks and not had_marks:
            res.marks.attach(conn)
        elif had_marks and not conn.wants_marks:
            res.marks.detach(conn)
        return
    if action == "unsubscribe" and "symbols" not in msg:
        res.hub.unsubscribe(conn, set(conn.symbols))
        conn.offer({**reply, "symbols": []})
        return
    symbols = _symbols(msg)
    if symbols is None:
        _error(conn, "INVALID_SYMBOLS", "bad symbols")
        return
    if action == "unsubscribe":
        res.hub.unsubscribe(conn, symbols)
        conn.offer({**reply, "symbols": sorted(conn.symbols)})
        return
    await _subscribe_quotes(conn, res, symbols, reply)


async def _handle(msg: Any, conn: Connection, res: EdgeResources) -> None:
    if isinstance(msg, dict) and "action" in msg:
        await _action(msg, conn, res)
        return
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "subscribe" or kind == "unsubscribe":
        symbols = _symbols(msg)
        if symbols is None:
            _error(conn, "INVALID_SYMBOLS", "bad symbols")
            return
        if kind == "unsubscribe":
            res.hub.unsubscribe(conn, symbols)
            conn.offer({"type": "unsubscribed", "symbols": sorted(symbols)})
            return
        await _subscribe_quotes(conn, res, symbols, {"type": "subscribed"})
    elif kind == "ping":
        conn.offer({"type": "pong", "ts": int(time.time() * 1000)})
    elif kind == "auth":
        conn.offer({"type": "authenticated", "accountId": conn.account_id})
    else:
        _error(conn, "UNKNOWN_MESSAGE", "unknown message type")


async def _admit(ws: WebSocket, claims: TokenClaims, res: EdgeResources, socket_id: str) -> bool:
    """Refuse (and close) a revoked token or one socket too many of the account."""
    try:
        if await res.sessions.is_revoked(claims):
            await _refuse(ws, "UNAUTHENTICATED", "token has been revoked", CLOSE_UNAUTHENTICATED)
            return False
        if not await res.sockets.acquire(claims.subject, socket_id):
            message = str(TOO_MANY_SOCKETS["message"])
            await _refuse(ws, "TOO_MANY_SOCKETS", message, CLOSE_POLICY_VIOLATION)
            return False
    except RedisError as exc:
        log.warning("ws_admission_redis_failed", error=str(exc))
        await _refuse(ws, "UNAVAILABLE", "try again later", CLOSE_TRY_AGAIN_LATER)
        return False
    return True


@router.websocket("/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    res: EdgeResources = ws.app.state.resources
    await ws.accept()
    claims = await _authenticate(ws, res)
    if claims is None:
        return
    account_id = claims.subject
    socket_id = uuid.uuid4().hex
    sink = raw_sink(ws.scope) or AsgiSink(ws.send_text)
    conn = Connection(
        account_id,
        sink,
        ws.close,
        res.settings.ws_max_pending_events,
        session_id=claims.session_id,
        token_id=claims.token_id,
    )
    # In the hub before the revocation check: a logout from now on closes it by its message.
    res.hub.add(conn)
    attached = leased = False
    heartbeat: asyncio.Task[None] | None = None
    bucket = TokenBucket(res.settings.ws_messages_per_second, res.settings.ws_message_burst)
    dropped = 0
    try:
        if not await _admit(ws, claims, res, socket_id):
            return
        leased = True
        try:
            await res.events.attach(account_id)
            attached = True
        except AccountEventsUnavailable as exc:
            log.warning("ws_account_events_unavailable", account_id=account_id, error=str(exc))
            with contextlib.suppress(Exception):
                await ws.send_text(json.dumps(UNAVAILABLE))
                await ws.close(CLOSE_TRY_AGAIN_LATER, "account events unavailable")
            return
        conn.offer({"type": "authenticated", "accountId": account_id})
        heartbeat = asyncio.create_task(_heartbeat(ws, conn, claims, res, socket_id))
        log.info("ws_connected", account_id=account_id)
        while True:
            raw = await ws.receive_text()
            if not bucket.take():
                dropped += 1
                if dropped == 1:
                    _error(conn, "RATE_LIMITED", "too many messages; slow down")
                elif dropped >= MAX_DROPPED_IN_A_ROW:
                    conn.close(CLOSE_POLICY_VIOLATION, "too many messages")
                continue
            dropped = 0
            try:
                msg = json.loads(raw)
            except ValueError:
                _error(conn, "INVALID_JSON", "not JSON")
                continue
            await _handle(msg, conn, res)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        if conn.wants_marks:
            res.marks.detach(conn)
        res.hub.remove(conn)
        await conn.stop()
        if leased:
            with contextlib.suppress(RedisError):
                await res.sockets.release(account_id, socket_id)
        if attached:
            await res.events.detach(account_id)
            log.info("ws_disconnected", account_id=account_id)
