"""The events oms raises: each producer fills exactly its declared payload type, and every event
type goes through an envelope and back unchanged."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from fxmesh.eventtypes import (
    EventData,
    EventType,
    dump_envelope,
    new_envelope,
    parse_envelope,
    payload_problems,
)
from oms.domain.events import (
    account_json,
    margin_call_json,
    order_filled_json,
    order_json,
    order_rejected_json,
    position_json,
)
from oms.domain.model import (
    Account,
    AccountId,
    CloseReason,
    DealEntry,
    Order,
    OrderId,
    OrderStatus,
    OrderType,
    PositionId,
    Side,
    TimeInForce,
    account_figures,
)
from oms.domain.records import DealRow, Fill, PositionRow
from oms.domain.results import PositionView

D = Decimal
AT = datetime(2026, 3, 2, 10, 0, 0, 123000, tzinfo=UTC)

NEW_ORDER = Order(
    account_id=AccountId(1001),
    client_order_id="c-1",
    symbol="EURUSD",
    side=Side.BUY,
    type=OrderType.MARKET,
    time_in_force=TimeInForce.IOC,
    volume=D("0.10"),
    order_id=OrderId(5),
)
FILLED = replace(
    NEW_ORDER,
    status=OrderStatus.FILLED,
    filled_volume=D("0.10"),
    avg_fill_price=D("1.08456"),
    book="B",
    created_at=AT,
    updated_at=AT,
)
REJECTED = replace(
    NEW_ORDER,
    status=OrderStatus.REJECTED,
    reject_reason="INSUFFICIENT_MARGIN",
    reject_message="free margin 1.00 < required 108.46",
)
PENDING = replace(
    NEW_ORDER,
    type=OrderType.STOP_LIMIT,
    time_in_force=TimeInForce.GTD,
    price=D("1.09000"),
    stop_limit_price=D("1.09010"),
    stop_loss=D("1.08000"),
    take_profit=D("1.10000"),
    expire_at=AT,
    status=OrderStatus.WORKING,
)
OPEN = PositionRow(
    position_id=PositionId(7),
    account_id=AccountId(1001),
    symbol="EURUSD",
    side=Side.BUY,
    volume=D("0.10"),
    open_price=D("1.08456"),
    stop_loss=None,
    take_profit=D("1.09000"),
    commission=D("-0.35"),
    swap=D("0"),
    open_order_id=OrderId(5),
    opened_at=AT,
)
CLOSED = replace(OPEN, closed_at=AT, close_price=D("1.08444"), close_reason=CloseReason.STOP_LOSS)
DEAL = DealRow(
    deal_id=9,
    order_id=OrderId(5),
    position_id=PositionId(7),
    account_id=AccountId(1001),
    symbol="EURUSD",
    side=Side.BUY,
    entry=DealEntry.IN,
    volume=D("0.10"),
    price=D("1.08456"),
    commission=D("-0.35"),
    swap=D("0"),
    realized_pnl=D("0"),
    venue="BBOOK",
    book="B",
    fill_id="f-1",
    deal_time=AT,
    reason=CloseReason.CLIENT,
)
ACCOUNT = Account(
    account_id=AccountId(1001),
    login="1001",
    type="DEMO",
    currency="USD",
    leverage=100,
    margin_mode="HEDGING",
    status="ACTIVE",
    client_group="standard",
    balance=D("1000.00"),
    margin_call_level=D("100"),
    stop_out_level=D("50"),
    created_at=AT,
)
IN_USE = account_figures(D("1000.00"), D("-12.30"), D("1084.56"), "USD")  # level 91.07 %
NO_MARGIN = account_figures(D("1000.00"), D("0"), D("0"), "USD")  # level: none

# Every event oms raises, as its use cases build it (``Tx.emit`` / ``outbox.enqueue``).
RAISED: list[tuple[str, EventType, EventData]] = [
    ("order accepted", EventType.ORDER_UPDATE, order_json(NEW_ORDER)),
    ("pending order working", EventType.ORDER_UPDATE, order_json(PENDING)),
    (
        "order filled",
        EventType.ORDER_FILLED,
        order_filled_json(FILLED, [Fill.of(DEAL)], [OPEN]),
    ),
    ("order rejected", EventType.ORDER_REJECTED, order_rejected_json(REJECTED)),
    (
        "position marked",
        EventType.POSITION_UPDATE,
        position_json(OPEN, PositionView(OPEN, D("1.08444"), D("-1.20"))),
    ),
    ("position unmarked", EventType.POSITION_UPDATE, position_json(OPEN)),
    ("position closed", EventType.POSITION_UPDATE, position_json(CLOSED)),
    ("figures", EventType.ACCOUNT_UPDATE, account_json(ACCOUNT, IN_USE, "ORDER_FILLED")),
    ("deposit", EventType.ACCOUNT_UPDATE, account_json(ACCOUNT, NO_MARGIN, "DEPOSIT")),
    ("margin call", EventType.MARGIN_CALL, margin_call_json(ACCOUNT, IN_USE, raised=True)),
    (
        "margin call cleared",
        EventType.MARGIN_CALL_CLEARED,
        margin_call_json(ACCOUNT, NO_MARGIN, raised=False),
    ),
]
IDS = [name for name, _, _ in RAISED]


def test_raised_events_when_listed_then_every_event_type_is_covered() -> None:
    assert {kind for _, kind, _ in RAISED} == set(EventType)


@pytest.mark.parametrize(("name", "kind", "data"), RAISED, ids=IDS)
def test_oms_payload_when_built_then_exactly_the_declared_keys_and_types(
    name: str, kind: EventType, data: EventData
) -> None:
    assert payload_problems(kind, data) == []


@pytest.mark.parametrize(("name", "kind", "data"), RAISED, ids=IDS)
def test_event_when_enveloped_serialized_and_parsed_then_round_trips(
    name: str, kind: EventType, data: EventData
) -> None:
    envelope = new_envelope(kind, 1001, data)

    parsed = parse_envelope(dump_envelope(envelope).encode())

    assert parsed == envelope
    assert parsed["type"] == kind
    assert payload_problems(EventType(parsed["type"]), parsed["data"]) == []


def test_margin_call_payload_when_built_then_figures_and_levels_as_decimal_strings() -> None:
    assert margin_call_json(ACCOUNT, IN_USE, raised=True) == {
        "accountId": "1001",
        "currency": "USD",
        "balance": "1000.00",
        "equity": "987.70",
        "margin": "1084.56",
        "freeMargin": "-96.86",
        "marginLevel": "91.07",
        "unrealizedPnl": "-12.30",
        "reason": "MARGIN_CALL",
        "marginCallLevel": "100",
        "stopOutLevel": "50",
    }


def test_position_payload_when_closed_then_no_mark_and_close_fields_filled() -> None:
    data = position_json(CLOSED, PositionView(CLOSED, D("1.08444"), D("-1.20")))

    assert (data["state"], data["currentPrice"], data["profit"]) == ("CLOSED", "", "")
    assert (data["closePrice"], data["closeReason"]) == ("1.08444", "STOP_LOSS")
    assert data["closeTime"] == "2026-03-02T10:00:00.123000Z"
