"""The client JSON of a symbol: spec from oms's proto, quote from Redis (pure)."""

from __future__ import annotations

from decimal import Decimal

from edge.routes.market import symbol_json
from fxmesh.quotecache import ClientQuote
from fxmesh.v1 import oms_pb2


def test_symbol_json_when_jpy_quote_then_spread_in_points_and_end_of_day_as_24_00() -> None:
    spec = oms_pb2.SymbolSpecification(
        symbol="USDJPY",
        asset_class=oms_pb2.ASSET_CLASS_FX,
        digits=3,
        point="0.001",
        pip_size="0.01",
        swap_triple_weekday=3,
        sessions=[oms_pb2.SymbolTradingSession(weekday=7, start_minute=1320, end_minute=1440)],
    )
    quote = ClientQuote("USDJPY", Decimal("151.490"), Decimal("151.514"), 1_767_323_045_000)

    body = symbol_json(spec, quote)

    assert (body["type"], body["pipSize"], body["spread"]) == ("FX", "0.01", 24)
    assert body["sessions"] == [{"day": "SUNDAY", "from": "22:00", "to": "24:00"}]
    assert body["quoteTime"] == "2026-01-02T03:04:05Z"


def test_symbol_json_when_no_quote_then_price_fields_null() -> None:
    body = symbol_json(oms_pb2.SymbolSpecification(symbol="BTCUSD", point="0.01"), None)

    assert (body["bid"], body["ask"], body["spread"], body["quoteTime"]) == (None,) * 4
    assert body["swapTripleDay"] is None
