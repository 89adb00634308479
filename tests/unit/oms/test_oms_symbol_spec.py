"""Symbol catalogue: pip size by digits and the ListSymbols conversion (pure)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fxmesh.v1 import oms_pb2
from oms.api.convert import symbol_to_proto
from oms.domain.model import AssetClass, Session, SymbolSpec
from oms.domain.results import SymbolView


def spec(digits: int, **extra: object) -> SymbolSpec:
    fields: dict[str, object] = {
        "symbol": "XAUUSD",
        "base_currency": "XAU",
        "quote_currency": "USD",
        "digits": digits,
        "contract_size": Decimal(100),
        "volume_min": Decimal("0.01"),
        "volume_max": Decimal(20),
        "volume_step": Decimal("0.01"),
        "margin_percent": Decimal(100),
        "commission_per_lot": Decimal("5.00"),
        "commission_currency": "USD",
        "default_deviation_points": 50,
        "enabled": True,
        **extra,
    }
    return SymbolSpec(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("digits", "pip"), [(5, "0.0001"), (3, "0.01"), (4, "0.0001"), (2, "0.01"), (0, "1")]
)
def test_pip_size_when_fractional_digits_then_ten_points_else_one_point(
    digits: int, pip: str
) -> None:
    assert spec(digits).pip_size == Decimal(pip)
    assert format(spec(digits).pip_size, "f") == pip


def test_symbol_to_proto_when_metal_with_sessions_then_every_field_as_decimal_strings() -> None:
    metal = spec(
        2,
        description="Gold vs US Dollar",
        asset_class=AssetClass.METAL,
        swap_long_points=Decimal("-35.00"),
        swap_triple_weekday=5,
        stops_level_points=50,
        sessions=(Session(1, 0, 1440), Session(5, 0, 1320)),
    )

    proto = symbol_to_proto(SymbolView(metal, session_open=False))

    assert proto.asset_class == oms_pb2.ASSET_CLASS_METAL
    assert (proto.description, proto.point, proto.pip_size) == ("Gold vs US Dollar", "0.01", "0.01")
    assert (proto.contract_size, proto.volume_step, proto.swap_long_points) == (
        "100",
        "0.01",
        "-35.00",
    )
    assert (proto.swap_triple_weekday, proto.stops_level_points) == (5, 50)
    assert [(s.weekday, s.start_minute, s.end_minute) for s in proto.sessions] == [
        (1, 0, 1440),
        (5, 0, 1320),
    ]
    assert (proto.session_open, proto.enabled) == (False, True)


def test_asset_classes_when_each_then_a_proto_value_exists() -> None:
    for asset_class in AssetClass:
        assert oms_pb2.AssetClass.Value(f"ASSET_CLASS_{asset_class.value}") > 0
