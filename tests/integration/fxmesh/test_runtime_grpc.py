"""The gRPC bootstrap against a real grpc.aio server: error model, health, reflection, tracing, logs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from structlog.testing import capture_logs

from fxmesh.errors import NotFound, from_rpc_error
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.logs import note_outcome
from fxmesh.tracing import current_trace_id
from fxmesh.v1 import quotes_pb2, quotes_pb2_grpc, types_pb2

if not isinstance(trace.get_tracer_provider(), TracerProvider):
    trace.set_tracer_provider(TracerProvider())


class _Quotes(quotes_pb2_grpc.QuotesServiceServicer):
    """Answers GetQuote with the server-side trace id as the quote source, or fails on demand."""

    async def GetQuote(
        self, request: quotes_pb2.GetQuoteRequest, context: grpc.aio.ServicerContext
    ) -> quotes_pb2.GetQuoteResponse:
        # "code" clashes with the line's own field, which wins.
        note_outcome(quoted=request.symbol, code="NOTED")
        if request.symbol == "MISSING":
            raise NotFound(
                "no quote for MISSING", reason="QUOTE_NOT_AVAILABLE", metadata={"symbol": "MISSING"}
            )
        if request.symbol == "ABORT":
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
        if request.symbol == "BOOM":
            raise RuntimeError("secret internals")
        return quotes_pb2.GetQuoteResponse(
            quote=types_pb2.Quote(
                symbol=request.symbol, bid="1.0", ask="1.1", source=current_trace_id() or ""
            )
        )


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    srv = GrpcServer("testsvc", "127.0.0.1:0")
    srv.add(
        quotes_pb2_grpc.add_QuotesServiceServicer_to_server, _Quotes(), "fxmesh.v1.QuotesService"
    )
    await srv.start()
    yield srv
    await srv.stop(0)


@pytest.fixture
async def channel(server: GrpcServer) -> AsyncIterator[grpc.aio.Channel]:
    async with open_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


async def test_call_when_service_raises_fx_error_then_caller_reads_code_reason_and_metadata(
    channel: grpc.aio.Channel,
) -> None:
    stub = quotes_pb2_grpc.QuotesServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="MISSING"), timeout=5)
    remote = from_rpc_error(err.value)
    assert isinstance(remote, NotFound)
    assert remote.reason == "QUOTE_NOT_AVAILABLE"
    assert remote.metadata == {"symbol": "MISSING"}
    assert remote.message == "no quote for MISSING"


async def test_call_when_service_crashes_then_internal_without_leaking_details(
    channel: grpc.aio.Channel,
) -> None:
    stub = quotes_pb2_grpc.QuotesServiceStub(channel)
    with capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="BOOM"), timeout=5)
    assert err.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in (err.value.details() or "")
    assert from_rpc_error(err.value).reason == "INTERNAL"
    assert any(
        entry.get("code") == "INTERNAL" and entry.get("log_level") == "error" for entry in logs
    )


async def test_each_rpc_when_handled_then_one_canonical_log_line_with_outcome(
    channel: grpc.aio.Channel,
) -> None:
    stub = quotes_pb2_grpc.QuotesServiceStub(channel)
    with capture_logs() as logs:
        await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="EURUSD"), timeout=5)
    lines = [e for e in logs if e.get("event") == "rpc"]
    assert len(lines) == 1
    assert lines[0]["method"] == "/fxmesh.v1.QuotesService/GetQuote"
    assert lines[0]["code"] == "OK"
    assert lines[0]["duration_ms"] >= 0
    assert lines[0]["quoted"] == "EURUSD"  # what the handler noted (note_outcome)


async def test_outcome_noted_by_handlers_then_on_their_own_lines_only(
    channel: grpc.aio.Channel,
) -> None:
    stub = quotes_pb2_grpc.QuotesServiceStub(channel)
    with capture_logs() as logs:
        await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="GBPUSD"), timeout=5)
        with pytest.raises(grpc.aio.AioRpcError):
            await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="MISSING"), timeout=5)
        note_outcome(quoted="outside any request")  # no request: goes nowhere

    lines = [e for e in logs if e.get("event") == "rpc"]
    assert [(e["code"], e["quoted"]) for e in lines] == [("OK", "GBPUSD"), ("NOT_FOUND", "MISSING")]
    assert lines[1]["reason"] == "QUOTE_NOT_AVAILABLE"
    assert not [e for e in logs if e.get("quoted") == "outside any request"]


async def test_health_when_serving_then_serving_and_after_stop_not_serving(
    server: GrpcServer,
) -> None:
    async with open_channel(f"127.0.0.1:{server.port}") as ch:
        health = health_pb2_grpc.HealthStub(ch)
        reply = await health.Check(
            health_pb2.HealthCheckRequest(service="fxmesh.v1.QuotesService"), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
        watch = health.Watch(health_pb2.HealthCheckRequest(service="fxmesh.v1.QuotesService"))
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        await server.stop(1)
        second = await watch.read()
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_reflection_when_listing_then_names_the_services(channel: grpc.aio.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = set()
    async for response in responses:
        names = {s.name for s in response.list_services_response.service}
        break
    assert {"fxmesh.v1.QuotesService", "grpc.health.v1.Health"} <= names


async def test_trace_when_client_span_calls_server_then_server_continues_the_same_trace(
    channel: grpc.aio.Channel,
) -> None:
    stub = quotes_pb2_grpc.QuotesServiceStub(channel)
    with trace.get_tracer("test").start_as_current_span("client-op"):
        client_trace = current_trace_id()
        reply = await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="EURUSD"), timeout=5)
    assert client_trace is not None
    assert reply.quote.source == client_trace


async def test_call_when_handler_aborts_itself_then_status_kept_and_logged(
    channel: grpc.aio.Channel,
) -> None:
    stub = quotes_pb2_grpc.QuotesServiceStub(channel)
    with capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetQuote(quotes_pb2.GetQuoteRequest(symbol="ABORT"), timeout=5)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert [e["code"] for e in logs if e.get("event") == "rpc"] == ["RESOURCE_EXHAUSTED"]
