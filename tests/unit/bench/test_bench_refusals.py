"""Overload refusals in the load generator: counted apart from failures, with time to refusal."""

from __future__ import annotations

from bench.loadgen import REFUSED, run_open_loop


async def test_open_loop_when_refused_then_counted_apart_from_failures_with_time_to_refusal() -> (
    None
):
    async def send(i: int, _scheduled: float) -> str | None:
        return f"{REFUSED}503" if i % 2 else None

    step = await run_open_loop(send, rate=400, duration=0.05, warmup=0.0, request_timeout=1.0)
    doc = step.as_json(50.0)

    assert step.failure_count == 0
    assert step.refused == {"refused_503": 10}
    assert doc["time_to_refusal_ms"]["count"] == 10
    assert doc["within_bound"] is False  # a step that refuses did not sustain its rate
