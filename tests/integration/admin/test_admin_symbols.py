"""Symbols and risk settings through the real admin and the real oms: the rows land in oms,
quotes and router; bad input answered with a code and a FAILED audit row; changes audited with
before and after. Each test uses its own symbol or client group; the one test that touches the
global risk settings row puts it back in ``finally``."""

from __future__ import annotations

import uuid
from typing import Any

import grpc
from conftest import bearer

from fxmesh.v1 import admin_symbols_pb2, oms_pb2


def new_symbol() -> str:
    return f"A{uuid.uuid4().hex[:7].upper()}"


def fx(symbol: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "assetClass": "FX",
        "baseCurrency": "GBP",
        "quoteCurrency": "USD",
        "digits": 5,
        "contractSize": 100000,
        "volumeMin": "0.01",
        "volumeMax": "20",
        "volumeStep": "0.01",
        **extra,
    }


async def test_create_symbol_when_risk_manager_then_201_rows_in_three_services_and_audited(
    admin: Any,
) -> None:
    symbol = new_symbol()
    token = await admin.login("risky")
    async with admin.http(token) as http:
        created = await http.post(
            "/admin/symbols",
            json=fx(
                symbol,
                spreadMarkup=12,
                commissionPerLot="4.50",
                bbookEnabled=False,
                tradingSessions=[{"weekday": 1, "from": "00:00", "to": "24:00"}],
            ),
        )
        listed = await http.get("/admin/symbols")
        one = await http.get(f"/admin/symbols/{symbol}")

    assert created.status_code == 201, created.text
    doc = created.json()["symbol"]
    assert doc["spreadMarkup"] == 12
    assert doc["commissionPerLot"] == "4.50"
    assert doc["tradingSessions"] == [{"weekday": 1, "from": "00:00", "to": "24:00"}]
    assert doc["bbookEnabled"] is False
    assert doc["enabled"] is True
    assert symbol in [s["symbol"] for s in listed.json()["symbols"]]
    assert one.json()["symbol"] == doc
    pricing = await admin.pool.fetchrow(
        "SELECT markup_bid_points + markup_ask_points AS markup FROM quotes.symbol_settings "
        "WHERE symbol = $1",
        symbol,
    )
    bbook = await admin.pool.fetchval(
        "SELECT enabled FROM router.bbook_symbol_settings WHERE symbol = $1", symbol
    )
    assert pricing["markup"] == 12
    assert bbook is False
    row = await admin.last_audit("symbols.create")
    assert (row["outcome"], row["actor"], row["target"]) == ("ALLOWED", "risky", f"symbol:{symbol}")
    assert row["after"]["spreadMarkup"] == 12


async def test_update_symbol_when_markup_changes_then_audit_has_before_and_after(
    admin: Any,
) -> None:
    symbol = new_symbol()
    token = await admin.login("boss")
    async with admin.http(token) as http:
        await http.post("/admin/symbols", json=fx(symbol, spreadMarkup=10))
        put = await http.put(f"/admin/symbols/{symbol}", json={"spreadMarkup": 50})
        settings = await http.put(
            f"/admin/symbols/{symbol}/settings", json={"swapLong": -1.25, "tripleSwapDay": 5}
        )

    assert put.status_code == 200, put.text
    assert put.json()["symbol"]["spreadMarkup"] == 50
    assert settings.json()["symbol"]["swapLong"] == "-1.25"
    assert settings.json()["symbol"]["spreadMarkup"] == 50
    rows = await admin.pool.fetch(
        "SELECT before, after FROM admin.audit_log WHERE action = 'symbols.update' "
        "AND target = $1 ORDER BY audit_id",
        f"symbol:{symbol}",
    )
    assert rows[0]["before"]["spreadMarkup"] == 10
    assert rows[0]["after"]["spreadMarkup"] == 50
    assert rows[1]["before"]["swapLong"] == "0"
    assert rows[1]["after"]["tripleSwapDay"] == 5


async def test_symbols_when_unknown_then_404_symbol_not_found_and_failed_audit(
    admin: Any,
) -> None:
    token = await admin.login("risky")
    async with admin.http(token) as http:
        get = await http.get("/admin/symbols/NOSUCHX")
        put = await http.put("/admin/symbols/NOSUCHX", json={"spreadMarkup": 3})
        disable = await http.post("/admin/symbols/NOSUCHX/disable")

    assert [r.status_code for r in (get, put, disable)] == [404, 404, 404]
    assert {r.json()["code"] for r in (get, put, disable)} == {"SYMBOL_NOT_FOUND"}
    row = await admin.last_audit("symbols.disable")
    assert (row["outcome"], row["error_code"]) == ("FAILED", "SYMBOL_NOT_FOUND")


async def test_symbols_when_values_bad_then_4xx_with_codes_and_nothing_changed(
    admin: Any,
) -> None:
    symbol = new_symbol()
    token = await admin.login("risky")
    async with admin.http(token) as http:
        await http.post("/admin/symbols", json=fx(symbol))
        before = (await http.get(f"/admin/symbols/{symbol}")).json()
        step = await http.put(f"/admin/symbols/{symbol}", json={"volumeStep": "0.03"})
        negative = await http.put(f"/admin/symbols/{symbol}", json={"spreadMarkup": -5})
        decimal = await http.put(f"/admin/symbols/{symbol}", json={"contractSize": "lots"})
        unknown = await http.put(f"/admin/symbols/{symbol}", json={"spreadMarkupp": 5})
        empty = await http.put(f"/admin/symbols/{symbol}", json={})
        missing = await http.post("/admin/symbols", json={"symbol": new_symbol()})
        again = await http.post("/admin/symbols", json=fx(symbol))
        name = await http.post("/admin/symbols", json=fx("bad name"))
        after = (await http.get(f"/admin/symbols/{symbol}")).json()

    assert (step.status_code, step.json()["code"]) == (400, "INVALID_FIELD")
    assert step.json()["details"]["field"] == "volumeStep"
    assert (negative.status_code, negative.json()["code"]) == (400, "INVALID_FIELD")
    assert (decimal.status_code, decimal.json()["code"]) == (400, "INVALID_DECIMAL")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "UNKNOWN_FIELD")
    assert (empty.status_code, empty.json()["code"]) == (400, "NO_CHANGES")
    assert (missing.status_code, missing.json()["code"]) == (400, "MISSING_FIELD")
    assert (again.status_code, again.json()["code"]) == (409, "SYMBOL_ALREADY_EXISTS")
    assert (name.status_code, name.json()["code"]) == (400, "INVALID_SYMBOL")
    assert after == before
    row = await admin.last_audit("symbols.update")
    assert (row["outcome"], row["error_code"]) == ("FAILED", "NO_CHANGES")


async def test_disable_then_enable_symbol_when_allowed_then_flag_and_audit(admin: Any) -> None:
    symbol = new_symbol()
    token = await admin.login("risky")
    async with admin.http(token) as http:
        await http.post("/admin/symbols", json=fx(symbol))
        off = await http.post(f"/admin/symbols/{symbol.lower()}/disable")
        on = await http.post(f"/admin/symbols/{symbol}/enable")

    assert off.json()["symbol"]["enabled"] is False
    assert on.json()["symbol"]["enabled"] is True
    row = await admin.last_audit("symbols.disable")
    assert (row["before"], row["after"]) == ({"enabled": True}, {"enabled": False})


async def test_symbols_when_support_changes_then_403_and_nothing_written(admin: Any) -> None:
    symbol = new_symbol()
    token = await admin.login("helpdesk")
    async with admin.http(token) as http:
        created = await http.post("/admin/symbols", json=fx(symbol))
        listed = await http.get("/admin/symbols")

    assert created.status_code == 403
    assert listed.status_code == 200
    assert (
        await admin.pool.fetchval("SELECT count(*) FROM oms.symbols WHERE symbol = $1", symbol) == 0
    )


async def test_risk_settings_when_group_put_then_effective_row_and_audit(admin: Any) -> None:
    group = f"vip-{uuid.uuid4().hex[:6]}"
    token = await admin.login("risky")
    async with admin.http(token) as http:
        put = await http.put(
            f"/admin/risk-settings?group={group}",
            json={"maxPositionSize": "5", "maxOpenPositions": 20, "maxLeverage": 200},
        )
        effective = await http.get(f"/admin/risk-settings?group={group}")
        rows = await http.get("/admin/risk-settings")
        bad = await http.put(f"/admin/risk-settings?group={group}", json={"maxLeverage": 0})
        levels = await http.put(
            f"/admin/risk-settings?group={group}",
            json={"marginCallLevel": "50", "stopOutLevel": "80"},
        )

    assert put.status_code == 200, put.text
    assert put.json()["settings"] == {
        "group": group,
        "marginCallLevel": None,
        "stopOutLevel": None,
        "maxLeverage": 200,
        "maxPositionSize": "5",
        "maxDailyVolume": None,
        "maxOpenPositions": 20,
    }
    assert effective.json()["settings"][0]["maxPositionSize"] == "5"
    groups = [r["group"] for r in rows.json()["settings"]]
    assert groups[0] is None
    assert group in groups
    assert (bad.status_code, bad.json()["code"]) == (400, "INVALID_LEVERAGE")
    assert (levels.status_code, levels.json()["code"]) == (400, "INVALID_FIELD")
    row = await admin.pool.fetchrow(
        "SELECT * FROM admin.audit_log WHERE action = 'risk_settings.update' AND target = $1 "
        "AND outcome = 'ALLOWED' ORDER BY audit_id DESC LIMIT 1",
        f"risk-settings:{group}",
    )
    assert row["before"] is None
    assert row["after"]["maxLeverage"] == 200


async def test_risk_settings_when_global_changed_then_restored(admin: Any) -> None:
    """The global row is shared by every test: changed here and put back in finally."""
    token = await admin.login("boss")
    async with admin.http(token) as http:
        original = (await http.get("/admin/risk-settings?group=")).json()["settings"][0]
        restore = {k: v for k, v in original.items() if k != "group"}
        try:
            put = await http.put("/admin/risk-settings", json={**restore, "maxDailyVolume": 10000})
            assert put.status_code == 200, put.text
            assert put.json()["settings"]["group"] is None
            assert put.json()["settings"]["maxDailyVolume"] == "10000"
        finally:
            back = await http.put("/admin/risk-settings", json=restore)
            assert back.status_code == 200, back.text
        assert (await http.get("/admin/risk-settings?group=")).json()["settings"][0] == original


async def test_grpc_symbols_and_risk_when_called_then_same_semantics(
    admin: Any, admin_stub: Any
) -> None:
    symbol = new_symbol()
    group = f"g-{uuid.uuid4().hex[:6]}"
    meta = bearer(await admin.login("risky"))
    change = oms_pb2.SymbolSettingsChange(
        asset_class=oms_pb2.ASSET_CLASS_METAL,
        base_currency="XAU",
        quote_currency="USD",
        digits=2,
        contract_size="100",
        volume_min="0.01",
        volume_max="10",
        volume_step="0.01",
    )

    created = await admin_stub.CreateSymbol(
        admin_symbols_pb2.CreateSymbolRequest(symbol=symbol, settings=change), metadata=meta
    )
    updated = await admin_stub.UpdateSymbol(
        admin_symbols_pb2.UpdateSymbolRequest(
            symbol=symbol, settings=oms_pb2.SymbolSettingsChange(spread_markup_points=30)
        ),
        metadata=meta,
    )
    disabled = await admin_stub.DisableSymbol(
        admin_symbols_pb2.DisableSymbolRequest(symbol=symbol), metadata=meta
    )
    listed = await admin_stub.ListSymbolSettings(
        admin_symbols_pb2.ListSymbolSettingsRequest(symbol=symbol), metadata=meta
    )
    risk = await admin_stub.UpdateRiskSettings(
        admin_symbols_pb2.UpdateRiskSettingsRequest(
            settings=oms_pb2.RiskSettings(client_group=group, max_open_positions=4)
        ),
        metadata=meta,
    )
    effective = await admin_stub.ListRiskSettings(
        admin_symbols_pb2.ListRiskSettingsRequest(client_group=group), metadata=meta
    )
    try:
        await admin_stub.EnableSymbol(
            admin_symbols_pb2.EnableSymbolRequest(symbol="NOSUCHX"), metadata=meta
        )
    except grpc.aio.AioRpcError as exc:
        missing = exc.code()

    assert created.symbol.asset_class == oms_pb2.ASSET_CLASS_METAL
    assert updated.symbol.spread_markup_points == 30
    assert not disabled.symbol.enabled
    assert [s.symbol for s in listed.symbols] == [symbol]
    assert risk.settings.max_open_positions == 4
    assert effective.settings[0].max_open_positions == 4
    assert missing == grpc.StatusCode.NOT_FOUND


async def test_openapi_when_fetched_then_lists_symbol_and_risk_routes(admin: Any) -> None:
    async with admin.http() as http:
        spec = (await http.get("/admin/openapi.json")).json()

    for path in (
        "/admin/symbols",
        "/admin/symbols/{symbol}",
        "/admin/symbols/{symbol}/settings",
        "/admin/symbols/{symbol}/enable",
        "/admin/symbols/{symbol}/disable",
        "/admin/risk-settings",
    ):
        assert path in spec["paths"]
    body = spec["paths"]["/admin/symbols"]["post"]["requestBody"]["content"]["application/json"]
    assert {"symbol", "spreadMarkup", "commissionPerLot", "tripleSwapDay"} <= set(
        body["schema"]["properties"]
    )
