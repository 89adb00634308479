"""Symbol settings changes and risk settings: merging, checking, effective limits per group, and
the order checks they feed (pure)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from test_oms_validation import EURUSD, PRICES, SYMBOLS, WEDNESDAY, account, order

from fxmesh.errors import InvalidArgument
from oms.domain.model import AccountId, AssetClass, OpenPosition, PositionId, Session, Side
from oms.domain.settings import (
    RiskSettings,
    RiskTable,
    SymbolChange,
    SymbolSettings,
    effective_levels,
    level_risk,
    levels_key,
    limit_account,
)
from oms.domain.stopout import AccountRisk
from oms.domain.validation import Exposure, validate_order, validate_triggered

D = Decimal
REQUIRED = {
    "asset_class": AssetClass.FX,
    "base_currency": "EUR",
    "quote_currency": "USD",
    "digits": 5,
    "contract_size": D(100000),
    "volume_min": D("0.01"),
    "volume_max": D(50),
    "volume_step": D("0.01"),
}


def created(**extra: object) -> SymbolSettings:
    return SymbolChange("TESTX", {**REQUIRED, **extra}).create()


def test_create_when_required_fields_then_defaults_and_commission_in_quote_currency() -> None:
    s = created()

    assert s.commission_currency == "USD"
    assert (s.enabled, s.bbook_enabled, s.max_quote_age_ms) == (True, True, None)
    assert s.margin_percent == D(100)


def test_create_when_required_field_missing_then_missing_field() -> None:
    values = dict(REQUIRED)
    del values["contract_size"]

    with pytest.raises(InvalidArgument) as info:
        SymbolChange("TESTX", values).create()

    assert info.value.reason == "MISSING_FIELD"
    assert info.value.metadata["field"] == "contract_size"


@pytest.mark.parametrize("markup", [0, 1, 40, 41])
def test_spread_markup_when_split_then_bid_plus_ask_is_the_markup(markup: int) -> None:
    s = created(spread_markup_points=markup)

    assert s.markup_bid_points + s.markup_ask_points == markup
    assert 0 <= s.markup_ask_points - s.markup_bid_points <= 1


def test_apply_when_change_then_only_given_fields_change() -> None:
    s = created(spread_markup_points=10)

    changed = SymbolChange("TESTX", {"spread_markup_points": 50}).apply(s)

    assert changed == replace(s, spread_markup_points=50)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"volume_min": D(100)}, "volumeMin"),
        ({"volume_step": D("0.03")}, "volumeStep"),
        ({"digits": 9}, "digits"),
        ({"swap_triple_weekday": 0}, "tripleSwapDay"),
        ({"stops_level_points": -1}, "stopsLevel"),
        ({"max_quote_age_ms": 0}, "maxQuoteAgeMs"),
        ({"sessions": (Session(1, 600, 500),)}, "tradingSessions"),
        ({"commission_currency": "usd"}, "commissionCurrency"),
    ],
)
def test_apply_when_value_out_of_range_then_invalid_field_names_it(
    values: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        SymbolChange("TESTX", values).apply(created())

    assert info.value.reason == "INVALID_FIELD"
    assert info.value.metadata["field"] == field


def test_sessions_json_when_written_then_parse_sessions_reads_them_back() -> None:
    from oms.domain.rules import parse_sessions

    sessions = (Session(1, 0, 1440), Session(5, 0, 22 * 60))

    assert parse_sessions(created(sessions=sessions).sessions_json()) == sessions


# --- risk settings -------------------------------------------------------------------------------


def test_effective_when_group_has_no_row_then_global_values() -> None:
    table = RiskTable(RiskSettings(max_leverage=200, max_open_positions=50))

    assert table.effective("vip") == RiskSettings("vip", max_leverage=200, max_open_positions=50)


def test_effective_when_group_row_then_its_values_over_the_global_ones() -> None:
    table = RiskTable(
        RiskSettings(max_leverage=200, max_open_positions=50),
        {"vip": RiskSettings("vip", max_leverage=500)},
    )

    got = table.effective("vip")

    assert (got.max_leverage, got.max_open_positions) == (500, 50)


def test_limit_account_when_group_stricter_then_its_limits_else_the_accounts() -> None:
    limits = RiskSettings(max_leverage=50, max_open_positions=3, max_daily_volume=D(10))

    stricter = limit_account(account(leverage=100, max_open_positions=0), limits)
    looser = limit_account(
        account(leverage=20, max_open_positions=2, max_daily_volume=D(5)), limits
    )

    assert (stricter.leverage, stricter.max_open_positions, stricter.max_daily_volume) == (
        50,
        3,
        D(10),
    )
    assert (looser.leverage, looser.max_open_positions, looser.max_daily_volume) == (20, 2, D(5))


def test_limit_account_when_no_limits_then_same_account() -> None:
    acc = account()

    assert limit_account(acc, RiskSettings()) is acc


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"max_leverage": 0}, "INVALID_LEVERAGE"),
        ({"max_leverage": 501}, "INVALID_LEVERAGE"),
        ({"max_position_size": D(0)}, "INVALID_FIELD"),
        ({"max_open_positions": -1}, "INVALID_FIELD"),
        ({"margin_call_level": D(50), "stop_out_level": D(50)}, "INVALID_FIELD"),
    ],
)
def test_risk_checked_when_out_of_range_then_refused(
    values: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        RiskSettings("g", **values).checked()  # type: ignore[arg-type]

    assert info.value.reason == reason


def test_validate_order_when_above_max_position_size_then_max_position_size() -> None:
    got = validate_order(
        account(), order(volume="2.00"), EURUSD, Exposure(), SYMBOLS, PRICES, WEDNESDAY, D(1)
    )

    assert got is not None
    assert got.code == "MAX_POSITION_SIZE"


def test_validate_order_when_netting_grows_position_above_max_then_refused_reduce_allowed() -> None:
    held = Exposure(
        positions=(OpenPosition(PositionId(1), "EURUSD", Side.BUY, D("0.80"), D("1.08")),)
    )
    netting = account(margin_mode="NETTING")

    grow = validate_order(
        netting, order(volume="0.30"), EURUSD, held, SYMBOLS, PRICES, WEDNESDAY, D(1)
    )
    reduce = validate_order(
        netting,
        order(side=Side.SELL, volume="0.30"),
        EURUSD,
        held,
        SYMBOLS,
        PRICES,
        WEDNESDAY,
        D(1),
    )
    reverse = validate_order(
        netting,
        order(side=Side.SELL, volume="1.50"),
        EURUSD,
        held,
        SYMBOLS,
        PRICES,
        WEDNESDAY,
        D(1),
    )

    assert grow is not None
    assert grow.code == "MAX_POSITION_SIZE"
    assert reduce is None
    assert reverse is None  # reverses to 0.70 lots short, under the maximum


def test_validate_triggered_when_above_max_position_size_then_refused() -> None:
    got = validate_triggered(
        account(), order(volume="2.00"), EURUSD, Exposure(), SYMBOLS, PRICES, D("1.5")
    )

    assert got is not None
    assert got.code == "MAX_POSITION_SIZE"


# --- margin-call and stop-out levels -------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        (RiskSettings(), (D(100), D(50))),  # nothing set: the account's own
        (RiskSettings(margin_call_level=D(120), stop_out_level=D(70)), (D(120), D(70))),
        (RiskSettings(margin_call_level=D(80), stop_out_level=D(30)), (D(100), D(50))),  # laxer
        (RiskSettings(stop_out_level=D(60)), (D(100), D(60))),  # each level on its own
        (RiskSettings(stop_out_level=D(110)), (D(100), D(110))),  # stop-out comes first
    ],
)
def test_effective_levels_when_group_sets_levels_then_the_stricter_of_each_wins(
    group: RiskSettings, expected: tuple[Decimal, Decimal]
) -> None:
    assert effective_levels(D(100), D(50), group) == expected


def test_level_risk_when_table_changes_then_recomputed_from_the_accounts_own_levels() -> None:
    own = AccountRisk(AccountId(1), "USD", D(1000), 100, (), client_group="vip")
    strict = RiskTable(groups={"vip": RiskSettings("vip", stop_out_level=D(80))})
    lax = RiskTable(global_row=RiskSettings(margin_call_level=D(90)))

    raised = level_risk(own, strict)
    relaxed = level_risk(raised, lax)  # not ratcheted: from the own 100 / 50 again

    assert (raised.margin_call_level, raised.stop_out_level) == (D(100), D(80))
    assert (raised.own_margin_call_level, raised.own_stop_out_level) == (D(100), D(50))
    assert (relaxed.margin_call_level, relaxed.stop_out_level) == (D(100), D(50))
    assert level_risk(relaxed, lax) is relaxed


def test_level_risk_when_group_has_no_row_then_the_global_levels() -> None:
    own = AccountRisk(AccountId(1), "USD", D(1000), 100, (), client_group="nobody")
    table = RiskTable(
        global_row=RiskSettings(margin_call_level=D(130), stop_out_level=D(65)),
        groups={"vip": RiskSettings("vip", stop_out_level=D(90))},
    )

    leveled = level_risk(own, table)

    assert (leveled.margin_call_level, leveled.stop_out_level) == (D(130), D(65))


def test_levels_key_when_only_order_limits_change_then_unchanged() -> None:
    before = RiskTable(groups={"g": RiskSettings("g", stop_out_level=D(60))})
    limits = RiskTable(groups={"g": RiskSettings("g", stop_out_level=D(60), max_leverage=50)})
    levels = RiskTable(groups={"g": RiskSettings("g", stop_out_level=D(61))})

    assert levels_key(before) == levels_key(limits)
    assert levels_key(before) != levels_key(levels)
