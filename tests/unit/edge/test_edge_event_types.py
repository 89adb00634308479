"""edge reads oms's events by the catalogue's payload types (``fxmesh.eventtypes``): a payload that
conforms gives the WebSocket messages the design describes, and live P&L speaks the same keys."""

from __future__ import annotations

import json
from typing import Any

from edge.feeds import PositionActions, client_event
from edge.marks import account_message
from fxmesh.eventtypes import (
    AccountData,
    EventData,
    EventType,
    PositionData,
    new_envelope,
    payload_problems,
)
from fxmesh.v1 import oms_pb2

FIGURES: AccountData = {
    "accountId": "1001",
    "currency": "USD",
    "balance": "10000.00",
    "equity": "10010.50",
    "margin": "108.45",
    "freeMargin": "9902.05",
    "marginLevel": "9230.29",
    "unrealizedPnl": "10.50",
    "reason": "ORDER_FILLED",
}
POSITION: PositionData = {
    "positionId": "7",
    "accountId": "1001",
    "symbol": "EURUSD",
    "side": "BUY",
    "volume": "0.10",
    "openPrice": "1.08456",
    "stopLoss": "",
    "takeProfit": "",
    "trailingDistancePoints": 0,
    "trailingStepPoints": 0,
    "commission": "-0.35",
    "swap": "0",
    "realizedPnl": "0",
    "openTime": "2026-03-02T10:00:00.123000Z",
    "orderId": "5",
    "state": "OPEN",
    "closePrice": "",
    "closeTime": "",
    "closeReason": "",
    "currentPrice": "1.08444",
    "profit": "-1.20",
}


def delivered(kind: EventType, data: EventData, actions: PositionActions) -> dict[str, Any]:
    """What a socket gets for the event, after a trip through JSON as on the wire."""
    assert payload_problems(kind, data) == []
    envelope = json.loads(json.dumps(new_envelope(kind, "1001", data)))
    return client_event(envelope, actions)


def test_account_update_when_payload_conforms_then_every_design_figure_at_top_level() -> None:
    message = delivered(EventType.ACCOUNT_UPDATE, FIGURES, PositionActions())

    assert {k: message[k] for k in ("balance", "equity", "margin", "freeMargin")} == {
        "balance": "10000.00",
        "equity": "10010.50",
        "margin": "108.45",
        "freeMargin": "9902.05",
    }
    assert (message["marginLevel"], message["unrealizedPnL"]) == ("9230.29", "10.50")
    assert message["data"] == FIGURES


def test_position_update_when_payload_conforms_then_position_carries_its_mark() -> None:
    message = delivered(EventType.POSITION_UPDATE, POSITION, PositionActions())

    assert message["action"] == "modified"
    assert message["position"]["currentPrice"] == "1.08444"
    assert message["position"]["unrealizedPnL"] == "-1.20"
    assert message["data"] == POSITION


def test_live_account_update_when_marked_then_data_has_the_event_payload_keys() -> None:
    mark = oms_pb2.WatchAccountResponse(
        account_id="1001", currency="USD", balance="10000.00", equity="10010.50"
    )

    message = json.loads(account_message(mark, None).text)

    assert message["type"] == EventType.ACCOUNT_UPDATE
    assert list(message["data"]) == list(AccountData.__annotations__)
