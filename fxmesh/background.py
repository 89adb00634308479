"""Background loops: a coroutine run as a named task beside the requests, stopped by cancel-and-await.

The outbox relay, the rollover job, the tick store's flusher, settings sync, edge's Redis feeds,
fixgw's tick forwarder and session monitor each keep one loop running. ``BackgroundLoop`` is the
start / cancel / wait-until-ended they share; what a loop does when a round fails (retry with
backoff, log and go on) stays in the loop, since that is what differs from one to the next.

Stopping waits for the task to end, not only for the cancel to be asked, so the loop's own
``finally`` blocks (closing a subscription, flushing a buffer) have run when ``stop`` returns and
the owner may close what the loop used.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

import structlog

log = structlog.stdlib.get_logger(__name__)

LoopBody = Callable[[], Coroutine[Any, Any, None]]


class BackgroundLoop:
    """``run()`` as the task ``name``: ``start`` it, ``stop`` cancels it and waits until it ended.

    With ``log_failures`` an exception that ends the loop is logged (``background_task_failed``)
    instead of staying in the task until ``stop`` re-raises it: for loops whose owner must keep
    running without them.
    """

    def __init__(self, name: str, run: LoopBody, *, log_failures: bool = False) -> None:
        self.name = name
        self._run = run
        self._log_failures = log_failures
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Run the loop, unless it is running: a loop that ended is started again."""
        if self.running:
            return
        body = self._guarded() if self._log_failures else self._run()
        self._task = asyncio.create_task(body, name=self.name)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has ended (re-raises what ended it, if not a cancel)."""
        await cancel_and_wait(self._take())

    def _take(self) -> list[asyncio.Task[None]]:
        task, self._task = self._task, None
        return [task] if task is not None else []

    async def _guarded(self) -> None:
        try:
            await self._run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("background_task_failed", task=self.name)


async def stop_all(loops: Iterable[BackgroundLoop]) -> None:
    """Stop ``loops`` together: every one is cancelled before the first is waited for."""
    await cancel_and_wait([task for loop in loops for task in loop._take()])


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel ``tasks``, then wait for each to end; their cancellation is not re-raised here.

    Every task is cancelled first, so they wind down together rather than one after another.
    A task that ended with an exception of its own re-raises it.
    """
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
