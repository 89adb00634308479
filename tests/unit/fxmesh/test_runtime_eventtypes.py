"""The event catalogue: the names on the wire, envelopes in and out, and the payload check."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from fxmesh.events import (
    account_binding,
    event_types,
    events_routing_key,
    routing_account,
    routing_key,
)
from fxmesh.eventtypes import (
    CLIENT_EVENT_TYPES,
    PAYLOADS,
    AccountData,
    EventType,
    MalformedEvent,
    dump_envelope,
    new_envelope,
    parse_envelope,
    parse_events,
    payload_problems,
)

ACCOUNT: AccountData = {
    "accountId": "1001",
    "currency": "USD",
    "balance": "10000.00",
    "equity": "10010.50",
    "margin": "108.45",
    "freeMargin": "9902.05",
    "marginLevel": "",
    "unrealizedPnl": "10.50",
    "reason": "ORDER_FILLED",
}


def test_event_types_when_listed_then_exactly_the_names_clients_and_bindings_use() -> None:
    # These strings are the wire: envelope ``type``, routing keys, WebSocket ``type``.
    assert [t.value for t in EventType] == [
        "order_update",
        "order_filled",
        "order_rejected",
        "position_update",
        "account_update",
        "margin_call",
        "margin_call_cleared",
    ]
    assert set(PAYLOADS) == set(EventType)
    assert set(EventType) >= CLIENT_EVENT_TYPES
    # Consumers look up the plain strings they read off the wire (routing keys, JSON).
    assert "order_filled" in CLIENT_EVENT_TYPES
    assert "audit_log" not in CLIENT_EVENT_TYPES
    assert routing_key(EventType.ORDER_FILLED, "1001") == "order_filled.1001"


def test_new_envelope_when_dumped_and_parsed_then_same_envelope_with_plain_strings() -> None:
    envelope = new_envelope(EventType.ACCOUNT_UPDATE, 1001, ACCOUNT)

    text = dump_envelope(envelope)
    parsed = parse_envelope(text.encode())

    assert parsed == envelope
    assert text.startswith('{"eventId":"')
    assert '"type":"account_update","accountId":"1001"' in text
    assert uuid.UUID(parsed["eventId"])
    assert datetime.fromisoformat(parsed["occurredAt"]).tzinfo == UTC
    assert parsed["occurredAt"].endswith("Z")
    assert payload_problems(EventType.ACCOUNT_UPDATE, parsed["data"]) == []


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'"order_filled"',
        json.dumps({"type": "order_filled", "accountId": "1001"}).encode(),
        json.dumps({"eventId": "e", "accountId": "1001"}).encode(),
        json.dumps({"eventId": "e", "type": "order_filled"}).encode(),
    ],
)
def test_parse_envelope_when_not_an_envelope_then_malformed(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_envelope(body)


def test_parse_envelope_when_unknown_type_or_no_data_then_left_to_the_consumer() -> None:
    parsed = parse_envelope(b'{"eventId":"e","type":"audit_log","accountId":"1001"}')

    assert parsed["type"] == "audit_log"
    assert "data" not in parsed


def test_parse_events_when_array_or_one_envelope_then_the_envelopes_in_order() -> None:
    first = b'{"eventId":"a","type":"order_update","accountId":"1001"}'
    second = b'{"eventId":"b","type":"order_filled","accountId":"1001"}'

    assert [e["eventId"] for e in parse_events(b"[" + first + b"," + second + b"]")] == ["a", "b"]
    assert [e["eventId"] for e in parse_events(first)] == ["a"]  # the older one-event form


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1]", b'[{"eventId":"a","type":"order_update","accountId":"1"},{"x":1}]'],
)
def test_parse_events_when_any_element_is_not_an_envelope_then_malformed(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_events(body)


def test_events_routing_key_when_trades_inside_then_keyed_for_trade_consumers() -> None:
    assert events_routing_key("1001", ["order_update"]) == "events.1001"
    assert events_routing_key("1001", ["order_update", "order_filled"]) == "events.1001.trades"
    assert routing_account("events.1001.trades") == (True, "1001", "")
    assert routing_account("order_filled.1001") == (False, "1001", "order_filled")
    assert account_binding("1001") == "#.1001.#"


def test_event_types_when_header_present_then_its_types_else_none() -> None:
    assert event_types({"x-event-types": b"order_update,order_filled"}) == {
        "order_update",
        "order_filled",
    }
    assert event_types({}) is None
    assert event_types(None) is None


def test_payload_problems_when_keys_missing_extra_or_mistyped_then_each_named() -> None:
    data = {**ACCOUNT, "marginLevel": 97.5, "leverage": "100"}
    del data["reason"]

    assert payload_problems(EventType.ACCOUNT_UPDATE, data) == [
        "data.reason: missing",
        "data.leverage: unexpected",
        "data.marginLevel: float, not str",
    ]


def test_payload_problems_when_nested_payload_wrong_then_path_to_it() -> None:
    data = {"order": {"orderId": "1"}, "fills": [{}], "positions": {}}

    problems = payload_problems(EventType.ORDER_FILLED, data)

    assert "data.order.status: missing" in problems
    assert "data.fills[0].fillId: missing" in problems
    assert "data.positions: dict, not a list" in problems
