"""gRPC client channels that carry the trace context to the next hop.

The W3C context is added to each call's metadata by the channel itself (``TracingChannel``), not by
a client interceptor: grpc.aio routes every call of an intercepted channel through its interceptor
machinery, and OpenTelemetry's interceptor also opens a client span and awaits the call's code and
details; together ~0.28 ms of CPU per call on the development machine, against injecting the
context at the call. The trace stays whole without the client span: the callee's server span
(``fxmesh.grpcserver``) is the child of the caller's current span.
"""

from __future__ import annotations

from typing import Any

import grpc
from opentelemetry import propagate


def open_channel(target: str) -> grpc.aio.Channel:
    """An insecure loopback/cluster channel whose calls carry the current trace context."""
    return TracingChannel(
        grpc.aio.insecure_channel(
            target,
            options=[
                ("grpc.keepalive_time_ms", 30_000),
                ("grpc.keepalive_permit_without_calls", 1),
                ("grpc.enable_retries", 1),
            ],
        )
    )


def traced_metadata(metadata: Any) -> Any:
    """``metadata`` (None, pairs or ``grpc.aio.Metadata``) plus the current trace context."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return metadata
    return (*(tuple(metadata) if metadata else ()), *carrier.items())


class _TracedCallable:
    """A channel's multi-callable whose calls carry the trace context in their metadata."""

    __slots__ = ("_inner",)

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __call__(self, request: Any, *, metadata: Any = None, **kwargs: Any) -> Any:
        return self._inner(request, metadata=traced_metadata(metadata), **kwargs)


class TracingChannel(grpc.aio.Channel):
    """A ``grpc.aio.Channel`` that adds the trace context to every call it makes."""

    def __init__(self, inner: grpc.aio.Channel) -> None:
        self._inner = inner

    async def __aenter__(self) -> TracingChannel:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.close(None)

    async def close(self, grace: float | None = None) -> None:
        await self._inner.close(grace)

    def get_state(self, try_to_connect: bool = False) -> grpc.ChannelConnectivity:
        return self._inner.get_state(try_to_connect)

    async def wait_for_state_change(self, last_observed_state: grpc.ChannelConnectivity) -> None:
        await self._inner.wait_for_state_change(last_observed_state)

    async def channel_ready(self) -> None:
        await self._inner.channel_ready()

    def unary_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _TracedCallable(self._inner.unary_unary(method, *args, **kwargs))

    def unary_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _TracedCallable(self._inner.unary_stream(method, *args, **kwargs))

    def stream_unary(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _TracedCallable(self._inner.stream_unary(method, *args, **kwargs))

    def stream_stream(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return _TracedCallable(self._inner.stream_stream(method, *args, **kwargs))
