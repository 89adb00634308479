"""The rule engine is deterministic: the same order with the same inputs and configuration gets
the same decision, whatever the order the configuration rows were loaded in; and every decision
splits exactly the order's volume."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from bbook import Side
from router.domain import Book, RoutingRule
from router.rules import (
    AccountOverride,
    FlowThreshold,
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

GROUPS = st.sampled_from(["standard", "vip", "pro"])
SYMBOLS = st.sampled_from(["EURUSD", "XAUUSD"])
BOOKS = st.sampled_from(list(Book))
LOTS = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("50"), places=2)
RATIOS = st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=2)


@st.composite
def rules(draw: st.DrawFn) -> list[RoutingRule]:
    count = draw(st.integers(0, 12))
    ids = draw(st.lists(st.integers(1, 10_000), min_size=count, max_size=count, unique=True))
    return [
        RoutingRule(
            rule_id=rule_id,
            priority=draw(st.integers(0, 5)),  # many ties: rule_id must break them
            client_group=draw(st.none() | GROUPS),
            symbol=draw(st.none() | SYMBOLS),
            book=draw(BOOKS),
            reason=f"R{rule_id}",
            c_book_hedge_ratio=draw(RATIOS),
            enabled=draw(st.booleans()),
        )
        for rule_id in ids
    ]


@st.composite
def configs(draw: st.DrawFn) -> tuple[list[RoutingRule], dict[str, object]]:
    overrides = [
        AccountOverride(account, draw(BOOKS), "FORCED", draw(RATIOS))
        for account in draw(st.lists(st.sampled_from(["1", "2", "3"]), unique=True))
    ]
    limits = [
        VolumeLimit(i, group, symbol, draw(LOTS), draw(st.sampled_from(list(OverLimit))))
        for i, (group, symbol) in enumerate(
            draw(st.lists(st.tuples(st.none() | GROUPS, st.none() | SYMBOLS), unique=True)), 1
        )
    ]
    exposure = draw(st.dictionaries(SYMBOLS, LOTS))
    symbols = draw(
        st.dictionaries(
            SYMBOLS,
            st.builds(
                SymbolRouting,
                st.sampled_from([Decimal("0.01"), Decimal("0.1"), Decimal("1")]),
                st.sampled_from(list(LpFallback)),
            ),
        )
    )
    maybe_bps = st.none() | st.decimals(min_value=Decimal(-5), max_value=Decimal(20), places=2)
    maybe_share = st.none() | st.decimals(min_value=Decimal(0), max_value=Decimal(1), places=2)
    flow = [
        FlowThreshold(
            i,
            group,
            draw(st.integers(0, 20)),
            draw(st.none() | st.decimals(min_value=-100, max_value=10_000, places=2)),
            draw(maybe_share),
            draw(st.integers(0, 20)),
            draw(maybe_bps),
            draw(maybe_share),
        )
        for i, group in enumerate(draw(st.lists(st.none() | GROUPS, unique=True, max_size=3)), 1)
    ]
    volatility = [
        VolatilityThreshold(
            i,
            symbol,
            draw(st.decimals(min_value=Decimal(0), max_value=Decimal(30), places=2)),
            draw(BOOKS),
            draw(RATIOS),
        )
        for i, symbol in enumerate(draw(st.lists(st.none() | SYMBOLS, unique=True, max_size=3)), 1)
    ]
    return draw(rules()), {
        "overrides": overrides,
        "volume_limits": limits,
        "exposure_limits": exposure,
        "symbols": symbols,
        "flow_thresholds": flow,
        "volatility_thresholds": volatility,
    }


MARKOUT = st.none() | st.decimals(min_value=Decimal(-20), max_value=Decimal(20), places=2)


@st.composite
def traders(draw: st.DrawFn) -> TraderStats:
    closed = draw(st.integers(0, 40))
    wins = draw(st.integers(0, closed))
    return TraderStats(
        closed_deals=closed,
        wins=wins,
        net_profit=draw(st.decimals(min_value=-10_000, max_value=20_000, places=2)),
        markout_fills=draw(st.integers(0, 40)),
        markout_1s_bps=draw(MARKOUT),
        markout_10s_bps=draw(MARKOUT),
        markout_60s_bps=draw(MARKOUT),
        avg_holding_seconds=draw(st.none() | st.decimals(min_value=0, max_value=3600, places=2)),
        latency_arb_deals=draw(st.integers(0, wins)),
    )


INPUTS = st.builds(
    RoutingInputs,
    account_id=st.sampled_from(["1", "2", "3", "4"]),
    client_group=GROUPS,
    symbol=SYMBOLS,
    side=st.sampled_from(list(Side)),
    volume=LOTS,
    house_net_lots=st.decimals(min_value=Decimal(-100), max_value=Decimal(100), places=2),
    lp_health=st.sampled_from(
        [
            LpHealth(False),
            LpHealth(True, ("LPA",)),
            LpHealth(True, (), ("LPA", "LPB")),
            LpHealth(True, ("LPB",), (), 40, (("LPA", "REJECT_RATIO"),)),
            LpHealth(True, (), ("LPB",), 40, (("LPA", "FILL_LATENCY"),)),
        ]
    ),
    trader=st.none() | traders(),
    volatility=st.none() | st.decimals(min_value=Decimal(0), max_value=Decimal(40), places=2),
)


def build(rule_list: list[RoutingRule], rest: dict[str, object]) -> RoutingConfig:
    return RoutingConfig.build(3, rule_list, **rest)  # type: ignore[arg-type]


@settings(max_examples=400, deadline=None)
@given(configs(), INPUTS, st.randoms(use_true_random=False))
def test_route_is_a_function_of_config_and_inputs(
    config: tuple[list[RoutingRule], dict[str, object]],
    inputs: RoutingInputs,
    rnd: object,
) -> None:
    rule_list, rest = config
    shuffled = list(rule_list)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    reordered = dict(rest)
    for key in ("flow_thresholds", "volatility_thresholds"):
        rows = list(rest[key])  # type: ignore[call-overload]
        rnd.shuffle(rows)  # type: ignore[attr-defined]
        reordered[key] = rows

    first = route(build(rule_list, rest), inputs)
    again = route(build(rule_list, rest), inputs)
    reloaded = route(build(shuffled, reordered), inputs)

    assert first == again == reloaded
    assert first.explanation == again.explanation == reloaded.explanation


@settings(max_examples=400, deadline=None)
@given(configs(), INPUTS)
def test_route_splits_exactly_the_order_volume(
    config: tuple[list[RoutingRule], dict[str, object]], inputs: RoutingInputs
) -> None:
    rule_list, rest = config
    cfg = build(rule_list, rest)

    decision = route(cfg, inputs)

    assert decision.a_volume >= 0
    assert decision.b_volume >= 0
    assert decision.a_volume + decision.b_volume == inputs.volume
    step = cfg.symbol(inputs.symbol).lot_step
    if decision.b_volume > 0:  # an A leg beside a B leg is whole lot steps
        assert decision.a_volume % step == 0
    assert decision.book is (
        Book.C
        if decision.a_volume and decision.b_volume
        else (Book.A if decision.a_volume else Book.B)
    )
