"""oms owns a symbol: UpsertSymbol / SetSymbolEnabled write oms, quotes and router in one
transaction (all or none), and risk settings per client group refuse new orders at once.

Every test uses its own symbol or client group: the session database is shared, and no test
changes a seeded symbol or the global risk settings row.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import grpc
import pytest
from oms_helpers import SELL, order_request, rpc_error

from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal
FILLED, REJECTED = types_pb2.ORDER_STATUS_FILLED, types_pb2.ORDER_STATUS_REJECTED


def new_symbol() -> str:
    return f"T{uuid.uuid4().hex[:7].upper()}"


def new_group() -> str:
    return f"grp-{uuid.uuid4().hex[:8]}"


def fx_change(**extra: Any) -> oms_pb2.SymbolSettingsChange:
    fields: dict[str, Any] = {
        "description": "test pair",
        "asset_class": oms_pb2.ASSET_CLASS_FX,
        "base_currency": "EUR",
        "quote_currency": "USD",
        "digits": 5,
        "contract_size": "100000",
        "volume_min": "0.01",
        "volume_max": "50",
        "volume_step": "0.01",
        "spread_markup_points": 10,
        "max_quote_age_ms": 3000,
    }
    fields.update(extra)
    return oms_pb2.SymbolSettingsChange(**fields)


async def create(oms: Any, symbol: str, **extra: Any) -> oms_pb2.UpsertSymbolResponse:
    return await oms.stub.UpsertSymbol(
        oms_pb2.UpsertSymbolRequest(symbol=symbol, change=fx_change(**extra), create=True)
    )


async def rows(oms: Any, symbol: str) -> tuple[Any, Any, Any]:
    conn = await oms.db()
    try:
        return (
            await conn.fetchrow("SELECT * FROM oms.symbols WHERE symbol = $1", symbol),
            await conn.fetchrow("SELECT * FROM quotes.symbol_settings WHERE symbol = $1", symbol),
            await conn.fetchrow(
                "SELECT * FROM router.bbook_symbol_settings WHERE symbol = $1", symbol
            ),
        )
    finally:
        await conn.close()


async def test_create_symbol_when_new_then_oms_quotes_and_router_rows_written(oms: Any) -> None:
    symbol = new_symbol()

    reply = await create(oms, symbol, commission_per_lot="3.5", bbook_enabled=False)

    assert not reply.HasField("before")
    assert reply.after.symbol == symbol
    assert reply.after.spread_markup_points == 10
    spec, pricing, bbook = await rows(oms, symbol)
    assert spec["contract_size"] == D(100000)
    assert spec["commission_per_lot"] == D("3.5")
    assert spec["commission_currency"].strip() == "USD"
    assert (pricing["markup_bid_points"], pricing["markup_ask_points"]) == (5, 5)
    assert pricing["digits"] == 5
    assert bbook["enabled"] is False
    assert bbook["max_quote_age_ms"] == 3000
    listed = await oms.stub.GetSymbolSettings(oms_pb2.GetSymbolSettingsRequest(symbol=symbol))
    assert [s.symbol for s in listed.symbols] == [symbol]
    assert listed.symbols[0].bbook_enabled is False


async def test_create_symbol_when_it_exists_then_already_exists(oms: Any) -> None:
    symbol = new_symbol()
    await create(oms, symbol)

    error = await rpc_error(create(oms, symbol))

    assert error.code is grpc.StatusCode.ALREADY_EXISTS
    assert error.reason == "SYMBOL_ALREADY_EXISTS"


async def test_update_symbol_when_markup_changes_then_only_given_fields_change(oms: Any) -> None:
    symbol = new_symbol()
    await create(oms, symbol)

    reply = await oms.stub.UpsertSymbol(
        oms_pb2.UpsertSymbolRequest(
            symbol=symbol,
            change=oms_pb2.SymbolSettingsChange(spread_markup_points=51, swap_long_points="-2.5"),
        )
    )

    assert reply.before.spread_markup_points == 10
    assert reply.after.spread_markup_points == 51
    assert reply.after.swap_long_points == "-2.5"
    assert reply.after.volume_max == "50"
    spec, pricing, _ = await rows(oms, symbol)
    assert pricing["markup_bid_points"] + pricing["markup_ask_points"] == 51
    assert spec["swap_long_points"] == D("-2.5")


async def test_update_symbol_when_unknown_then_not_found_symbol_not_found(oms: Any) -> None:
    error = await rpc_error(
        oms.stub.UpsertSymbol(
            oms_pb2.UpsertSymbolRequest(
                symbol="NOSUCH", change=oms_pb2.SymbolSettingsChange(spread_markup_points=1)
            )
        )
    )
    assert error.code is grpc.StatusCode.NOT_FOUND
    assert error.reason == "SYMBOL_NOT_FOUND"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"volume_min": "0"}, "INVALID_FIELD"),
        ({"volume_min": "60"}, "INVALID_FIELD"),
        ({"spread_markup_points": -1}, "INVALID_FIELD"),
        ({"swap_triple_weekday": 8}, "INVALID_FIELD"),
        ({"contract_size": "abc"}, "INVALID_DECIMAL"),
        ({"quote_currency": "US"}, "INVALID_FIELD"),
    ],
)
async def test_update_symbol_when_value_bad_then_invalid_argument_and_nothing_changed(
    oms: Any, change: dict[str, Any], reason: str
) -> None:
    symbol = new_symbol()
    await create(oms, symbol)
    before = await rows(oms, symbol)

    error = await rpc_error(
        oms.stub.UpsertSymbol(
            oms_pb2.UpsertSymbolRequest(
                symbol=symbol, change=oms_pb2.SymbolSettingsChange(**change)
            )
        )
    )

    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == reason
    assert await rows(oms, symbol) == before


async def test_create_symbol_when_name_bad_then_invalid_symbol(oms: Any) -> None:
    error = await rpc_error(create(oms, "bad symbol!"))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == "INVALID_SYMBOL"


async def test_upsert_symbol_when_router_write_fails_then_nothing_lands(oms: Any) -> None:
    """All three or none: the third write (router's row) fails, oms and quotes keep nothing."""
    symbol = new_symbol()
    other = new_symbol()
    await create(oms, other)
    conn = await oms.db()
    function = f"test_fail_{uuid.uuid4().hex[:8]}"
    try:
        await conn.execute(
            f"CREATE FUNCTION router.{function}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN IF NEW.symbol IN ('{symbol}', '{other}') THEN "
            "RAISE EXCEPTION 'router write refused by the test'; END IF; RETURN NEW; END; $$"
        )
        await conn.execute(
            f"CREATE TRIGGER {function} BEFORE INSERT OR UPDATE ON router.bbook_symbol_settings "
            f"FOR EACH ROW EXECUTE FUNCTION router.{function}()"
        )
        before_other = await rows(oms, other)

        created = await rpc_error(create(oms, symbol))
        changed = await rpc_error(
            oms.stub.UpsertSymbol(
                oms_pb2.UpsertSymbolRequest(
                    symbol=other,
                    change=oms_pb2.SymbolSettingsChange(spread_markup_points=99, digits=4),
                )
            )
        )
    finally:
        await conn.execute(f"DROP TRIGGER IF EXISTS {function} ON router.bbook_symbol_settings")
        await conn.execute(f"DROP FUNCTION IF EXISTS router.{function}()")
        await conn.close()

    assert created.code is grpc.StatusCode.INTERNAL
    assert changed.code is grpc.StatusCode.INTERNAL
    assert await rows(oms, symbol) == (None, None, None)
    assert await rows(oms, other) == before_other


async def test_disabled_symbol_when_new_order_then_symbol_disabled_and_close_still_works(
    oms: Any, put_quote: Any
) -> None:
    symbol = new_symbol()
    await create(oms, symbol)
    await put_quote(symbol, "1.10000", "1.10010")
    account_id = await oms.new_account()
    opened = await oms.stub.PlaceOrder(order_request(account_id, symbol=symbol, volume="0.10"))
    assert opened.order.status == FILLED, opened.order.reject_reason

    reply = await oms.stub.SetSymbolEnabled(
        oms_pb2.SetSymbolEnabledRequest(symbol=symbol, enabled=False)
    )
    refused = await oms.stub.PlaceOrder(order_request(account_id, symbol=symbol, volume="0.10"))
    closed = await oms.stub.ClosePosition(
        oms_pb2.ClosePositionRequest(
            account_id=str(account_id), position_id=opened.positions[0].position_id
        )
    )

    assert reply.before.enabled
    assert not reply.after.enabled
    assert refused.order.status == REJECTED
    assert refused.order.reject_reason == "SYMBOL_DISABLED"
    assert closed.order.status == FILLED
    await oms.stub.SetSymbolEnabled(oms_pb2.SetSymbolEnabledRequest(symbol=symbol, enabled=True))
    again = await oms.stub.PlaceOrder(order_request(account_id, symbol=symbol, volume="0.10"))
    assert again.order.status == FILLED, again.order.reject_reason


# --- risk settings -------------------------------------------------------------------------------


async def account_in_group(oms: Any, group: str, **extra: Any) -> int:
    account_id: int = await oms.new_account(**extra)
    conn = await oms.db()
    try:
        await conn.execute(
            "UPDATE oms.accounts SET client_group = $2 WHERE account_id = $1", account_id, group
        )
    finally:
        await conn.close()
    return account_id


async def set_risk(oms: Any, **fields: Any) -> oms_pb2.SetRiskSettingsResponse:
    return await oms.stub.SetRiskSettings(
        oms_pb2.SetRiskSettingsRequest(settings=oms_pb2.RiskSettings(**fields))
    )


async def test_risk_when_order_above_group_max_position_size_then_max_position_size(
    oms: Any, put_quote: Any
) -> None:
    group = new_group()
    await put_quote("EURUSD", "1.08440", "1.08450")
    account_id = await account_in_group(oms, group)
    ok = await oms.stub.PlaceOrder(order_request(account_id, volume="2.00"))
    assert ok.order.status == FILLED

    reply = await set_risk(oms, client_group=group, max_position_size="1.5")
    refused = await oms.stub.PlaceOrder(order_request(account_id, volume="2.00"))
    allowed = await oms.stub.PlaceOrder(order_request(account_id, volume="1.50"))

    assert not reply.HasField("before")
    assert reply.after.max_position_size == "1.5"
    assert refused.order.status == REJECTED
    assert refused.order.reject_reason == "MAX_POSITION_SIZE"
    assert allowed.order.status == FILLED


async def test_risk_when_netting_position_would_grow_above_max_then_refused(
    oms: Any, put_quote: Any
) -> None:
    group = new_group()
    await put_quote("EURUSD", "1.08440", "1.08450")
    account_id = await account_in_group(oms, group, margin_mode="NETTING")
    await set_risk(oms, client_group=group, max_position_size="1")
    first = await oms.stub.PlaceOrder(order_request(account_id, volume="0.80"))

    grow = await oms.stub.PlaceOrder(order_request(account_id, volume="0.30"))
    reduce = await oms.stub.PlaceOrder(order_request(account_id, side=SELL, volume="0.30"))

    assert first.order.status == FILLED
    assert grow.order.reject_reason == "MAX_POSITION_SIZE"
    assert reduce.order.status == FILLED


async def test_risk_when_group_max_open_positions_reached_then_max_positions(
    oms: Any, put_quote: Any
) -> None:
    group = new_group()
    await put_quote("EURUSD", "1.08440", "1.08450")
    account_id = await account_in_group(oms, group)
    await set_risk(oms, client_group=group, max_open_positions=2)

    replies = [
        await oms.stub.PlaceOrder(order_request(account_id, volume="0.10")) for _ in range(3)
    ]

    assert [r.order.status for r in replies] == [FILLED, FILLED, REJECTED]
    assert replies[2].order.reject_reason == "MAX_POSITIONS"


async def test_risk_when_group_max_daily_volume_exceeded_then_max_daily_volume(
    oms: Any, put_quote: Any
) -> None:
    group = new_group()
    await put_quote("EURUSD", "1.08440", "1.08450")
    account_id = await account_in_group(oms, group)
    await set_risk(oms, client_group=group, max_daily_volume="1")

    first = await oms.stub.PlaceOrder(order_request(account_id, volume="0.70"))
    second = await oms.stub.PlaceOrder(order_request(account_id, volume="0.40"))

    assert first.order.status == FILLED
    assert second.order.reject_reason == "MAX_DAILY_VOLUME"


async def test_risk_when_group_max_leverage_below_account_then_margin_at_capped_leverage(
    oms: Any, put_quote: Any
) -> None:
    """1 lot EURUSD needs ~1084 USD at 1:100 but ~108 at 1:1000 ... here: 500 USD, leverage 500
    fits (~217 USD margin); the group caps leverage at 100 (~1084 USD): not enough money."""
    group = new_group()
    await put_quote("EURUSD", "1.08440", "1.08450")
    account_id = await account_in_group(oms, group, deposit="500.00", leverage=500)
    fits = await oms.stub.PlaceOrder(order_request(account_id, volume="1.00"))
    assert fits.order.status == FILLED, fits.order.reject_reason
    other = await account_in_group(oms, group, deposit="500.00", leverage=500)

    await set_risk(oms, client_group=group, max_leverage=100)
    refused = await oms.stub.PlaceOrder(order_request(other, volume="1.00"))

    assert refused.order.reject_reason == "NOT_ENOUGH_MONEY"


async def test_risk_settings_when_group_row_then_effective_falls_back_to_global(oms: Any) -> None:
    group = new_group()
    stored = await oms.stub.GetRiskSettings(oms_pb2.GetRiskSettingsRequest())
    global_row = stored.settings[0]
    assert global_row.client_group == ""

    await set_risk(oms, client_group=group, max_open_positions=7)
    effective = await oms.stub.GetRiskSettings(oms_pb2.GetRiskSettingsRequest(client_group=group))

    [row] = effective.settings
    assert row.client_group == group
    assert row.max_open_positions == 7
    assert row.max_leverage == global_row.max_leverage
    assert row.margin_call_level == global_row.margin_call_level


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"max_leverage": 1000}, "INVALID_LEVERAGE"),
        ({"max_position_size": "-1"}, "INVALID_FIELD"),
        ({"margin_call_level": "50", "stop_out_level": "80"}, "INVALID_FIELD"),
        ({"max_daily_volume": "x"}, "INVALID_DECIMAL"),
    ],
)
async def test_risk_settings_when_values_bad_then_invalid_argument(
    oms: Any, fields: dict[str, Any], reason: str
) -> None:
    error = await rpc_error(set_risk(oms, client_group=new_group(), **fields))
    assert error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert error.reason == reason


async def test_settings_sync_when_another_process_writes_then_risk_reloaded(oms: Any) -> None:
    """A change committed elsewhere (another oms, psql) reaches this oms by NOTIFY oms_settings."""
    group = new_group()
    conn = await oms.db()
    try:
        await conn.execute(
            "INSERT INTO oms.risk_settings (client_group, max_open_positions) VALUES ($1, 3)",
            group,
        )
    finally:
        await conn.close()
    uow = oms.app.service.uow
    for _ in range(200):
        if group in uow.risk.groups:
            break
        await asyncio.sleep(0.05)
    assert uow.risk.groups[group].max_open_positions == 3


async def test_settings_sync_when_symbol_changed_elsewhere_then_cached_symbols_dropped(
    oms: Any,
) -> None:
    """With a long symbol cache, a change committed by another process still reaches the next
    order: its oms_settings NOTIFY drops the cache."""
    symbol = new_symbol()
    await create(oms, symbol)
    uow = oms.app.service.uow
    ttl = uow._symbols_ttl
    uow._symbols_ttl = 3600.0
    try:
        assert (await uow.symbols())[symbol].enabled
        conn = await oms.db()
        try:
            await conn.execute("UPDATE oms.symbols SET enabled = false WHERE symbol = $1", symbol)
        finally:
            await conn.close()
        for _ in range(200):
            if not (await uow.symbols())[symbol].enabled:
                break
            await asyncio.sleep(0.05)
        assert not (await uow.symbols())[symbol].enabled
    finally:
        uow._symbols_ttl = ttl
