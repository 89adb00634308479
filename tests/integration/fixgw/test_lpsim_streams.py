"""LP simulator price streams over a real FIX session: ticks at a fixed rate, no call per tick."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import httpx
from fixgw_harness import BareInitiator, FixMsg

from fixgw.fixmsg import market_data_request
from fixgw.lpsim.http import create_app
from fixgw.lpsim.simulator import LpSimulator

RATE = 200.0
BASE_BID, BASE_ASK = Decimal("1.10000"), Decimal("1.10002")
POINT = Decimal("0.00001")


def sending_time(msg: FixMsg) -> float:
    text = msg.first(52)
    assert text is not None
    return datetime.strptime(text, "%Y%m%d-%H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


def lpsim_http(lpsim: LpSimulator) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(lpsim))
    return httpx.AsyncClient(transport=transport, base_url="http://lpsim")


async def test_ramp_stream_when_started_then_each_tick_priced_by_its_seq_and_sent_when_due(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    # Arrange
    fix_client.send(market_data_request("md-s", "EURUSD"))
    await fix_client.expect("W")
    async with lpsim_http(lpsim) as http:
        # Act
        resp = await http.put(
            "/streams/EURUSD",
            json={
                "ticksPerSecond": RATE,
                "firstSeq": 5000,
                "bid": str(BASE_BID),
                "ask": str(BASE_ASK),
                "cycle": 1000,
                "startDelayMs": 50,
            },
        )
        assert resp.status_code == 200, resp.text
        stream = resp.json()
        ticks = []
        while len(ticks) < 100:
            msg = await fix_client.expect("X", lambda m: m.all(55) == ["EURUSD", "EURUSD"])
            ticks.append((time.time(), msg))
        stopped = (await http.delete("/streams/EURUSD")).json()
        second_stop = await http.delete("/streams/EURUSD")

    # Assert: tick seq = firstSeq + i is priced base + (seq mod cycle) points, both sides
    assert stream["startTime"] > 0
    assert stream["firstSeq"] == 5000
    for i, (_, msg) in enumerate(ticks):
        offset = ((5000 + i) % 1000) * POINT
        assert [Decimal(p) for p in msg.all(270)] == [BASE_BID + offset, BASE_ASK + offset]
        due = stream["startTime"] + i / RATE
        # FIX SendingTime has millisecond resolution; a loaded machine may send a little late.
        assert due - 0.002 <= sending_time(msg) <= due + 0.5
    assert stopped["sent"] >= 100
    assert stopped["lastSeq"] == 5000 + stopped["sent"] - 1 + stopped["skipped"]
    assert stopped["lagMs"]["p50"] is not None
    assert second_stop.status_code == 404


async def test_walk_stream_when_started_then_prices_move_at_the_offered_rate(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    fix_client.send(market_data_request("md-w", "GBPUSD"))
    await fix_client.expect("W")
    async with lpsim_http(lpsim) as http:
        resp = await http.put(
            "/streams/GBPUSD", json={"ticksPerSecond": RATE, "pattern": "walk", "startDelayMs": 0}
        )
        assert resp.status_code == 200, resp.text
        first = await fix_client.expect("X", lambda m: m.all(55) == ["GBPUSD", "GBPUSD"])
        for _ in range(49):
            last = await fix_client.expect("X", lambda m: m.all(55) == ["GBPUSD", "GBPUSD"])
        state = (await http.get("/state")).json()
        await http.delete("/streams/GBPUSD")

    elapsed = sending_time(last) - sending_time(first)
    assert 49 / RATE * 0.5 <= elapsed <= 49 / RATE * 3  # 50 ticks ~ 0.245 s apart end to end
    assert state["streams"]["GBPUSD"]["pattern"] == "walk"
    bid, ask = (Decimal(p) for p in last.all(270))
    assert bid.as_tuple().exponent == -5
    assert bid < ask


async def test_stream_when_request_invalid_then_rejected(lpsim: LpSimulator) -> None:
    async with lpsim_http(lpsim) as http:
        unknown = await http.put("/streams/NOPE", json={"ticksPerSecond": 10})
        zero_rate = await http.put("/streams/EURUSD", json={"ticksPerSecond": 0})
        crossed = await http.put(
            "/streams/EURUSD", json={"ticksPerSecond": 10, "bid": "1.2", "ask": "1.1"}
        )
        no_stream = await http.delete("/streams/EURUSD")

    assert unknown.status_code == 404
    assert zero_rate.status_code == 422
    assert crossed.status_code == 422
    assert no_stream.status_code == 404
