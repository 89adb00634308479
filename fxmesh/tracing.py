"""OpenTelemetry tracing: one trace per order across every gRPC hop (W3C traceparent)."""

from __future__ import annotations

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor


def configure_tracing(service: str, otlp_endpoint: str | None) -> TracerProvider:
    """Install the global tracer provider; export spans over OTLP only when an endpoint is set.

    Without an exporter spans are still created and propagated, so trace ids tie the JSON logs of
    every service together.
    """
    provider = TracerProvider(resource=Resource.create({"service.name": f"fxmesh-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=otlp_endpoint, insecure=True))
        )
    trace.set_tracer_provider(provider)
    return provider


def current_trace_id() -> str | None:
    """Hex trace id of the active span, or None outside a trace."""
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None
