"""ListSymbols over real gRPC against oms's migrated and seeded PostgreSQL: the catalogue as
clients see it (contract specification, asset class, sessions and whether they are open now)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from oms_helpers import rpc_error

from devstack.catalogue import DEMO_SYMBOLS
from fxmesh.v1 import oms_pb2

SATURDAY_NOON = datetime(2026, 1, 3, 12, 0, tzinfo=UTC)
MONDAY_NOON = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


async def test_list_symbols_when_no_filter_then_every_symbol_by_name_with_demo_specs(
    oms: Any,
) -> None:
    reply = await oms.stub.ListSymbols(oms_pb2.ListSymbolsRequest(), timeout=10)

    names = [s.symbol for s in reply.symbols]
    assert names == sorted(names)
    assert {d.symbol for d in DEMO_SYMBOLS} | {"AUDUSD", "EURCHF"} <= set(names)
    by_name = {s.symbol: s for s in reply.symbols}
    eurusd = by_name["EURUSD"]
    assert eurusd.description == "Euro vs US Dollar"
    assert eurusd.asset_class == oms_pb2.ASSET_CLASS_FX
    assert (eurusd.digits, eurusd.point, eurusd.pip_size) == (5, "0.00001", "0.0001")
    assert (eurusd.contract_size, eurusd.volume_min, eurusd.volume_max, eurusd.volume_step) == (
        "100000",
        "0.01",
        "50",
        "0.01",
    )
    assert (eurusd.margin_percent, eurusd.commission_per_lot, eurusd.commission_currency) == (
        "100",
        "3.50",
        "USD",
    )
    assert (eurusd.swap_long_points, eurusd.swap_short_points) == ("-6.50", "1.20")
    assert (eurusd.swap_triple_weekday, eurusd.stops_level_points) == (3, 10)
    assert eurusd.enabled
    assert by_name["USDJPY"].pip_size == "0.01"
    assert by_name["XAUUSD"].asset_class == oms_pb2.ASSET_CLASS_METAL
    assert by_name["XAUUSD"].pip_size == "0.01"
    assert by_name["BTCUSD"].asset_class == oms_pb2.ASSET_CLASS_CRYPTO
    assert not by_name["EURCHF"].enabled


@pytest.mark.parametrize(("now", "is_open"), [(SATURDAY_NOON, False), (MONDAY_NOON, True)])
async def test_list_symbols_when_one_named_then_its_sessions_and_open_at_oms_clock(
    oms: Any, now: datetime, is_open: bool
) -> None:
    oms.clock.at = now

    reply = await oms.stub.ListSymbols(oms_pb2.ListSymbolsRequest(symbol="audusd"), timeout=10)

    (audusd,) = reply.symbols
    assert audusd.symbol == "AUDUSD"
    assert audusd.session_open is is_open
    sessions = [(s.weekday, s.start_minute, s.end_minute) for s in audusd.sessions]
    assert sessions[0] == (7, 22 * 60, 1440)
    assert (1, 0, 1440) in sessions
    assert sessions[-1] == (5, 0, 22 * 60)


async def test_list_symbols_when_symbol_unknown_then_not_found_unknown_symbol(
    oms: Any,
) -> None:
    error = await rpc_error(oms.stub.ListSymbols(oms_pb2.ListSymbolsRequest(symbol="NOPE")))

    assert error.code == grpc.StatusCode.NOT_FOUND
    assert error.reason == "UNKNOWN_SYMBOL"
