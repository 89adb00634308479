"""gRPC client channels that carry the trace context to the next hop."""

from __future__ import annotations

import grpc
from opentelemetry.instrumentation.grpc import aio_client_interceptors


def open_channel(target: str) -> grpc.aio.Channel:
    """An insecure loopback/cluster channel with OpenTelemetry client interceptors."""
    return grpc.aio.insecure_channel(
        target,
        interceptors=aio_client_interceptors(),  # type: ignore[no-untyped-call]  # untyped upstream
        options=[
            ("grpc.keepalive_time_ms", 30_000),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.enable_retries", 1),
        ],
    )
