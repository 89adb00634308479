"""What-if: the routing decisions recorded in a period, replayed through a proposed configuration.
Pure (no I/O): ``router.repository`` applies the proposal inside a transaction it rolls back,
loads the configuration from it and the recorded orders; ``replay`` decides them again.

Each recorded order is decided again with the inputs its decision recorded (client group, LP
health, flow figures, volatility), except the house net, which follows the replay: it starts at
the net the first order of the symbol saw and moves with the B volume each order puts on the house
(under the recorded decisions for the recorded outcome, under the new ones for the proposed one).
So the replay of a configuration that routes nothing by exposure gives exactly the decisions the
live router would have taken; with exposure limits it gives what the same flow would have done to
the house under the proposal.

Only filled orders are replayed (a rejected order put nothing on any book); closing orders follow
their position's venue and are not replayed. House P&L: the B legs marked at the last fill price of
the symbol in the period, in USD at each order's quote-to-USD rate.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from bbook import Side
from router.domain import Book, Decision, RoutingRule
from router.rules import (
    EXPOSURE_LIMIT_HEDGE,
    AccountOverride,
    FlowThreshold,
    LpHealth,
    RoutingConfig,
    RoutingInputs,
    TraderStats,
    VolatilityThreshold,
    VolumeLimit,
    route,
)

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed configuration: each table that is not None replaces the live one whole."""

    rules: tuple[RoutingRule, ...] | None = None
    """rule_id 0: a new rule."""
    overrides: tuple[AccountOverride, ...] | None = None
    volume_limits: tuple[VolumeLimit, ...] | None = None
    exposure_limits: Mapping[str, Decimal] | None = None
    flow_thresholds: tuple[FlowThreshold, ...] | None = None
    volatility_thresholds: tuple[VolatilityThreshold, ...] | None = None


@dataclass(frozen=True, slots=True)
class RecordedOrder:
    """One recorded, filled decision with the inputs it saw and its execution's price."""

    order_id: str
    inputs: RoutingInputs
    book: Book
    reason: str
    level: str
    a_volume: Decimal
    b_volume: Decimal
    price: Decimal | None
    contract_size: Decimal | None
    usd_rate: Decimal | None


@dataclass(frozen=True, slots=True)
class VenueMix:
    book: Book
    orders: int
    a_volume: Decimal
    b_volume: Decimal


@dataclass(frozen=True, slots=True)
class SymbolOutcome:
    symbol: str
    house_pnl_usd: Decimal
    peak_abs_net_lots: Decimal
    hedge_volume: Decimal
    a_volume: Decimal
    b_volume: Decimal


@dataclass(frozen=True, slots=True)
class Outcome:
    venue_mix: tuple[VenueMix, ...]
    symbols: tuple[SymbolOutcome, ...]
    house_pnl_usd: Decimal
    hedge_volume: Decimal


@dataclass(frozen=True, slots=True)
class ChangedOrder:
    order: RecordedOrder
    proposed: Decision


@dataclass(frozen=True, slots=True)
class WhatIfReport:
    orders: int
    closes_skipped: int
    base_config_version: int
    recorded: Outcome
    proposed: Outcome
    changed_count: int
    changed: tuple[ChangedOrder, ...]
    """The first ``max_changed`` changed orders, in replay order."""
    decisions: tuple[Decision, ...] = field(default=(), compare=False)
    """The proposed decision of every replayed order, in replay order."""


@dataclass(slots=True)
class _Leg:
    book: Book
    reason: str
    a: Decimal
    b: Decimal


def inputs_from_explanation(
    recorded: Mapping[str, str],
    account_id: str,
    symbol: str,
    side: Side,
    volume: Decimal,
) -> RoutingInputs:
    """The ``RoutingInputs`` a decision recorded in its explanation (``Explanation.inputs``)."""

    def dec(key: str) -> Decimal | None:
        raw = recorded.get(key, "")
        return Decimal(raw) if raw else None

    def names(key: str) -> tuple[str, ...]:
        raw = recorded.get(key, "")
        return tuple(raw.split(",")) if raw else ()

    age = recorded.get("lp_health_age_ms", "")
    health = LpHealth(
        recorded.get("lp_health") == "known",
        names("lps_healthy"),
        names("lps_unhealthy"),
        int(age) if age else None,
        tuple(
            (name, why) for name, _, why in (item.partition(":") for item in names("lps_degraded"))
        ),
    )
    trader = None
    if recorded.get("closed_deals", ""):
        trader = TraderStats(
            closed_deals=int(recorded["closed_deals"]),
            wins=int(recorded.get("wins") or 0),
            net_profit=dec("net_profit") or ZERO,
            markout_fills=int(recorded.get("markout_fills") or 0),
            markout_1s_bps=dec("markout_1s_bps"),
            markout_10s_bps=dec("markout_10s_bps"),
            markout_60s_bps=dec("markout_60s_bps"),
            avg_holding_seconds=dec("avg_holding_seconds"),
            latency_arb_deals=int(recorded.get("latency_arb_deals") or 0),
        )
    return RoutingInputs(
        account_id=account_id,
        client_group=recorded.get("client_group", ""),
        symbol=symbol,
        side=side,
        volume=volume,
        house_net_lots=dec("house_net_lots") or ZERO,
        lp_health=health,
        trader=trader,
        volatility=dec("volatility"),
    )


def replay(
    config: RoutingConfig,
    orders: Sequence[RecordedOrder],
    *,
    closes_skipped: int = 0,
    base_config_version: int = 0,
    max_changed: int = 100,
) -> WhatIfReport:
    """Decide ``orders`` (oldest first) again under ``config`` and compare with the recorded."""
    recorded_legs = [_Leg(o.book, o.reason, o.a_volume, o.b_volume) for o in orders]
    proposed: list[Decision] = []
    nets: dict[str, Decimal] = {}
    for order in orders:
        symbol = order.inputs.symbol
        net = nets.get(symbol, order.inputs.house_net_lots)
        decision = route(config, _with_net(order.inputs, net))
        proposed.append(decision)
        nets[symbol] = _moved(net, order.inputs.side, decision.b_volume)
    proposed_legs = [_Leg(d.book, d.reason, d.a_volume, d.b_volume) for d in proposed]
    changed = tuple(
        ChangedOrder(order, decision)
        for order, decision in zip(orders, proposed, strict=True)
        if (order.book, order.a_volume, order.b_volume)
        != (decision.book, decision.a_volume, decision.b_volume)
    )
    return WhatIfReport(
        orders=len(orders),
        closes_skipped=closes_skipped,
        base_config_version=base_config_version,
        recorded=_outcome(orders, recorded_legs),
        proposed=_outcome(orders, proposed_legs),
        changed_count=len(changed),
        changed=changed[: max(0, max_changed)],
        decisions=tuple(proposed),
    )


def _with_net(inputs: RoutingInputs, net: Decimal) -> RoutingInputs:
    if inputs.house_net_lots == net:
        return inputs
    return RoutingInputs(
        inputs.account_id,
        inputs.client_group,
        inputs.symbol,
        inputs.side,
        inputs.volume,
        net,
        inputs.lp_health,
        inputs.trader,
        inputs.volatility,
    )


def _moved(net: Decimal, side: Side, b_volume: Decimal) -> Decimal:
    """The house net after taking ``b_volume`` of a client order (a client BUY makes it shorter)."""
    return net - b_volume if side is Side.BUY else net + b_volume


def _outcome(orders: Iterable[RecordedOrder], legs: Sequence[_Leg]) -> Outcome:
    orders = list(orders)
    marks: dict[str, Decimal] = {}
    for order in orders:
        if order.price is not None:
            marks[order.inputs.symbol] = order.price
    mix: dict[Book, list[Decimal]] = {}
    per_symbol: dict[str, list[Decimal]] = {}  # pnl, peak, hedge, a, b, net
    for order, leg in zip(orders, legs, strict=True):
        counts = mix.setdefault(leg.book, [ZERO, ZERO, ZERO])
        counts[0] += 1
        counts[1] += leg.a
        counts[2] += leg.b
        symbol = order.inputs.symbol
        figures = per_symbol.get(symbol)
        if figures is None:
            net0 = order.inputs.house_net_lots
            figures = per_symbol[symbol] = [ZERO, abs(net0), ZERO, ZERO, ZERO, net0]
        figures[5] = _moved(figures[5], order.inputs.side, leg.b)
        figures[1] = max(figures[1], abs(figures[5]))
        if leg.reason == EXPOSURE_LIMIT_HEDGE:
            figures[2] += leg.a
        figures[3] += leg.a
        figures[4] += leg.b
        mark = marks.get(symbol)
        if (
            order.price is not None
            and mark is not None
            and order.contract_size is not None
            and order.usd_rate is not None
        ):
            move = order.price - mark if order.inputs.side is Side.BUY else mark - order.price
            figures[0] += move * leg.b * order.contract_size * order.usd_rate
    symbols = tuple(
        SymbolOutcome(
            symbol,
            f[0].quantize(Decimal("0.01")),
            f[1],
            f[2],
            f[3],
            f[4],
        )
        for symbol, f in sorted(per_symbol.items())
    )
    return Outcome(
        venue_mix=tuple(
            VenueMix(book, int(c[0]), c[1], c[2])
            for book, c in sorted(mix.items(), key=lambda kv: kv[0].value)
        ),
        symbols=symbols,
        house_pnl_usd=sum((s.house_pnl_usd for s in symbols), ZERO),
        hedge_volume=sum((s.hedge_volume for s in symbols), ZERO),
    )
