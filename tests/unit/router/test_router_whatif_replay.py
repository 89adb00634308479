"""The what-if replay (``router.whatif``): decisions again under a proposed configuration, the
house net following the replay, hedge volume, exposure peaks, house P&L and the changed orders."""

from __future__ import annotations

from decimal import Decimal

from bbook import Side
from router.domain import Book, RoutingRule
from router.rules import LpHealth, RoutingConfig, RoutingInputs, route
from router.whatif import RecordedOrder, inputs_from_explanation, replay

D = Decimal
HEALTHY = LpHealth(True, ("LPA",))


def recorded(n: int, side: Side, volume: str, price: str, *, net: str = "0") -> RecordedOrder:
    """A B-book order as the live default configuration recorded it."""
    inputs = RoutingInputs("7", "standard", "EURUSD", side, D(volume), D(net), HEALTHY)
    return RecordedOrder(
        order_id=str(n),
        inputs=inputs,
        book=Book.B,
        reason="DEFAULT_B_BOOK",
        level="DEFAULT",
        a_volume=D(0),
        b_volume=D(volume),
        price=D(price),
        contract_size=D(100000),
        usd_rate=D(1),
    )


ORDERS = [
    recorded(1, Side.BUY, "1.00", "1.1000", net="-2"),  # the house starts 2 lots short
    recorded(2, Side.BUY, "2.00", "1.1010"),
    recorded(3, Side.SELL, "0.50", "1.1020"),
]


def test_replay_with_the_live_configuration_then_nothing_changes() -> None:
    report = replay(RoutingConfig.build(5), ORDERS)

    assert (report.orders, report.changed_count) == (3, 0)
    assert report.recorded == report.proposed
    [symbol] = report.recorded.symbols
    # Net -2 -> -3 -> -5 -> -4.5: the peak is 5 lots.
    assert symbol.peak_abs_net_lots == D("5.00")
    # Marked at the last price 1.1020: short 1 lot @1.1000 loses 200 USD, short 2 lots @1.1010
    # lose 200 (10 points each), long 0.5 @1.1020 makes 0.
    assert symbol.house_pnl_usd == D("-400.00")


def test_replay_with_an_exposure_limit_then_the_excess_is_hedged_along_the_replayed_net() -> None:
    config = RoutingConfig.build(6, exposure_limits={"EURUSD": D("3")})

    report = replay(config, ORDERS)

    # Order 1: net -2, limit 3 -> 1 lot allowed, B 1; order 2: net -3 -> nothing allowed, all
    # hedged (A 2); order 3 (a SELL) reduces the short: taken.
    assert [(d.a_volume, d.b_volume) for d in report.decisions] == [
        (D("0"), D("1.00")),
        (D("2.00"), D("0.00")),
        (D("0"), D("0.50")),
    ]
    assert report.changed_count == 1
    assert report.changed[0].order.order_id == "2"
    assert report.proposed.hedge_volume == D("2.00")
    assert report.proposed.symbols[0].peak_abs_net_lots == D("3.00")
    assert report.proposed.symbols[0].house_pnl_usd == D("-200.00")
    assert [(m.book, m.orders) for m in report.proposed.venue_mix] == [(Book.A, 1), (Book.B, 2)]


def test_replay_when_a_rule_moves_the_group_to_a_then_every_order_changes_and_is_listed() -> None:
    config = RoutingConfig.build(7, [RoutingRule(1, 1, "standard", None, Book.A, "STD_A")])

    report = replay(config, ORDERS, max_changed=2)

    assert report.changed_count == 3
    assert [c.order.order_id for c in report.changed] == ["1", "2"]
    assert report.proposed.house_pnl_usd == D(0)


def test_inputs_from_a_recorded_explanation_then_the_same_decision() -> None:
    inputs = RoutingInputs("7", "vip", "EURUSD", Side.SELL, D("1.50"), D("-4"), HEALTHY)
    decision = route(RoutingConfig.build(1), inputs)
    assert decision.explanation is not None

    rebuilt = inputs_from_explanation(
        dict(decision.explanation.inputs), "7", "EURUSD", Side.SELL, D("1.50")
    )

    assert rebuilt == inputs
