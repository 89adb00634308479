"""HTTP floor: a trivial GET on the server stack edge uses (FastAPI + uvicorn via fxmesh.http)."""

from __future__ import annotations

from typing import Any

from bench.floors.common import floor_server, sequential
from bench.rawhttp import HttpPool


async def _measure_one(kind: str, count: int, warmup: int) -> dict[str, Any]:
    async with floor_server(kind) as port:
        pool = HttpPool("127.0.0.1", port, max_connections=1)
        try:

            async def get() -> None:
                reply = await pool.request("GET", "/ping")
                if reply.status != 200:
                    raise RuntimeError(f"floor GET /ping: {reply.status}")

            lat = await sequential(get, count, warmup)
        finally:
            await pool.close()
    return {"latency_ms": lat.summary()}


async def measure(quick: bool) -> dict[str, dict[str, Any]]:
    count, warmup = (300, 100) if quick else (3000, 300)
    return {
        "http_trivial": {
            "what": 'GET /ping -> {"ok":true} on FastAPI + uvicorn (fxmesh.http.http_server), '
            "HTTP/1.1 keep-alive, 1 in flight",
            **await _measure_one("http", count, warmup),
        },
        "http_trivial_fxmesh_runtime": {
            "what": "the same with fxmesh.http.instrument (edge's span, log line and metrics "
            "middleware); informational",
            **await _measure_one("http-fxmesh", count, warmup),
        },
    }
