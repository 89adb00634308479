"""Symbol catalogue routes: GET /api/symbols and /api/symbols/{symbol} over the fake oms's
ListSymbols, with the current client quote read from the real Redis."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from fxmesh.quotecache import ClientQuote, quote_key, write_quote
from fxmesh.v1 import oms_pb2

QUOTE_MS = 1_767_323_045_250  # 2026-01-02T03:04:05.250Z


@pytest.fixture
async def eurusd_quoted(edge: Any) -> Any:
    """EURUSD has a current client quote; BTCUSD has none."""
    redis = edge.resources.redis
    await write_quote(
        redis, ClientQuote("EURUSD", Decimal("1.08444"), Decimal("1.08456"), QUOTE_MS)
    )
    await redis.delete(quote_key("BTCUSD"))
    return edge


async def test_symbols_when_listed_then_every_spec_with_current_quote_or_nulls(
    eurusd_quoted: Any, alice_token: str
) -> None:
    async with eurusd_quoted.client(alice_token) as http:
        response = await http.get("/api/symbols")

    assert response.status_code == 200, response.text
    symbols = response.json()["symbols"]
    assert [s["symbol"] for s in symbols] == ["BTCUSD", "EURUSD", "XAGUSD"]
    btc, eurusd, silver = symbols
    assert eurusd == {
        "symbol": "EURUSD",
        "description": "Euro vs US Dollar",
        "type": "FX",
        "baseCurrency": "EUR",
        "quoteCurrency": "USD",
        "digits": 5,
        "point": "0.00001",
        "pipSize": "0.0001",
        "contractSize": "100000",
        "volumeMin": "0.01",
        "volumeMax": "50",
        "volumeStep": "0.01",
        "marginPercent": "100",
        "commissionPerLot": "3.50",
        "commissionCurrency": "USD",
        "swapLongPoints": "-6.50",
        "swapShortPoints": "1.20",
        "swapTripleDay": "WEDNESDAY",
        "stopsLevelPoints": 10,
        "defaultDeviationPoints": 20,
        "sessions": [
            {"day": day, "from": "00:00", "to": "24:00"}
            for day in ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY")
        ],
        "sessionOpen": True,
        "enabled": True,
        "bid": "1.08444",
        "ask": "1.08456",
        "spread": 12,
        "quoteTime": "2026-01-02T03:04:05.250Z",
    }
    assert (btc["type"], btc["sessions"], btc["swapTripleDay"]) == ("CRYPTO", [], "FRIDAY")
    assert (btc["bid"], btc["ask"], btc["spread"], btc["quoteTime"]) == (None, None, None, None)
    assert (silver["type"], silver["enabled"], silver["sessionOpen"]) == ("METAL", False, False)


async def test_symbol_when_named_in_lower_case_then_that_symbol_from_oms(
    eurusd_quoted: Any, alice_token: str
) -> None:
    async with eurusd_quoted.client(alice_token) as http:
        response = await http.get("/api/symbols/eurusd")

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["symbol"], body["bid"], body["ask"]) == ("EURUSD", "1.08444", "1.08456")
    assert eurusd_quoted.oms.last("ListSymbols") == oms_pb2.ListSymbolsRequest(symbol="EURUSD")


async def test_symbol_when_unknown_then_404_unknown_symbol(edge: Any, alice_token: str) -> None:
    async with edge.client(alice_token) as http:
        response = await http.get("/api/symbols/NOPE")

    assert response.status_code == 404
    assert response.json()["code"] == "UNKNOWN_SYMBOL"
    assert response.json()["details"] == {"symbol": "NOPE"}


async def test_symbol_when_name_malformed_then_422(edge: Any, alice_token: str) -> None:
    async with edge.client(alice_token) as http:
        response = await http.get("/api/symbols/EUR%20USD")

    assert response.status_code == 422


async def test_symbols_when_not_logged_in_then_401(edge: Any) -> None:
    async with edge.client() as http:
        response = await http.get("/api/symbols")

    assert response.status_code == 401


async def test_symbols_when_redis_quotes_unreadable_then_specs_with_null_quotes(
    eurusd_quoted: Any, alice_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any, **__: Any) -> Any:
        raise RedisConnectionError("redis down")

    monkeypatch.setattr(eurusd_quoted.resources.redis, "mget", broken)
    async with eurusd_quoted.client(alice_token) as http:
        response = await http.get("/api/symbols")

    assert response.status_code == 200, response.text
    assert all(s["bid"] is None for s in response.json()["symbols"])
