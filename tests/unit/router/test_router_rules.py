"""The rule engine: one table per precedence level, the precedence between levels, and the cost
model (rule matching does not grow with the number of rules)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bbook import Side
from router.domain import Book, RoutingRule
from router.rules import (
    AccountOverride,
    Level,
    LpFallback,
    LpHealth,
    OverLimit,
    RoutingConfig,
    RoutingInputs,
    SymbolRouting,
    VolumeLimit,
    route,
)

D = Decimal
HEALTHY = LpHealth(known=True, healthy=("LPA", "LPB"))
ALL_DOWN = LpHealth(known=True, unhealthy=("LPA", "LPB"))


def rule(
    rule_id: int,
    priority: int,
    group: str | None,
    symbol: str | None,
    book: Book,
    reason: str,
    ratio: str = "0",
) -> RoutingRule:
    return RoutingRule(rule_id, priority, group, symbol, book, reason, D(ratio))


def order(
    volume: str = "1.00",
    *,
    account: str = "1001",
    group: str = "standard",
    symbol: str = "EURUSD",
    side: Side = Side.BUY,
    net: str = "0",
    health: LpHealth = HEALTHY,
) -> RoutingInputs:
    return RoutingInputs(account, group, symbol, side, D(volume), D(net), health)


def config(
    *,
    rules: list[RoutingRule] | None = None,
    overrides: list[AccountOverride] | None = None,
    volume_limits: list[VolumeLimit] | None = None,
    exposure_limits: dict[str, Decimal] | None = None,
    symbols: dict[str, SymbolRouting] | None = None,
) -> RoutingConfig:
    return RoutingConfig.build(
        7, rules or [], overrides or [], volume_limits or [], exposure_limits, symbols
    )


# --- level 3: rules -------------------------------------------------------------------------------

RULES = [
    rule(1, 30, None, None, Book.B, "ALL_B"),
    rule(2, 20, None, "XAUUSD", Book.A, "GOLD_A"),
    rule(3, 10, "vip", None, Book.A, "VIP_A"),
    rule(4, 5, "vip", "XAUUSD", Book.C, "VIP_GOLD_C", "0.5"),
    rule(5, 20, "pro", "XAUUSD", Book.B, "PRO_GOLD_B"),
]


@pytest.mark.parametrize(
    ("group", "symbol", "book", "reason", "rule_id"),
    [
        ("standard", "EURUSD", Book.B, "ALL_B", 1),  # only the catch-all matches
        ("standard", "XAUUSD", Book.A, "GOLD_A", 2),  # symbol rule beats the catch-all
        ("vip", "EURUSD", Book.A, "VIP_A", 3),  # group rule
        ("vip", "XAUUSD", Book.C, "VIP_GOLD_C", 4),  # lowest priority of four matches
        ("pro", "XAUUSD", Book.A, "GOLD_A", 2),  # priorities tie at 20: the older rule wins
    ],
)
def test_route_when_rules_match_then_lowest_priority_then_rule_id_wins(
    group: str, symbol: str, book: Book, reason: str, rule_id: int
) -> None:
    decision = route(config(rules=RULES), order(group=group, symbol=symbol))

    assert (decision.book, decision.reason, decision.rule_id) == (book, reason, rule_id)
    assert decision.level == Level.RULE
    assert decision.config_version == 7


def test_route_when_no_rule_matches_then_default_b_book() -> None:
    decision = route(config(), order())

    assert (decision.book, decision.reason, decision.level) == (Book.B, "DEFAULT_B_BOOK", "DEFAULT")
    assert (decision.a_volume, decision.b_volume) == (D(0), D("1.00"))


def test_route_when_disabled_rule_then_ignored() -> None:
    disabled = RoutingRule(1, 1, None, None, Book.A, "OFF", enabled=False)

    assert route(config(rules=[disabled]), order()).book is Book.B


@pytest.mark.parametrize(
    ("volume", "ratio", "step", "a", "b"),
    [
        ("1.00", "0.5", "0.01", "0.50", "0.50"),
        ("1.00", "0.333", "0.01", "0.33", "0.67"),
        ("0.05", "0.5", "0.01", "0.03", "0.02"),  # 0.025 rounds half up to the step
        ("1.00", "0.5", "0.1", "0.5", "0.50"),
        ("1.00", "0.04", "0.1", "0", "1.00"),  # the A leg rounds to nothing: all B
        ("1.00", "1", "0.01", "1.00", "0"),  # all hedged: all A
    ],
)
def test_route_when_c_book_then_a_leg_is_ratio_rounded_to_lot_step(
    volume: str, ratio: str, step: str, a: str, b: str
) -> None:
    cfg = config(
        rules=[rule(1, 1, None, None, Book.C, "ALL_C", ratio)],
        symbols={"EURUSD": SymbolRouting(lot_step=D(step))},
    )

    decision = route(cfg, order(volume))

    assert (decision.a_volume, decision.b_volume) == (D(a), D(b))
    expected = Book.C if D(a) and D(b) else (Book.A if D(a) else Book.B)
    assert decision.book is expected


# --- level 2: account override --------------------------------------------------------------------


@pytest.mark.parametrize("book", [Book.A, Book.B])
def test_route_when_account_overridden_then_override_beats_every_rule(book: Book) -> None:
    cfg = config(
        rules=[rule(1, 1, "standard", "EURUSD", Book.C, "MOST_SPECIFIC", "0.5")],
        overrides=[AccountOverride("1001", book, "VIP_FORCED")],
    )

    decision = route(cfg, order())
    other = route(cfg, order(account="1002"))

    assert (decision.book, decision.reason, decision.level) == (
        book,
        "VIP_FORCED",
        "ACCOUNT_OVERRIDE",
    )
    assert decision.rule_id is None
    assert other.reason == "MOST_SPECIFIC"


def test_route_when_account_overridden_then_volume_and_exposure_limits_do_not_apply() -> None:
    cfg = config(
        overrides=[AccountOverride("1001", Book.B, "FORCED_B")],
        volume_limits=[VolumeLimit(1, None, None, D("1"), OverLimit.A)],
        exposure_limits={"EURUSD": D("1")},
    )

    decision = route(cfg, order("5.00", net="-3"))

    assert (decision.book, decision.b_volume) == (Book.B, D("5.00"))


def test_route_when_account_forced_to_a_and_no_lp_is_healthy_then_lp_fallback_still_applies() -> (
    None
):
    cfg = config(
        overrides=[AccountOverride("1001", Book.A, "FORCED_A")],
        symbols={"EURUSD": SymbolRouting(lp_fallback=LpFallback.B)},
    )

    decision = route(cfg, order(health=ALL_DOWN))

    assert (decision.book, decision.reason, decision.level) == (
        Book.B,
        "LP_DOWN_FALLBACK_B",
        "LP_HEALTH",
    )


# --- level 4: B-book maximum volume ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("volume", "over", "book", "a", "b", "reason"),
    [
        ("2.00", OverLimit.SPLIT, Book.B, "0", "2.00", "DEFAULT_B_BOOK"),  # at the max: taken
        ("3.00", OverLimit.SPLIT, Book.C, "1.00", "2.00", "BBOOK_MAX_VOLUME_SPLIT"),
        ("2.005", OverLimit.SPLIT, Book.C, "0.01", "1.995", "BBOOK_MAX_VOLUME_SPLIT"),  # step up
        ("3.00", OverLimit.A, Book.A, "3.00", "0", "BBOOK_MAX_VOLUME_A"),
    ],
)
def test_route_when_b_part_above_max_volume_then_a_book_or_split(
    volume: str, over: OverLimit, book: Book, a: str, b: str, reason: str
) -> None:
    cfg = config(volume_limits=[VolumeLimit(1, None, "EURUSD", D("2"), over)])

    decision = route(cfg, order(volume))

    assert (decision.book, decision.a_volume, decision.b_volume, decision.reason) == (
        book,
        D(a),
        D(b),
        reason,
    )


@pytest.mark.parametrize(
    ("group", "symbol", "limit_id"),
    [
        ("vip", "EURUSD", 1),  # group + symbol
        ("standard", "EURUSD", 2),  # symbol
        ("vip", "GBPUSD", 3),  # group
        ("standard", "GBPUSD", 4),  # neither
    ],
)
def test_route_when_several_volume_limits_then_most_specific_applies(
    group: str, symbol: str, limit_id: int
) -> None:
    limits = [
        VolumeLimit(1, "vip", "EURUSD", D("1"), OverLimit.A),
        VolumeLimit(2, None, "EURUSD", D("2"), OverLimit.A),
        VolumeLimit(3, "vip", None, D("3"), OverLimit.A),
        VolumeLimit(4, None, None, D("4"), OverLimit.A),
    ]

    applied = config(volume_limits=limits).volume_limit(group, symbol)

    assert applied is not None
    assert applied.limit_id == limit_id


# --- level 5: house exposure ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "net", "volume", "a", "b"),
    [
        (Side.BUY, "0", "1.00", "0", "1.00"),  # house -1 of limit 2: taken
        (Side.BUY, "-1.5", "1.00", "0.50", "0.50"),  # 0.5 fits, the excess is hedged
        (Side.BUY, "-2.5", "1.00", "1.00", "0"),  # beyond already: all hedged
        (Side.BUY, "2", "3.00", "0", "3.00"),  # reverses +2 to -1: within
        (Side.SELL, "1.5", "1.00", "0.50", "0.50"),  # client sells: house longer
        (Side.SELL, "-3", "1.00", "0", "1.00"),  # reducing beyond-limit exposure: always taken
        (Side.BUY, "-1.995", "0.01", "0.01", "0"),  # the excess rounds up to the step
    ],
)
def test_route_when_b_part_takes_house_beyond_limit_then_excess_hedged(
    side: Side, net: str, volume: str, a: str, b: str
) -> None:
    cfg = config(exposure_limits={"EURUSD": D("2")})

    decision = route(cfg, order(volume, side=side, net=net))

    assert (decision.a_volume, decision.b_volume) == (D(a), D(b))
    if D(a) > 0:
        assert (decision.reason, decision.level) == ("EXPOSURE_LIMIT_HEDGE", "EXPOSURE_LIMIT")


def test_route_when_volume_split_and_exposure_then_both_move_b_to_a() -> None:
    cfg = config(
        volume_limits=[VolumeLimit(1, None, None, D("2"), OverLimit.SPLIT)],
        exposure_limits={"EURUSD": D("1.5")},
    )

    decision = route(cfg, order("3.00"))

    # Level 4 keeps 2 for the house, level 5 lets only 1.5 of it in.
    assert (decision.a_volume, decision.b_volume) == (D("1.50"), D("1.50"))
    assert decision.level == "EXPOSURE_LIMIT"


# --- level 6: LP health ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fallback", "book", "reason", "reject"),
    [
        (LpFallback.B, Book.B, "LP_DOWN_FALLBACK_B", ""),
        # REJECT: fixgw, which knows its sessions now, answers NO_LIQUIDITY itself.
        (LpFallback.REJECT, Book.A, "ALL_A", ""),
    ],
)
def test_route_when_no_lp_is_healthy_then_symbols_fallback(
    fallback: LpFallback, book: Book, reason: str, reject: str
) -> None:
    cfg = config(
        rules=[rule(1, 1, None, None, Book.A, "ALL_A")],
        symbols={"EURUSD": SymbolRouting(lp_fallback=fallback)},
    )

    decision = route(cfg, order(health=ALL_DOWN))

    assert (decision.book, decision.reason, decision.reject_reason) == (book, reason, reject)


def test_route_when_lp_health_unknown_then_no_fallback() -> None:
    cfg = config(rules=[rule(1, 1, None, None, Book.A, "ALL_A")])

    decision = route(cfg, order(health=LpHealth(known=False)))

    assert (decision.book, decision.reason, decision.reject_reason) == (Book.A, "ALL_A", "")


def test_route_when_b_book_order_and_no_lp_is_healthy_then_lp_health_irrelevant() -> None:
    decision = route(config(), order(health=ALL_DOWN))

    assert (decision.book, decision.reason) == (Book.B, "DEFAULT_B_BOOK")


def test_route_when_exposure_hedges_and_no_lp_healthy_then_fallback_takes_precedence() -> None:
    cfg = config(
        exposure_limits={"EURUSD": D("1")},
        symbols={"EURUSD": SymbolRouting(lp_fallback=LpFallback.B)},
    )

    decision = route(cfg, order("3.00", health=ALL_DOWN))

    assert (decision.book, decision.b_volume, decision.reason) == (
        Book.B,
        D("3.00"),
        "LP_DOWN_FALLBACK_B",
    )


# --- explanation and cost -------------------------------------------------------------------------


def test_route_then_explanation_names_every_input_and_level() -> None:
    cfg = config(exposure_limits={"EURUSD": D("2")})

    decision = route(cfg, order(net="-1.5"))

    assert decision.explanation is not None
    inputs = dict(decision.explanation.inputs)
    assert inputs["house_net_lots"] == "-1.5"
    assert inputs["exposure_limit_lots"] == "2"
    assert inputs["lps_healthy"] == "LPA,LPB"
    assert inputs["toxicity"] == ""  # not computed yet
    assert [s.level for s in decision.explanation.steps] == [
        Level.ACCOUNT_OVERRIDE,
        Level.RULE,
        Level.BBOOK_MAX_VOLUME,
        Level.EXPOSURE_LIMIT,
        Level.LP_HEALTH,
    ]


def many_rules(count: int) -> list[RoutingRule]:
    """``count`` rules over many groups and symbols, none matching group "g-x" / symbol "S-X"."""
    return [
        rule(i, i % 97, f"g{i % 50}", f"S{i % 40}" if i % 3 else None, Book.A, f"R{i}")
        for i in range(1, count + 1)
    ]


@pytest.mark.parametrize("count", [10, 1_000, 100_000])
def test_route_when_rules_grow_then_matching_cost_stays_four_probes(count: int) -> None:
    cfg = config(rules=[*many_rules(count), rule(count + 1, 0, "g-x", None, Book.B, "GX")])

    before = cfg.index.probes
    decision = route(cfg, order(group="g-x", symbol="S-X"))

    assert decision.reason == "GX"
    assert cfg.index.probes - before == 4
