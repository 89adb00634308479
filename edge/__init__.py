"""edge: the client-facing REST API (/api) and WebSocket (/ws) in front of oms.

This is edge's public face: what other packages, the benchmarks and tooling may import. Anything
else is an internal module; tests may import the modules they test. A newcomer starts at
``edge/app.py`` (``create_app``: the lifespan that opens oms, quotes, Redis and RabbitMQ, and the
routes), then ``edge/routes/orders.py`` (an order from JSON to oms's PlaceOrder and back) and
``edge/hub.py`` (account events and ticks fanned out to WebSockets). ``edge/server.py`` runs the
app under ``edge_http_server``; ``python -m edge`` runs it.
"""

from __future__ import annotations

from edge.app import create_app
from edge.config import EdgeSettings
from edge.wsserver import edge_http_server

__all__ = ["EdgeSettings", "create_app", "edge_http_server"]
