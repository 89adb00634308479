"""WebSocket floor: one small text frame broadcast to N clients on FastAPI + uvicorn (as edge).

A control socket sends the frame; the server writes it to every other socket, one send_text
after another. Timed here from the control send to each client's receipt, and to the last one's.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench.floors.common import floor_server
from bench.stats import Latencies
from bench.wsclients import WsFleet, _connect

# Roughly a tick frame's size.
FRAME = (
    '{"type":"tick","symbol":"EURUSD","bid":"1.08444","ask":"1.08456","ts":1700000000000,"n":%d}'
)


def repetitions(clients: int, quick: bool) -> int:
    if quick:
        return 30
    return 500 if clients <= 10 else 200 if clients <= 100 else 60


async def broadcast(port: int, clients: int, reps: int) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{port}/ws"
    every = Latencies()
    last = Latencies()
    state = {"seq": -1, "got": 0, "sent_at": 0.0}
    all_in = asyncio.Event()

    def on_frame(_i: int, frame: str, at: float) -> None:
        seq = int(frame[frame.rindex(":") + 1 : -1])
        if seq != state["seq"]:
            return
        if seq >= warmup:
            every.record(at - state["sent_at"])
        state["got"] += 1
        if state["got"] == clients:
            if seq >= warmup:
                last.record(at - state["sent_at"])
            all_in.set()

    warmup = max(3, reps // 10)
    fleet = WsFleet(url, clients, on_frame)
    await fleet.open()
    control = await _connect(f"{url}?role=control")
    try:
        await asyncio.sleep(0.2)
        for seq in range(warmup + reps):
            all_in.clear()
            state.update(seq=seq, got=0, sent_at=time.perf_counter())
            await control.send(FRAME % seq)
            await asyncio.wait_for(all_in.wait(), 30)
    finally:
        await control.close()
        await fleet.close()
    return {
        "broadcasts": reps,
        "latency_ms": every.summary(),
        "last_client_ms": last.summary(),
        "per_client_us_p50": round(1000 * last.percentile_ms(50.0) / clients, 1),
    }


async def measure(quick: bool, client_counts: list[int]) -> dict[str, dict[str, Any]]:
    by_clients: dict[str, Any] = {}
    async with floor_server("ws") as port:
        for n in client_counts:
            by_clients[str(n)] = await broadcast(port, n, repetitions(n, quick))
    return {
        "ws_broadcast": {
            "what": "one ~100-byte text frame broadcast to N WebSocket clients (FastAPI + uvicorn "
            "as fxmesh.http serves edge, sequential send_text; clients: bench.wsclients, no deflate); "
            "latency_ms over every client, last_client_ms until the last one has it",
            "by_clients": by_clients,
        }
    }
