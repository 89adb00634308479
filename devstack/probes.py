"""Readiness probes for the stack's children: gRPC health, HTTP /healthz, free ports, log tails."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


@dataclass(frozen=True, slots=True)
class Probe:
    kind: str  # "grpc" (grpc.health.v1 SERVING) or "http" (GET /healthz -> 200)
    addr: str  # host:port
    # gRPC only: the health service name to ask ("" the server as a whole). A router replica
    # serves health before it leads, and is ready only once its RouterService is SERVING.
    service: str = ""

    def describe(self) -> str:
        return (
            f"gRPC health on {self.addr}" if self.kind == "grpc" else f"http://{self.addr}/healthz"
        )


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


async def grpc_serving(addr: str, service: str = "") -> bool:
    """True when the gRPC health service at addr reports SERVING for ``service`` (by default the
    server as a whole)."""
    async with grpc.aio.insecure_channel(addr) as channel:
        try:
            stub: Any = health_pb2_grpc.HealthStub(channel)
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2.0)
        except grpc.aio.AioRpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


async def http_ok(addr: str, path: str = "/healthz") -> bool:
    """True when GET http://addr/path answers 200 (no HTTP client dependency needed)."""
    host, port = _split(addr)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
    except (OSError, TimeoutError):
        return False
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 2.0)
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    parts = status_line.split()
    return len(parts) >= 2 and parts[1] == b"200"


async def probe_ok(probe: Probe) -> bool:
    if probe.kind == "grpc":
        return await grpc_serving(probe.addr, probe.service)
    return await http_ok(probe.addr)


def port_in_use(host: str, port: int) -> bool:
    """True if something listens on host:port (TIME_WAIT leftovers do not count, as for servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:]) or "(log is empty)"
