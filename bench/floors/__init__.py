"""Floors: the cheapest possible version of each hop, measured in the same run as the scenarios.

A floor group measures one or more named floors. Scenarios name the groups they need and express
their latency as a ratio to the sum of the floors on their path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

FloorDocs = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class FloorParams:
    quick: bool
    redis_url: str
    ws_client_counts: tuple[int, ...]


async def _grpc(p: FloorParams) -> FloorDocs:
    from bench.floors import grpc_floor

    return await grpc_floor.measure(p.quick)


async def _pg(p: FloorParams) -> FloorDocs:
    from bench.floors import pg_floor

    return await pg_floor.measure(p.quick)


async def _redis(p: FloorParams) -> FloorDocs:
    from bench.floors import redis_floor

    return await redis_floor.measure(p.quick, p.redis_url)


async def _http(p: FloorParams) -> FloorDocs:
    from bench.floors import http_floor

    return await http_floor.measure(p.quick)


async def _ws(p: FloorParams) -> FloorDocs:
    from bench.floors import ws_floor

    return await ws_floor.measure(p.quick, list(p.ws_client_counts))


async def _quickfix(p: FloorParams) -> FloorDocs:
    from bench.floors import quickfix

    return await quickfix.measure(p.quick)


# Group name -> measure function, in the order they run.
FLOOR_GROUPS: dict[str, Callable[[FloorParams], Awaitable[FloorDocs]]] = {
    "http": _http,
    "grpc": _grpc,
    "pg": _pg,
    "redis": _redis,
    "ws": _ws,
    "quickfix": _quickfix,
}
