"""edge's HTTP server: uvicorn, with a WebSocket protocol the hub can write prebuilt frames to.

Through ASGI every message a socket gets is its own trip through Starlette, uvicorn and
websockets' sans-I/O state machine, which serializes the frame again for each socket: tens of
microseconds per message, so a tick to 1000 subscribers costs tens of milliseconds of one core.
``EdgeWebSocketProtocol`` is uvicorn's websockets sans-I/O protocol that also offers itself to the
app in the ASGI scope (extension ``RAW_EXTENSION``): the hub then builds a tick's frame once and
writes it to each subscriber's transport (the protocol is the connection's ``edge.hub.Sink``). The handshake, reading, pings and
the closing handshake stay uvicorn's; a frame is written whole, so frames never interleave.

permessage-deflate is not negotiated: ticks are ~100 bytes, so per-socket compression would save
little bandwidth for CPU on every message and a compressor of tens of KiB per socket, and a frame
built once could not be shared by sockets with their own compression contexts.

Bounded send buffers: above ``HIGH_WATER`` bytes waiting in a socket's user-space buffer the hub
stops writing to it and conflates its ticks until the buffer drains below ``LOW_WATER``; the
kernel keeps at most ``NOTSENT_LOWAT`` unsent bytes per socket, so a client that stops reading
finds little stale data queued in front of the newest price when it resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Mapping
from typing import Any, cast

from edge.hub import FULL, GONE, WRITTEN, Outgoing, Sink
from fxmesh.http import EmbeddedServer, http_server

RAW_EXTENSION = "fxmesh.websocket.raw"
HIGH_WATER = 16 * 1024
LOW_WATER = 4 * 1024
NOTSENT_LOWAT = 16 * 1024

try:
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
except ImportError:  # pragma: no cover - an older uvicorn: plain ASGI sends (edge.hub.AsgiSink)
    WebSocketsSansIOProtocol = None  # type: ignore[assignment, misc]


def raw_sink(scope: Mapping[str, Any]) -> Sink | None:
    """The connection's protocol as a ``Sink`` when edge's protocol serves it, else None."""
    extension = (scope.get("extensions") or {}).get(RAW_EXTENSION)
    sink = extension.get("sink") if isinstance(extension, dict) else None
    return cast(Sink, sink) if sink is not None else None


if WebSocketsSansIOProtocol is not None:

    class EdgeWebSocketProtocol(WebSocketsSansIOProtocol):
        """uvicorn's sans-I/O WebSocket protocol, and an ``edge.hub.Sink`` of prebuilt frames."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._paused = False
            self._writable_callback: Callable[[], None] | None = None

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            self.transport.set_write_buffer_limits(high=HIGH_WATER, low=LOW_WATER)
            sock = transport.get_extra_info("socket")
            notsent = getattr(socket, "TCP_NOTSENT_LOWAT", None)
            if sock is not None and notsent is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, notsent, NOTSENT_LOWAT)

        def handle_connect(self, event: Any) -> None:
            super().handle_connect(event)
            scope = getattr(self, "scope", None)
            if scope is not None and self.response.status_code == 101:
                extensions = scope.setdefault("extensions", {})
                extensions[RAW_EXTENSION] = {"sink": self}

        def pause_writing(self) -> None:
            super().pause_writing()
            self._paused = True

        def resume_writing(self) -> None:
            super().resume_writing()
            self._paused = False
            callback = self._writable_callback
            if callback is not None:
                callback()

        def connection_lost(self, exc: Exception | None) -> None:
            self._writable_callback = None
            super().connection_lost(exc)

        # -- edge.hub.Sink --------------------------------------------------------------------

        def try_write(self, message: Outgoing) -> int:
            if self._paused:
                return FULL
            if self.close_sent or self.disconnected or self.transport.is_closing():
                return GONE
            self.transport.write(message.frame)
            return WRITTEN

        def on_writable(self, callback: Callable[[], None] | None) -> None:
            self._writable_callback = callback

        def buffered_bytes(self) -> int:
            return self.transport.get_write_buffer_size()


def edge_http_server(app: object, addr: str, *, ws_ping_interval: float) -> EmbeddedServer:
    """``fxmesh.http.http_server`` with edge's WebSocket protocol and no permessage-deflate."""
    server = http_server(app, addr, ws_ping_interval=ws_ping_interval)
    server.config.ws_per_message_deflate = False
    if WebSocketsSansIOProtocol is not None:
        server.config.ws = EdgeWebSocketProtocol
    return server
