"""Money parsing and configuration loading: what a client or an operator sees on bad input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fxmesh.config import Settings, load_settings
from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal, quantize, to_money


def test_parse_decimal_when_exact_string_then_keeps_every_digit() -> None:
    assert parse_decimal("1.08450", "price") == Decimal("1.08450")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "MISSING_FIELD"),
        ("abc", "INVALID_DECIMAL"),
        ("NaN", "INVALID_DECIMAL"),
        ("Infinity", "INVALID_DECIMAL"),
    ],
)
def test_parse_decimal_when_not_a_number_then_invalid_argument_with_reason(
    raw: str, reason: str
) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_decimal(raw, "volume")
    assert err.value.reason == reason
    assert err.value.metadata["field"] == "volume"


def test_parse_decimal_when_too_many_places_then_rejected_not_rounded() -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_decimal("0.015", "volume", max_places=2)
    assert err.value.reason == "INVALID_PRECISION"


def test_parse_decimal_when_trailing_zeros_then_not_counted_as_precision() -> None:
    assert parse_decimal("0.100000", "volume", max_places=2) == Decimal("0.1")


def test_parse_decimal_when_zero_and_positive_required_then_rejected() -> None:
    with pytest.raises(InvalidArgument):
        parse_decimal("0", "volume", positive=True)


def test_money_rounding_when_half_then_bankers_rounding_per_currency() -> None:
    assert to_money(Decimal("0.125"), "USD") == Decimal("0.12")
    assert to_money(Decimal("0.135"), "USD") == Decimal("0.14")
    assert to_money(Decimal("1234.5"), "JPY") == Decimal("1234")
    assert quantize(Decimal("1.084505"), 5) == Decimal("1.08450")


def test_fmt_when_small_or_large_then_plain_decimal_without_exponent() -> None:
    assert fmt(Decimal("1E-7")) == "0.0000001"
    assert fmt(Decimal("1E+3")) == "1000"
    assert fmt(None) == ""


def test_load_settings_when_defaults_then_local_profile_on_loopback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FXMESH_PROFILE", raising=False)
    settings = load_settings(Settings)
    assert settings.profile == "local"
    assert settings.oms_addr.startswith("127.0.0.1:")


def test_load_settings_when_bad_value_then_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FXMESH_GRPC_DEADLINE_SECONDS", "soon")
    with pytest.raises(SystemExit) as exit_info:
        load_settings(Settings)
    assert exit_info.value.code == 2
    assert "FXMESH_GRPC_DEADLINE_SECONDS" in capsys.readouterr().err


def test_load_settings_when_production_with_placeholder_secret_then_refuses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FXMESH_PROFILE", "production")
    monkeypatch.delenv("FXMESH_JWT_SECRET", raising=False)
    with pytest.raises(SystemExit):
        load_settings(Settings)
    assert "FXMESH_JWT_SECRET" in capsys.readouterr().err
