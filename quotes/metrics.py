"""Prometheus metrics of the quotes pipeline (registered once per process)."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from fxmesh.metrics import LATENCY_BUCKETS
from quotes.lpstats import LpStatistics

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


class _LpStreaming(Collector):
    """``fxmesh_quotes_lp_streaming_seconds``: each LP's current run of ticks without a gap,
    computed when scraped from the LP statistics of the live quotes services (one in production;
    the longest run per LP when tests run several in one process)."""

    def __init__(self) -> None:
        self._sources: weakref.WeakKeyDictionary[LpStatistics, Callable[[], int]] = (
            weakref.WeakKeyDictionary()
        )

    def watch(self, stats: LpStatistics, clock: Callable[[], int]) -> None:
        """Report ``stats``, read at ``clock`` (epoch ms), until it is garbage."""
        self._sources[stats] = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "fxmesh_quotes_lp_streaming_seconds",
            "How long the LP has streamed ticks without a gap longer than the stale threshold "
            "(its feed uptime); 0 while it is silent.",
            labels=["lp"],
        )
        longest: dict[str, int] = {}
        for stats, clock in list(self._sources.items()):
            for lp, run_ms in stats.streaming_runs(clock()).items():
                longest[lp] = max(run_ms, longest.get(lp, 0))
        for lp, run_ms in sorted(longest.items()):
            family.add_metric([lp], run_ms / 1000)
        yield family


LP_STREAMING = _LpStreaming()
REGISTRY.register(LP_STREAMING)
