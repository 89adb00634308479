"""admin reads oms's, fixgw's and router's messages into its domain and answers them again in its
own gRPC API: the round trip must give back every field as sent. And the JSON documents keep the
decimals as the other service wrote them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from admin import convert, documents
from fxmesh.v1 import fixgw_pb2, oms_pb2, router_pb2, types_pb2


def _ts() -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(datetime(2025, 3, 4, 5, 6, 7, 891234, tzinfo=UTC))
    return ts


def _session() -> fixgw_pb2.LpSession:
    session = fixgw_pb2.LpSession(
        name="LPSIM",
        session_id="FIX.4.4:FXMESH->LPSIM",
        logged_on=True,
        subscribed_symbols=["EURUSD", "GBPUSD"],
        last_message_time=_ts(),
        ticks_received=123_456_789_012,
        state=fixgw_pb2.SESSION_STATE_LOGGED_ON,
        last_error="logon refused",
        last_error_time=_ts(),
        reconnect_attempts=2,
        messages_in={"8": 3, "0": 10},
        messages_out={"D": 1},
        last_order_time=_ts(),
        last_quote_time=_ts(),
        healthy=True,
        orders_unresolved=1,
        logon_time=_ts(),
        next_sender_seq_num=7,
        next_target_seq_num=9,
        definition=fixgw_pb2.LpDefinition(
            name="LPSIM",
            host="127.0.0.1",
            port=9876,
            sender_comp_id="FXMESH",
            target_comp_id="LPSIM",
            symbols=["EURUSD"],
            symbol_map={"EURUSD": "EUR/USD"},
            order_style="LIMIT_IOC",
            qty_unit="LOTS",
            limit_slippage="0.0005",
            reset_on_logon=True,
            market_depth=0,
            heartbeat_seconds=15,
        ),
        enabled=True,
        source=fixgw_pb2.LP_SOURCE_ADMIN,
        lp_type="FIX",
        health=fixgw_pb2.LpHealth(
            outcomes=12,
            fills=2,
            rejects=9,
            timeouts=1,
            reject_ratio="0.8333",
            degraded=True,
            degraded_reason="REJECT_RATIO",
        ),
        fills_today=40,
        rejects_today=11,
    )
    session.definition.order_timeout.FromTimedelta(timedelta(seconds=2))
    session.health.median_fill_latency.FromTimedelta(timedelta(milliseconds=40))
    session.health.window.FromTimedelta(timedelta(seconds=60))
    session.heartbeat_rtt.FromTimedelta(timedelta(microseconds=12_345))
    return session


# (message, from_proto, to_proto): every field set, then every field left empty.
ROUND_TRIPS: list[tuple[Any, Any, Any]] = [
    (
        types_pb2.AccountInfo(
            account_id="1001",
            login="alice",
            currency="USD",
            leverage=100,
            type=types_pb2.ACCOUNT_TYPE_LIVE,
            status=types_pb2.ACCOUNT_STATUS_SUSPENDED,
            margin_mode=types_pb2.MARGIN_MODE_NETTING,
            client_group="vip",
            balance="0.00",
            margin_call_level="100",
            stop_out_level="50.0",
            negative_balance_protection=True,
            max_open_positions=5,
            max_daily_volume="0.00000001",
            create_time=_ts(),
            email="alice@example.test",
            name="Alice Example",
        ),
        convert.account_from_proto,
        convert.account_to_proto,
    ),
    (
        oms_pb2.GetAccountSummaryResponse(
            account_id="1001",
            login="alice",
            currency="JPY",
            leverage=50,
            balance="-0.00",
            equity="1000",
            margin="0",
            free_margin="1000.10",
            margin_level="123.45",
            unrealized_pnl="-4.10",
            type=types_pb2.ACCOUNT_TYPE_DEMO,
            status=types_pb2.ACCOUNT_STATUS_CLOSED,
            held="250.50",
            margin_mode=types_pb2.MARGIN_MODE_HEDGING,
            summary_time=_ts(),
        ),
        convert.summary_from_proto,
        convert.summary_to_proto,
    ),
    (
        types_pb2.Position(
            position_id="9",
            account_id="1001",
            symbol="EURUSD",
            side=types_pb2.SIDE_SELL,
            volume="0.01",
            open_price="1.08450",
            current_price="1.08460",
            profit="-0.00",
            stop_loss="1.1",
            take_profit="1.0",
            open_time=_ts(),
            commission="-0.07",
            swap="0",
            trailing_distance_points=30,
            trailing_step_points=5,
            margin="10.85",
            close_price="1.2",
            close_time=_ts(),
            close_reason=types_pb2.CLOSE_REASON_STOP_OUT,
            realized_pnl="5.50",
            book=types_pb2.BOOK_A,
            venue="LPSIM",
            venue_order_id="LP-1",
        ),
        convert.position_from_proto,
        convert.position_to_proto,
    ),
    (
        types_pb2.LedgerEntry(
            ledger_id="3",
            account_id="1001",
            type=types_pb2.LEDGER_ENTRY_TYPE_ADJUSTMENT,
            amount="-50.00",
            balance_before="100.00",
            balance_after="50.00",
            currency="USD",
            deal_id="77",
            reference="ticket-1",
            note="fee refund",
            create_time=_ts(),
            method="CORRECTION",
        ),
        convert.ledger_from_proto,
        convert.ledger_to_proto,
    ),
    (_session(), convert.lp_session_from_proto, convert.lp_session_to_proto),
    (
        router_pb2.SymbolExposure(
            symbol="EURUSD",
            net_volume="-1.50",
            notional_usd="162675.00",
            avg_price="1.08450",
            realized_pnl_usd="12.30",
            unrealized_pnl_usd="-4.10",
            client_net_volume="-3.50",
            hedge_net_volume="2.00",
        ),
        convert.exposure_from_proto,
        convert.exposure_to_proto,
    ),
]
# Fields the other services always fill; an empty message keeps them (as "0") to read at all.
ALWAYS_FILLED = {
    "GetAccountSummaryResponse": ("balance", "equity", "margin", "free_margin", "unrealized_pnl"),
    "Position": ("volume", "open_price"),
    "LedgerEntry": ("amount", "balance_before", "balance_after"),
    "SymbolExposure": ("net_volume", "notional_usd"),
}


@pytest.mark.parametrize(
    ("message", "read", "write"), ROUND_TRIPS, ids=[m.DESCRIPTOR.name for m, _, _ in ROUND_TRIPS]
)
def test_round_trip_when_every_field_set_then_message_comes_back_unchanged(message, read, write):
    set_fields = len(message.ListFields())
    assert set_fields == len(message.DESCRIPTOR.fields), "the test message must set every field"

    again = write(read(message))

    assert again == message
    assert again.SerializeToString(deterministic=True) == message.SerializeToString(
        deterministic=True
    )


@pytest.mark.parametrize(
    ("message", "read", "write"), ROUND_TRIPS, ids=[m.DESCRIPTOR.name for m, _, _ in ROUND_TRIPS]
)
def test_round_trip_when_optional_fields_empty_then_they_stay_unset(message, read, write):
    empty = type(message)(**dict.fromkeys(ALWAYS_FILLED.get(message.DESCRIPTOR.name, ()), "0"))

    assert write(read(empty)) == empty


def test_account_document_when_decimals_read_then_written_as_oms_sent_them():
    account = convert.account_from_proto(ROUND_TRIPS[0][0])

    doc = documents.account_to_json(account)

    assert account.balance == Decimal(0)
    assert (doc["balance"], doc["maxDailyVolume"], doc["stopOutLevel"]) == (
        "0.00",
        "0.00000001",
        "50.0",
    )
    assert (doc["type"], doc["status"], doc["marginMode"]) == ("LIVE", "SUSPENDED", "NETTING")


def test_account_document_when_oms_left_fields_empty_then_null():
    doc = documents.account_to_json(convert.account_from_proto(types_pb2.AccountInfo()))

    assert doc["balance"] is None
    assert doc["type"] is None
    assert doc["createdAt"] is None
