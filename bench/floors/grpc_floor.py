"""gRPC floor: an empty unary call on loopback with grpc.aio (client here, server in a child)."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import empty_pb2

from bench.floors.common import floor_server, in_flight, sequential
from bench.floors.servers import GRPC_METHOD
from fxmesh.grpcclient import open_channel
from fxmesh.tracing import configure_tracing

IN_FLIGHT = 64


async def measure(quick: bool) -> dict[str, dict[str, Any]]:
    count, warmup, window = (500, 100, 1.0) if quick else (5000, 500, 4.0)
    request = empty_pb2.Empty()
    out: dict[str, dict[str, Any]] = {}
    async with floor_server("grpc") as port, grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
        call = ch.unary_unary(
            GRPC_METHOD,
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        await ch.channel_ready()
        lat = await sequential(lambda: call(request), count, warmup)
        out["grpc_unary"] = {
            "what": "grpc.aio unary call, google.protobuf.Empty both ways, one client, 1 in flight",
            "latency_ms": lat.summary(),
        }
        many, rate = await in_flight(lambda: call(request), IN_FLIGHT, window)
        out["grpc_unary_in_flight"] = {
            "what": f"the same call, one channel, {IN_FLIGHT} in flight (closed loop)",
            "in_flight": IN_FLIGHT,
            "calls_per_s": round(rate),
            "latency_ms": many.summary(),
        }
    # What every service hop pays on top: OpenTelemetry client + server interceptors, the
    # canonical log line and request metrics (fxmesh.grpcclient / fxmesh.grpcserver).
    configure_tracing("bench", None)
    async with floor_server("grpc-fxmesh") as port, open_channel(f"127.0.0.1:{port}") as ch:
        call = ch.unary_unary(
            GRPC_METHOD,
            request_serializer=empty_pb2.Empty.SerializeToString,
            response_deserializer=empty_pb2.Empty.FromString,
        )
        await ch.channel_ready()
        lat = await sequential(lambda: call(request), count, warmup)
        out["grpc_unary_fxmesh_runtime"] = {
            "what": "the same call through fxmesh.grpcclient.open_channel and "
            "fxmesh.grpcserver.GrpcServer (tracing, log line, metrics); informational",
            "latency_ms": lat.summary(),
        }
    return out
