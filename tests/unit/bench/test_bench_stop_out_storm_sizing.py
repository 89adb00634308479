"""Stop-out storm sizing: seeded accounts start safely above the margin call level and the gap
takes every one of them below its stop-out level; the model predicts how many closes it takes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bench.scenarios.stop_out_storm import (
    Market,
    margin_level,
    percentiles_ms,
    size_population,
    stop_out_closes,
)

# The pinned demo EURUSD quote as clients see it (LP 1.08449 / 1.08451 plus 5 points markup).
MARKET = Market(
    bid=Decimal("1.08444"),
    ask=Decimal("1.08456"),
    contract_size=Decimal(100000),
    point=Decimal("0.00001"),
    leverage=500,
    commission_per_lot=Decimal("3.50"),
)


def test_margin_level_when_one_lot_held_then_equity_over_margin_at_open_price() -> None:
    # 1 lot at 1.08456 with 1:500 uses 216.91 USD; 12 points of spread cost 12 USD.
    level = margin_level(Decimal("300.00"), [Decimal(1)], MARKET.ask, MARKET.bid, MARKET)

    assert level == Decimal("132.77")  # (300 - 12) / 216.91


def test_margin_level_when_flat_then_none() -> None:
    assert margin_level(Decimal(100), [], MARKET.ask, MARKET.bid, MARKET) is None


def test_population_when_gap_of_300_points_then_all_start_above_call_and_end_below_stop_out() -> (
    None
):
    # Arrange / Act
    plans = size_population(3000, MARKET, gap_points=300)

    # Assert: arming raises no margin call, the gap puts every account below 50 %, not on the edge.
    assert len(plans) == 3000
    assert min(p.level_before for p in plans) >= Decimal(110)
    assert max(p.level_after_gap for p in plans) <= Decimal(45)
    assert all(p.stop_out_closes >= 1 for p in plans)


def test_population_when_seeded_then_deposit_covers_commission_and_levels_match_the_model() -> None:
    gapped = MARKET.gapped_bid(300)

    for plan in size_population(200, MARKET, gap_points=300):
        volumes = [p.volume for p in plan.holder.positions]
        fees = sum((p.commission for p in plan.holder.positions), Decimal(0))
        balance = plan.holder.deposit - fees  # what oms holds once the opening fills are booked
        for p in plan.holder.positions:  # 3.50 USD per lot, banker's rounding as oms
            assert abs(p.commission - p.volume * Decimal("3.50")) <= Decimal("0.005")
        assert margin_level(balance, volumes, MARKET.ask, MARKET.bid, MARKET) == plan.level_before
        assert margin_level(balance, volumes, MARKET.ask, gapped, MARKET) == plan.level_after_gap


def test_population_when_same_seed_then_same_accounts() -> None:
    assert size_population(50, MARKET, gap_points=300) == size_population(
        50, MARKET, gap_points=300
    )


def test_population_when_gap_too_small_for_leverage_then_refused() -> None:
    with pytest.raises(ValueError, match="no level"):
        size_population(10, MARKET, gap_points=50)


def test_stop_out_when_two_positions_and_one_close_restores_level_then_one_close() -> None:
    # Two 0.5-lot positions at 33 % after the gap: closing one halves the margin, equity stays
    # (less the close's commission), so the level roughly doubles and is back above 50 %.
    gapped = MARKET.gapped_bid(300)
    volumes = [Decimal("0.5"), Decimal("0.5")]
    balance = Decimal("384.60")
    assert margin_level(balance, volumes, MARKET.ask, gapped, MARKET) == Decimal("33.47")

    assert stop_out_closes(balance, volumes, gapped, MARKET, Decimal(50)) == 1


def test_stop_out_when_equity_negative_then_everything_closes() -> None:
    gapped = MARKET.gapped_bid(300)

    assert stop_out_closes(Decimal(100), [Decimal(1), Decimal(1)], gapped, MARKET, Decimal(50)) == 2


def test_percentiles_when_values_then_nearest_rank_in_ms() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms

    assert percentiles_ms(values) == {"p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0}
    assert percentiles_ms([]) == {"p50": None, "p90": None, "p99": None, "max": None}
