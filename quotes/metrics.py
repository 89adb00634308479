"""Prometheus metrics of the quotes pipeline (registered once per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from fxmesh.metrics import LATENCY_BUCKETS

TICKS_ACCEPTED = Counter(
    "fxmesh_quotes_ticks_accepted_total",
    "Raw LP ticks that passed validation, by symbol.",
    ["symbol"],
)
TICKS_DROPPED = Counter(
    "fxmesh_quotes_ticks_dropped_total", "Raw LP ticks dropped, by reason.", ["reason"]
)
TICK_TO_REDIS = Histogram(
    "fxmesh_quotes_tick_to_redis_seconds",
    "From receipt of an LP tick batch to its client quote written to Redis.",
    buckets=LATENCY_BUCKETS,
)
QUOTES_WRITTEN = Counter(
    "fxmesh_quotes_client_quotes_written_total", "Client quotes written to Redis.", ["symbol"]
)
REDIS_ERRORS = Counter("fxmesh_quotes_redis_errors_total", "Failed client quote writes to Redis.")
SETTINGS_RELOADS = Counter(
    "fxmesh_quotes_settings_reloads_total", "Pricing settings reloads, by outcome.", ["outcome"]
)
TICKS_STORED = Counter("fxmesh_quotes_ticks_stored_total", "Client ticks stored in PostgreSQL.")
TICKS_STORE_DROPPED = Counter(
    "fxmesh_quotes_ticks_store_dropped_total",
    "Client ticks not stored because the buffer was full.",
)
LP_TICKS = Counter(
    "fxmesh_quotes_lp_ticks_total", "Raw ticks accepted, by LP and symbol.", ["lp", "symbol"]
)
LP_TICKS_DROPPED = Counter(
    "fxmesh_quotes_lp_ticks_dropped_total", "Raw ticks dropped, by LP and reason.", ["lp", "reason"]
)
LP_QUOTE_LATENCY = Histogram(
    "fxmesh_quotes_lp_quote_latency_seconds",
    "From an LP's tick time (FIX SendingTime) to the client quote it fed written to Redis, by LP.",
    ["lp"],
    buckets=LATENCY_BUCKETS,
)
