"""Levels 3a to 3c of the rule engine: volatility, profitable trader, toxic flow — one table per
level, their precedence against the other levels, and what Explain shows of their inputs."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bbook import Side
from router.domain import Book, RoutingRule
from router.rules import (
    AccountOverride,
    FlowThreshold,
    Level,
    LpFallback,
    LpHealth,
    OverLimit,
    RoutingConfig,
    RoutingInputs,
    SymbolRouting,
    TraderStats,
    VolatilityThreshold,
    VolumeLimit,
    route,
)

D = Decimal
HEALTHY = LpHealth(known=True, healthy=("LPA",))
ALL_DOWN = LpHealth(known=True, unhealthy=("LPA",))
FLOW = FlowThreshold(
    1,
    None,
    min_closed_deals=10,
    net_profit_min=D("5000"),
    win_rate_min=D("0.7"),
    min_markout_fills=5,
    toxicity_min_bps=D("2"),
    latency_arb_share_min=D("0.3"),
)
VOL = VolatilityThreshold(1, None, D("8"), Book.A)
CALM = TraderStats(closed_deals=20, wins=8, net_profit=D("-100"), markout_fills=20)


def order(
    volume: str = "1.00",
    *,
    account: str = "1001",
    group: str = "standard",
    symbol: str = "EURUSD",
    trader: TraderStats | None = CALM,
    volatility: str | None = "1",
    health: LpHealth = HEALTHY,
    net: str = "0",
) -> RoutingInputs:
    return RoutingInputs(
        account,
        group,
        symbol,
        Side.BUY,
        D(volume),
        D(net),
        health,
        trader=trader,
        volatility=None if volatility is None else D(volatility),
    )


def config(
    *,
    flow: list[FlowThreshold] | None = None,
    vol: list[VolatilityThreshold] | None = None,
    rules: list[RoutingRule] | None = None,
    overrides: list[AccountOverride] | None = None,
    volume_limits: list[VolumeLimit] | None = None,
    exposure_limits: dict[str, Decimal] | None = None,
    symbols: dict[str, SymbolRouting] | None = None,
) -> RoutingConfig:
    return RoutingConfig.build(
        9,
        rules or [],
        overrides or [],
        volume_limits or [],
        exposure_limits,
        symbols,
        flow or [],
        vol or [],
    )


# --- no threshold row: nothing changes -------------------------------------------------------------


@pytest.mark.parametrize(
    "trader",
    [
        TraderStats(closed_deals=100, wins=100, net_profit=D("1e6")),
        TraderStats(markout_fills=100, markout_1s_bps=D(50)),
        None,
    ],
)
def test_route_without_threshold_rows_then_flow_inputs_change_nothing(
    trader: TraderStats | None,
) -> None:
    decision = route(config(), order(trader=trader, volatility="500"))

    assert (decision.book, decision.reason, decision.level) == (Book.B, "DEFAULT_B_BOOK", "DEFAULT")
    assert decision.explanation is not None
    levels = [s.level for s in decision.explanation.steps]
    assert Level.VOLATILITY not in levels
    assert Level.TOXIC_FLOW not in levels


# --- 3a volatility --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "symbol", "volatility", "book", "a", "reason", "level"),
    [
        ([VOL], "EURUSD", "8", Book.A, "1.00", "VOLATILITY_THRESHOLD", "VOLATILITY"),  # at max acts
        ([VOL], "EURUSD", "7.99", Book.B, "0", "DEFAULT_B_BOOK", "DEFAULT"),
        ([VOL], "EURUSD", None, Book.B, "0", "DEFAULT_B_BOOK", "DEFAULT"),  # not enough quotes
        (  # the symbol's own row wins over the any-symbol row
            [VOL, VolatilityThreshold(2, "EURUSD", D("20"), Book.C, D("0.4"))],
            "EURUSD",
            "25",
            Book.C,
            "0.40",
            "VOLATILITY_THRESHOLD",
            "VOLATILITY",
        ),
        (
            [VOL, VolatilityThreshold(2, "EURUSD", D("20"), Book.C, D("0.4"))],
            "EURUSD",
            "10",
            Book.B,
            "0",
            "DEFAULT_B_BOOK",
            "DEFAULT",
        ),
        (
            [VolatilityThreshold(2, "XAUUSD", D("1"), Book.A)],
            "EURUSD",
            "99",
            Book.B,
            "0",
            "DEFAULT_B_BOOK",
            "DEFAULT",
        ),
        (
            [VolatilityThreshold(3, None, D("1"), Book.B)],
            "EURUSD",
            "5",
            Book.B,
            "0",
            "VOLATILITY_THRESHOLD",
            "VOLATILITY",
        ),
    ],
)
def test_route_volatility_level_table(
    rows: list[VolatilityThreshold],
    symbol: str,
    volatility: str | None,
    book: Book,
    a: str,
    reason: str,
    level: str,
) -> None:
    decision = route(config(vol=rows), order(symbol=symbol, volatility=volatility))

    assert (decision.book, decision.a_volume, decision.reason, decision.level) == (
        book,
        D(a),
        reason,
        level,
    )


# --- 3b profitable trader -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stats", "profitable"),
    [
        (TraderStats(closed_deals=1, wins=1, net_profit=D("5000.01")), True),  # profit alone
        (TraderStats(closed_deals=1, wins=1, net_profit=D("5000")), False),  # not above
        (TraderStats(closed_deals=10, wins=8, net_profit=D("10")), True),  # 0.8 > 0.7 over 10
        (TraderStats(closed_deals=10, wins=7, net_profit=D("10")), False),  # 0.7 is not above
        (TraderStats(closed_deals=9, wins=9, net_profit=D("10")), False),  # too few deals
        (TraderStats(), False),  # no history
    ],
)
def test_route_profitable_trader_level_table(stats: TraderStats, profitable: bool) -> None:
    decision = route(config(flow=[FLOW]), order(trader=stats))

    assert decision.explanation is not None
    inputs = dict(decision.explanation.inputs)
    assert inputs["profitable"] == str(profitable).lower()
    expected = (Book.A, "PROFITABLE_TRADER_A") if profitable else (Book.B, "DEFAULT_B_BOOK")
    assert (decision.book, decision.reason) == expected


def test_route_profitable_when_group_row_exists_then_it_wins_over_any_group_row() -> None:
    strict = FlowThreshold(2, "vip", min_closed_deals=10, net_profit_min=D("1e9"))
    stats = TraderStats(closed_deals=10, wins=10, net_profit=D("6000"))

    vip = route(config(flow=[FLOW, strict]), order(group="vip", trader=stats))
    standard = route(config(flow=[FLOW, strict]), order(group="standard", trader=stats))

    assert (vip.book, standard.book) == (Book.B, Book.A)


# --- 3c toxic flow --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stats", "toxic"),
    [
        (  # mean of 1, 2, 3 = 2 bps >= 2 over 5 fills
            TraderStats(
                markout_fills=5,
                markout_1s_bps=D(1),
                markout_10s_bps=D(2),
                markout_60s_bps=D(3),
            ),
            True,
        ),
        (TraderStats(markout_fills=4, markout_1s_bps=D(9)), False),  # too few fills
        (TraderStats(markout_fills=50, markout_1s_bps=D("1.99")), False),
        (TraderStats(markout_fills=50, markout_1s_bps=D(-5)), False),  # the house's gain
        (TraderStats(closed_deals=10, wins=3, latency_arb_deals=3), True),  # 0.3 share
        (TraderStats(closed_deals=10, wins=3, latency_arb_deals=2), False),
        (TraderStats(closed_deals=3, wins=3, latency_arb_deals=3), False),  # too few deals
    ],
)
def test_route_toxic_flow_level_table(stats: TraderStats, toxic: bool) -> None:
    decision = route(config(flow=[FLOW]), order(trader=stats))

    assert decision.explanation is not None
    assert dict(decision.explanation.inputs)["toxic"] == str(toxic).lower()
    expected = (
        (Book.A, "TOXIC_FLOW_A", "TOXIC_FLOW") if toxic else (Book.B, "DEFAULT_B_BOOK", "DEFAULT")
    )
    assert (decision.book, decision.reason, decision.level) == expected


def test_route_flow_levels_when_feed_off_then_unknown_and_nothing_changes() -> None:
    decision = route(config(flow=[FLOW]), order(trader=None))

    assert (decision.book, decision.level) == (Book.B, "DEFAULT")
    assert decision.explanation is not None
    steps = {s.level: s.outcome for s in decision.explanation.steps}
    assert steps[Level.TOXIC_FLOW] == "unknown"


# --- precedence -----------------------------------------------------------------------------------

TOXIC = TraderStats(
    closed_deals=20, wins=15, net_profit=D("9000"), markout_fills=20, markout_1s_bps=D(5)
)


def test_precedence_override_then_flow_levels_do_not_apply() -> None:
    cfg = config(flow=[FLOW], vol=[VOL], overrides=[AccountOverride("1001", Book.B, "VIP_B")])

    decision = route(cfg, order(trader=TOXIC, volatility="50"))

    assert (decision.book, decision.reason, decision.level) == (Book.B, "VIP_B", "ACCOUNT_OVERRIDE")


def test_precedence_flow_levels_then_over_the_matching_rule() -> None:
    cfg = config(flow=[FLOW], rules=[RoutingRule(1, 1, None, None, Book.B, "ALL_B")])

    decision = route(cfg, order(trader=TOXIC))

    assert (decision.book, decision.reason, decision.rule_id) == (Book.A, "TOXIC_FLOW_A", 1)


def test_precedence_toxic_after_profitable_after_volatility_last_change_wins() -> None:
    cfg = config(flow=[FLOW], vol=[VolatilityThreshold(1, None, D("1"), Book.B)])

    decision = route(cfg, order(trader=TOXIC, volatility="50"))

    assert decision.explanation is not None
    acted = [s.level for s in decision.explanation.steps if s.outcome != "pass"]
    assert acted[-3:] == [Level.VOLATILITY, Level.PROFITABLE_TRADER, Level.TOXIC_FLOW]
    assert (decision.book, decision.level) == (Book.A, "TOXIC_FLOW")


def test_precedence_volatility_c_book_then_volume_maximum_still_splits_the_b_leg() -> None:
    cfg = config(
        vol=[VolatilityThreshold(1, None, D("1"), Book.C, D("0.5"))],
        volume_limits=[VolumeLimit(1, None, None, D("1"), OverLimit.SPLIT)],
    )

    decision = route(cfg, order("4.00", volatility="5"))

    assert (decision.a_volume, decision.b_volume, decision.level) == (
        D("3.00"),
        D("1.00"),
        "BBOOK_MAX_VOLUME",
    )


def test_precedence_toxic_to_a_then_lp_fallback_b_when_no_lp_is_healthy() -> None:
    cfg = config(flow=[FLOW], symbols={"EURUSD": SymbolRouting(D("0.01"), LpFallback.B)})

    decision = route(cfg, order(trader=TOXIC, health=ALL_DOWN))

    assert (decision.book, decision.reason, decision.level) == (
        Book.B,
        "LP_DOWN_FALLBACK_B",
        "LP_HEALTH",
    )


def test_explanation_shows_every_toxicity_component() -> None:
    stats = TraderStats(
        closed_deals=4,
        wins=3,
        net_profit=D("12.5"),
        markout_fills=6,
        markout_1s_bps=D("0.5"),
        markout_10s_bps=D("1.5"),
        markout_60s_bps=D("-0.5"),
        avg_holding_seconds=D("3.25"),
        latency_arb_deals=1,
    )

    decision = route(config(flow=[FLOW], vol=[VOL]), order(trader=stats, volatility="3.5"))

    assert decision.explanation is not None
    inputs = dict(decision.explanation.inputs)
    assert {
        k: inputs[k]
        for k in (
            "toxicity",
            "markout_1s_bps",
            "markout_10s_bps",
            "markout_60s_bps",
            "markout_fills",
            "avg_holding_seconds",
            "latency_arb_share",
            "closed_deals",
            "win_rate",
            "net_profit",
            "volatility",
            "profitable",
            "toxic",
        )
    } == {
        "toxicity": "0.50",
        "markout_1s_bps": "0.5",
        "markout_10s_bps": "1.5",
        "markout_60s_bps": "-0.5",
        "markout_fills": "6",
        "avg_holding_seconds": "3.25",
        "latency_arb_share": "0.2500",
        "closed_deals": "4",
        "win_rate": "0.7500",
        "net_profit": "12.5",
        "volatility": "3.5",
        "profitable": "false",
        "toxic": "false",
    }
