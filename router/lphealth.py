"""LP health as the rule engine sees it: fixgw's ListSessions, polled in the background.

An LP is *healthy* for the rule engine when its session takes orders (``LpSession.healthy``) and
fixgw's health block does not flag it DEGRADED (``LpSession.health.degraded``: recent rejects or
slow fills). A degraded LP is reported apart, with fixgw's reason, and does not count as healthy
for level 6 (``docs/routing.md``); fixgw still sends to it last when nothing better is up.

Orders never call fixgw for it: ``snapshot()`` answers from the last poll, and a poll older than
``stale_ms`` (fixgw away, or the poller stuck) is reported unknown, which the rule engine reads as
"no information" (the order goes its way and fixgw answers NO_LIQUIDITY itself if it must).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Gauge

from router.fixgw_client import FixgwUnavailable, LpSessionStatus
from router.rules import UNKNOWN_HEALTH, LpHealth

log = structlog.stdlib.get_logger(__name__)

HEALTHY_LPS = Gauge(
    "fxmesh_router_lp_healthy",
    "LP sessions fixgw reported healthy at the router's last poll (-1: unknown).",
)

DEGRADED_LPS = Gauge(
    "fxmesh_router_lp_degraded",
    "LP sessions that take orders but fixgw reported DEGRADED at the router's last poll.",
)

Sessions = Callable[[], Awaitable[list[LpSessionStatus]]]


def _now_ms() -> int:
    return int(time.monotonic() * 1000)


class LpHealthMonitor:
    """Polls ``sessions`` every ``interval`` seconds; ``snapshot`` is the last answer."""

    def __init__(
        self,
        sessions: Sessions,
        *,
        interval: float = 1.0,
        stale_ms: int = 5000,
        now_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._sessions = sessions
        self._interval = interval
        self._stale_ms = stale_ms
        self._now_ms = now_ms
        self._healthy: tuple[str, ...] = ()
        self._unhealthy: tuple[str, ...] = ()
        self._degraded: tuple[tuple[str, str], ...] = ()
        self._polled_ms: int | None = None

    def snapshot(self) -> LpHealth:
        """The last poll's answer, or unknown when it is missing or stale."""
        if self._polled_ms is None:
            return UNKNOWN_HEALTH
        age = self._now_ms() - self._polled_ms
        if age > self._stale_ms:
            return LpHealth(False, self._healthy, self._unhealthy, age, self._degraded)
        return LpHealth(True, self._healthy, self._unhealthy, age, self._degraded)

    async def poll(self) -> bool:
        """Ask fixgw once; False (and the last answer kept, ageing) when it cannot be reached."""
        try:
            sessions = await self._sessions()
        except FixgwUnavailable as exc:
            log.debug("lp_health_poll_failed", error=str(exc))
            if self.snapshot().known is False:
                HEALTHY_LPS.set(-1)
            return False
        self._healthy = tuple(sorted(s.name for s in sessions if s.takes_orders and not s.degraded))
        self._unhealthy = tuple(sorted(s.name for s in sessions if not s.takes_orders))
        self._degraded = tuple(
            sorted((s.name, s.degraded_reason) for s in sessions if s.takes_orders and s.degraded)
        )
        self._polled_ms = self._now_ms()
        DEGRADED_LPS.set(len(self._degraded))
        HEALTHY_LPS.set(len(self._healthy))
        return True

    async def run(self) -> None:
        """Poll forever (cancel to stop)."""
        while True:
            try:
                await self.poll()
            except Exception:
                log.exception("lp_health_poll_crashed")
            await asyncio.sleep(self._interval)
