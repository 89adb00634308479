"""edge Prometheus metrics (module singletons: one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from fxmesh.http import HttpMetrics

SERVICE = "edge"
# fxmesh_edge_http_requests_total / fxmesh_edge_http_request_seconds (used by the request middleware).
HTTP = HttpMetrics(SERVICE)
WS_CONNECTIONS = Gauge("fxmesh_edge_ws_connections", "Open WebSocket connections.")
WS_MESSAGES_SENT = Counter(
    "fxmesh_edge_ws_messages_sent_total", "WebSocket messages sent, by type.", ["type"]
)
WS_TICKS_CONFLATED = Counter(
    "fxmesh_edge_ws_ticks_conflated_total",
    "Ticks replaced by a newer tick before a slow socket could be sent the older one.",
)
