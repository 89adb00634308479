"""Floor servers, each in its own process as the services are (a round trip crosses processes).

    python -m bench.floors.servers grpc|grpc-fxmesh|http|http-fxmesh|ws PORT

- ``grpc``: bare grpc.aio, one unary method taking and returning google.protobuf.Empty.
- ``grpc-fxmesh``: the same method behind ``fxmesh.grpcserver.GrpcServer`` (tracing, canonical log
  line, metrics): what every service's RPC pays on top of the bare floor.
- ``http``: FastAPI + uvicorn exactly as ``fxmesh.http.http_server`` serves edge, ``GET /ping``.
- ``http-fxmesh``: the same plus ``fxmesh.http.instrument`` (edge's span, log line and metrics).
- ``ws``: FastAPI + uvicorn WebSocket ``/ws``; a text frame sent on a ``?role=control`` socket is
  broadcast to every other socket, one ``send_text`` after another.

Logging is configured as ServiceRuntime does (JSON lines, here to /dev/null through stdout).
"""

from __future__ import annotations

import sys
from typing import Any

import grpc
import uvloop
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from google.protobuf import empty_pb2

from fxmesh.http import NATIVE_TELEMETRY_OFF, http_server, instrument

GRPC_SERVICE = "bench.v1.FloorService"
GRPC_METHOD = f"/{GRPC_SERVICE}/Ping"


async def _ping(request: empty_pb2.Empty, context: Any) -> empty_pb2.Empty:
    return empty_pb2.Empty()


def _grpc_handler() -> grpc.GenericRpcHandler:
    return grpc.method_handlers_generic_handler(
        GRPC_SERVICE,
        {
            "Ping": grpc.unary_unary_rpc_method_handler(
                _ping,
                request_deserializer=empty_pb2.Empty.FromString,
                response_serializer=empty_pb2.Empty.SerializeToString,
            )
        },
    )


async def serve_grpc(port: int, fxmesh_runtime: bool) -> None:
    if fxmesh_runtime:
        from fxmesh.grpcserver import GrpcServer

        wrapped = GrpcServer("benchfloor", f"127.0.0.1:{port}")
        wrapped.add(
            lambda _servicer, server: server.add_generic_rpc_handlers((_grpc_handler(),)),
            None,
            GRPC_SERVICE,
        )
        await wrapped.start()
        await wrapped.server.wait_for_termination()
        return
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((_grpc_handler(),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


async def serve_http(port: int, fxmesh_runtime: bool) -> None:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=NATIVE_TELEMETRY_OFF)

    @app.get("/ping")
    async def ping() -> dict[str, bool]:
        return {"ok": True}

    if fxmesh_runtime:
        instrument(app, service="benchfloor", tracer_name="bench.floor")
    await http_server(app, f"127.0.0.1:{port}", lifespan="off").serve()


async def serve_ws(port: int) -> None:
    # WebSocket must resolve at module level: FastAPI reads the handler's annotations.
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=NATIVE_TELEMETRY_OFF)
    clients: set[WebSocket] = set()

    @app.websocket("/ws")
    async def ws_endpoint(ws: WebSocket) -> None:
        await ws.accept()
        control = ws.query_params.get("role") == "control"
        if not control:
            clients.add(ws)
        try:
            while True:
                frame = await ws.receive_text()
                if control:
                    for client in list(clients):
                        await client.send_text(frame)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            clients.discard(ws)

    await http_server(app, f"127.0.0.1:{port}", lifespan="off", ws_ping_interval=600.0).serve()


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    from fxmesh.logs import configure_logging
    from fxmesh.tracing import configure_tracing

    configure_logging("benchfloor", "INFO", "json")
    configure_tracing("benchfloor", None)
    runners = {
        "grpc": lambda: serve_grpc(port, False),
        "grpc-fxmesh": lambda: serve_grpc(port, True),
        "http": lambda: serve_http(port, False),
        "http-fxmesh": lambda: serve_http(port, True),
        "ws": lambda: serve_ws(port),
    }
    uvloop.run(runners[kind]())  # the services' loop (fxmesh.lifecycle.run_service)


if __name__ == "__main__":
    main()
