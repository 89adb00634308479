"""Prometheus metrics: ``fxmesh_<service>_<thing>_<unit>``, bounded labels only."""

from __future__ import annotations

from prometheus_client import Counter, Histogram, start_http_server

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
)


def serve_metrics(port: int, addr: str = "127.0.0.1") -> None:
    """Expose ``/metrics`` on its own HTTP port (gRPC-only services); port 0 disables it."""
    if port:
        start_http_server(port, addr=addr)


class RpcMetrics:
    """Request count and latency of one service's gRPC server, by method and status code."""

    def __init__(self, service: str) -> None:
        # One set per service per process, so a process (a test) may build several servers.
        existing = _RPC_METRICS.get(service)
        if existing is None:
            existing = _RPC_METRICS[service] = (
                Counter(
                    f"fxmesh_{service}_grpc_server_requests_total",
                    "gRPC requests handled, by method and status code.",
                    ["method", "code"],
                ),
                Histogram(
                    f"fxmesh_{service}_grpc_server_duration_seconds",
                    "gRPC request handling time, by method.",
                    ["method"],
                    buckets=LATENCY_BUCKETS,
                ),
            )
        self.requests, self.duration = existing


_RPC_METRICS: dict[str, tuple[Counter, Histogram]] = {}
