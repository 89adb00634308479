"""Level 6 with fixgw's health block: the monitor's reading of ListSessions, and the rule's table.

A DEGRADED LP (its session takes orders, fixgw tries it last) is not healthy for level 6; it is
recorded in ``lps_degraded`` with fixgw's reason, and what-if reads it back.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from bbook import Side
from router.domain import Book, RoutingRule
from router.fixgw_client import LpSessionStatus
from router.lphealth import LpHealthMonitor
from router.rules import (
    Level,
    LpFallback,
    LpHealth,
    RoutingConfig,
    RoutingInputs,
    SymbolRouting,
    route,
)
from router.whatif import inputs_from_explanation

D = Decimal
UP = LpSessionStatus("LPA", takes_orders=True)
UP_B = LpSessionStatus("LPB", takes_orders=True)
DOWN_B = LpSessionStatus("LPB", takes_orders=False)
DEGRADED_A = LpSessionStatus("LPA", True, True, "REJECT_RATIO")
DEGRADED_B = LpSessionStatus("LPB", True, True, "FILL_LATENCY")
DOWN_AND_DEGRADED_B = LpSessionStatus("LPB", False, True, "REJECT_RATIO")


async def polled(sessions: list[LpSessionStatus]) -> LpHealth:
    async def answer() -> list[LpSessionStatus]:
        return sessions

    monitor = LpHealthMonitor(answer, now_ms=lambda: 1000)
    assert await monitor.poll()
    return monitor.snapshot()


@pytest.mark.parametrize(
    ("sessions", "healthy", "unhealthy", "degraded"),
    [
        ([UP, UP_B], ("LPA", "LPB"), (), ()),
        ([DEGRADED_A, UP_B], ("LPB",), (), (("LPA", "REJECT_RATIO"),)),
        ([DEGRADED_A, DOWN_B], (), ("LPB",), (("LPA", "REJECT_RATIO"),)),
        (
            [DEGRADED_B, DEGRADED_A],
            (),
            (),
            (("LPA", "REJECT_RATIO"), ("LPB", "FILL_LATENCY")),
        ),
        # A session that takes no order is unhealthy, whatever its health block says.
        ([UP, DOWN_AND_DEGRADED_B], ("LPA",), ("LPB",), ()),
        ([], (), (), ()),
    ],
)
async def test_poll_when_sessions_reported_then_degraded_lps_are_apart_from_healthy(
    sessions: list[LpSessionStatus],
    healthy: tuple[str, ...],
    unhealthy: tuple[str, ...],
    degraded: tuple[tuple[str, str], ...],
) -> None:
    health = await polled(sessions)

    assert (health.known, health.healthy, health.unhealthy, health.degraded) == (
        True,
        healthy,
        unhealthy,
        degraded,
    )


def a_order(health: LpHealth) -> RoutingInputs:
    return RoutingInputs("1001", "standard", "EURUSD", Side.BUY, D("1.00"), D(0), health)


def a_config(fallback: LpFallback) -> RoutingConfig:
    return RoutingConfig.build(
        3,
        [RoutingRule(1, 1, None, None, Book.A, "ALL_A")],
        symbols={"EURUSD": SymbolRouting(lp_fallback=fallback)},
    )


@pytest.mark.parametrize(
    ("sessions", "fallback", "book", "reason", "level", "step"),
    [
        # Every LP degraded: no healthy LP, the symbol's fallback applies.
        (
            [DEGRADED_A, DEGRADED_B],
            LpFallback.B,
            Book.B,
            "LP_DOWN_FALLBACK_B",
            Level.LP_HEALTH,
            "no healthy LP (degraded LPA:REJECT_RATIO LPB:FILL_LATENCY)",
        ),
        # REJECT: the order still goes to fixgw, which sends it to a degraded LP last.
        (
            [DEGRADED_A, DEGRADED_B],
            LpFallback.REJECT,
            Book.A,
            "ALL_A",
            Level.RULE,
            "no healthy LP (degraded LPA:REJECT_RATIO LPB:FILL_LATENCY) at the last poll",
        ),
        # One degraded, one down: still no healthy LP.
        (
            [DEGRADED_A, DOWN_B],
            LpFallback.B,
            Book.B,
            "LP_DOWN_FALLBACK_B",
            Level.LP_HEALTH,
            "no healthy LP (degraded LPA:REJECT_RATIO)",
        ),
        # One healthy LP is enough: no fallback.
        (
            [DEGRADED_A, UP_B],
            LpFallback.B,
            Book.A,
            "ALL_A",
            Level.RULE,
            "healthy LPB degraded LPA:REJECT_RATIO",
        ),
        ([UP, UP_B], LpFallback.B, Book.A, "ALL_A", Level.RULE, "healthy LPA,LPB"),
    ],
)
async def test_route_when_lps_degraded_then_fallback_only_without_a_healthy_lp(
    sessions: list[LpSessionStatus],
    fallback: LpFallback,
    book: Book,
    reason: str,
    level: Level,
    step: str,
) -> None:
    health = await polled(sessions)

    decision = route(a_config(fallback), a_order(health))

    assert (decision.book, decision.reason, decision.level) == (book, reason, level.value)
    assert decision.explanation is not None
    [lp_step] = [s for s in decision.explanation.steps if s.level is Level.LP_HEALTH]
    assert lp_step.detail == step
    assert dict(decision.explanation.inputs)["lps_degraded"] == health.degraded_text


async def test_whatif_when_recorded_with_degraded_lps_then_inputs_read_back_and_same_decision() -> (
    None
):
    health = await polled([DEGRADED_A, DEGRADED_B])
    cfg = a_config(LpFallback.B)
    live = route(cfg, a_order(health))
    assert live.explanation is not None

    again = inputs_from_explanation(
        dict(live.explanation.inputs), "1001", "EURUSD", Side.BUY, D("1.00")
    )

    assert again.lp_health.degraded == health.degraded
    replayed = route(cfg, again)
    assert (replayed.book, replayed.reason, replayed.a_volume, replayed.b_volume) == (
        live.book,
        live.reason,
        live.a_volume,
        live.b_volume,
    )
