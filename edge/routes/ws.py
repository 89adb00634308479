"""WebSocket /ws: account events and ticks for one authenticated client.

Protocol (JSON text frames):
- authenticate with ``/ws?token=...`` or a first message ``{"type":"auth","token":"..."}`` (within
  ``ws_auth_timeout_seconds``); the server answers ``{"type":"authenticated","accountId":...}`` or
  ``{"type":"error","code":"UNAUTHENTICATED"}`` and closes with 4401.
- ``{"type":"subscribe","symbols":["EURUSD"]}`` -> ``{"type":"subscribed","symbols":[...]}``, the
  current quote of each symbol, then ``{"type":"tick","symbol","bid","ask","ts"}`` on every update
  (ts: epoch milliseconds; a slow socket gets only the newest tick per symbol);
  ``{"type":"unsubscribe","symbols":[...]}`` stops them.
- account events, only those of the token's account, in the order oms published them, every one
  published after the ``authenticated`` message (wait for it before trading)::

      {"type": "<event>", "data": {...}, "eventId": "...", "occurredAt": "2026-03-02T10:00:00.000Z"}

  where ``<event>`` is one of ``edge.feeds.CLIENT_EVENT_TYPES``: ``order_update`` (an order
  changed state: working, modified, triggered, cancelled, expired), ``order_filled``,
  ``order_rejected``, ``position_update`` (opened, changed or closed), ``account_update`` (balance
  or live figures changed) and ``margin_call`` (the margin level reached the margin-call level).
  ``data`` is oms's payload as published (camelCase, decimal strings): edge forwards it untouched.
  Delivery is at least once upstream; a repeated ``eventId`` is not sent twice.
- ``{"type":"heartbeat","ts":...}`` every ``ws_heartbeat_seconds``; ``{"type":"ping"}`` ->
  ``{"type":"pong"}``. The socket is closed with 4401 when the token expires and with 1013 when it
  falls ``ws_max_pending_events`` events behind, or (after ``{"type":"error","code":"UNAVAILABLE"}``)
  when the account's events cannot be subscribed at connect time.
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
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from edge.deps import EdgeResources
from edge.feeds import AccountEventsUnavailable, tick_message
from edge.hub import AsgiSink, Connection
from edge.wsserver import raw_sink
from fxmesh.auth import TokenClaims, verify_token
from fxmesh.errors import Unauthenticated
from fxmesh.quotecache import read_quote

log = structlog.stdlib.get_logger(__name__)
router = APIRouter(tags=["ws"])

CLOSE_UNAUTHENTICATED = 4401
CLOSE_TRY_AGAIN_LATER = 1013
UNAVAILABLE = {
    "type": "error",
    "code": "UNAVAILABLE",
    "message": "account events are unavailable; reconnect later",
}
MAX_SYMBOLS = 100
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
        return verify_token(res.settings.jwt_secret, token, expected_type="client")
    except (Unauthenticated, TimeoutError, ValueError) as exc:
        message = exc.message if isinstance(exc, Unauthenticated) else "authentication required"
        with contextlib.suppress(Exception):
            await ws.send_text(
                json.dumps({"type": "error", "code": "UNAUTHENTICATED", "message": message})
            )
            await ws.close(CLOSE_UNAUTHENTICATED, "unauthenticated")
        return None


def _symbols(msg: dict[str, Any]) -> set[str] | None:
    symbols = msg.get("symbols")
    if not isinstance(symbols, list) or len(symbols) > MAX_SYMBOLS:
        return None
    if not all(isinstance(s, str) and _SYMBOL.match(s) for s in symbols):
        return None
    return set(symbols)


async def _heartbeat(ws: WebSocket, conn: Connection, claims: TokenClaims, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        if datetime.now(UTC) >= claims.expires_at:
            with contextlib.suppress(Exception):
                await ws.close(CLOSE_UNAUTHENTICATED, "token expired")
            return
        conn.offer({"type": "heartbeat", "ts": int(time.time() * 1000)})


async def _handle(msg: Any, conn: Connection, res: EdgeResources) -> None:
    kind = msg.get("type") if isinstance(msg, dict) else None
    if kind == "subscribe" or kind == "unsubscribe":
        symbols = _symbols(msg)
        if symbols is None:
            conn.offer({"type": "error", "code": "INVALID_SYMBOLS", "message": "bad symbols"})
            return
        if kind == "unsubscribe":
            res.hub.unsubscribe(conn, symbols)
            conn.offer({"type": "unsubscribed", "symbols": sorted(symbols)})
            return
        res.hub.subscribe(conn, symbols)
        conn.offer({"type": "subscribed", "symbols": sorted(conn.symbols)})
        for symbol in sorted(symbols):
            quote = await read_quote(res.redis, symbol)
            if quote is not None:
                res.hub.send_tick(conn, symbol, tick_message(quote))
    elif kind == "ping":
        conn.offer({"type": "pong", "ts": int(time.time() * 1000)})
    elif kind == "auth":
        conn.offer({"type": "authenticated", "accountId": conn.account_id})
    else:
        conn.offer({"type": "error", "code": "UNKNOWN_MESSAGE", "message": "unknown message type"})


@router.websocket("/ws")
async def websocket_endpoint(ws: WebSocket) -> None:
    res: EdgeResources = ws.app.state.resources
    await ws.accept()
    claims = await _authenticate(ws, res)
    if claims is None:
        return
    account_id = claims.subject
    sink = raw_sink(ws.scope) or AsgiSink(ws.send_text)
    conn = Connection(account_id, sink, ws.close, res.settings.ws_max_pending_events)
    res.hub.add(conn)
    attached = False
    heartbeat: asyncio.Task[None] | None = None
    try:
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
        heartbeat = asyncio.create_task(
            _heartbeat(ws, conn, claims, res.settings.ws_heartbeat_seconds)
        )
        log.info("ws_connected", account_id=account_id)
        while True:
            raw = await ws.receive_text()
            try:
                msg = json.loads(raw)
            except ValueError:
                conn.offer({"type": "error", "code": "INVALID_JSON", "message": "not JSON"})
                continue
            await _handle(msg, conn, res)
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        if heartbeat is not None:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        res.hub.remove(conn)
        await conn.stop()
        if attached:
            await res.events.detach(account_id)
            log.info("ws_disconnected", account_id=account_id)
