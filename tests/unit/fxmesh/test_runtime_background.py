"""Background loops: started once under their name, restarted only after they ended, stopped by
cancelling and waiting until the loop's own clean-up has run."""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from fxmesh.background import BackgroundLoop, cancel_and_wait, stop_all


class Loop:
    """A loop that counts its runs and notes in ``journal`` when it was cancelled and cleaned up."""

    def __init__(self, name: str = "loop", journal: list[str] | None = None) -> None:
        self.name = name
        self.journal = journal if journal is not None else []
        self.runs = 0
        self.cleaned_up = False
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.runs += 1
        self.running.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.journal.append(f"cancelled {self.name}")
            await asyncio.sleep(0)  # clean-up that itself waits
            self.cleaned_up = True
            self.journal.append(f"cleaned up {self.name}")


async def test_start_when_running_then_one_task_under_its_name() -> None:
    body = Loop()
    loop = BackgroundLoop("test-loop", body.run)

    loop.start()
    loop.start()
    await body.running.wait()

    names = [t.get_name() for t in asyncio.all_tasks()]
    assert names.count("test-loop") == 1
    assert body.runs == 1
    await loop.stop()


async def test_stop_when_running_then_cancelled_and_clean_up_done_before_it_returns() -> None:
    body = Loop()
    loop = BackgroundLoop("test-loop", body.run)
    loop.start()
    await body.running.wait()

    await loop.stop()

    assert body.cleaned_up
    assert not loop.running


async def test_stop_when_never_started_then_nothing_happens() -> None:
    await BackgroundLoop("test-loop", Loop().run).stop()


async def test_start_when_loop_ended_then_started_again() -> None:
    runs = 0

    async def once() -> None:
        nonlocal runs
        runs += 1

    loop = BackgroundLoop("test-loop", once)
    loop.start()
    await asyncio.sleep(0)
    assert not loop.running

    loop.start()
    await asyncio.sleep(0)

    assert runs == 2
    await loop.stop()


async def test_stop_when_loop_failed_then_its_error_is_raised() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    loop = BackgroundLoop("test-loop", broken)
    loop.start()
    await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="boom"):
        await loop.stop()


async def test_loop_when_failing_with_log_failures_then_logged_and_stop_is_quiet() -> None:
    async def broken() -> None:
        raise RuntimeError("boom")

    loop = BackgroundLoop("test-loop", broken, log_failures=True)
    with capture_logs() as logs:
        loop.start()
        await asyncio.sleep(0)
        await loop.stop()

    assert [(e["event"], e["task"]) for e in logs] == [("background_task_failed", "test-loop")]


async def test_stop_all_then_loops_wind_down_together_not_one_after_another() -> None:
    journal: list[str] = []
    bodies = [Loop("a", journal), Loop("b", journal)]
    loops = [BackgroundLoop(f"test-loop-{b.name}", b.run) for b in bodies]
    for loop in loops:
        loop.start()
    await asyncio.gather(*(b.running.wait() for b in bodies))

    await stop_all(loops)

    assert journal[:2] == ["cancelled a", "cancelled b"]
    assert sorted(journal[2:]) == ["cleaned up a", "cleaned up b"]
    assert not any(loop.running for loop in loops)


async def test_cancel_and_wait_then_tasks_done_and_their_cancel_not_raised() -> None:
    tasks = [asyncio.create_task(asyncio.Event().wait()) for _ in range(3)]
    await asyncio.sleep(0)

    await cancel_and_wait(tasks)

    assert all(t.cancelled() for t in tasks)
