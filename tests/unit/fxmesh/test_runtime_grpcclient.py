"""The trace context travels in each call's metadata, next to whatever the caller sends."""

from __future__ import annotations

import grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from fxmesh.grpcclient import traced_metadata

if not isinstance(trace.get_tracer_provider(), TracerProvider):
    trace.set_tracer_provider(TracerProvider())


def test_traced_metadata_when_in_a_span_then_callers_pairs_kept_and_traceparent_added() -> None:
    with trace.get_tracer("test").start_as_current_span("op") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        for given in (None, (("x-request-id", "r-1"),), grpc.aio.Metadata(("x-request-id", "r-1"))):
            pairs = dict(traced_metadata(given))
            assert trace_id in pairs["traceparent"]
            assert pairs.get("x-request-id") == (None if given is None else "r-1")


def test_traced_metadata_when_no_trace_then_metadata_unchanged() -> None:
    given = (("x-request-id", "r-1"),)

    assert traced_metadata(given) is given
