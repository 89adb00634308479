"""Sessions and limits without a server: token claims, route classes, the token bucket, the hub's
per-stream delivery and revocation, and the position_update action."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

from edge.feeds import PositionActions, client_event
from edge.hub import AsgiSink, Connection, Hub
from edge.limits import TokenBucket, route_class
from fxmesh.auth import issue_token, verify_token

SECRET = "unit-secret-0123456789"


class Socket:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)


def test_client_token_when_issued_with_session_then_jti_and_sid_verify_back():
    token, claims = issue_token(
        SECRET, subject="1001", token_type="client", ttl=timedelta(minutes=5), session_id="s1"
    )
    _, other = issue_token(SECRET, subject="1001", token_type="client", ttl=timedelta(1))

    verified = verify_token(SECRET, token, expected_type="client")

    assert verified.session_id == "s1"
    assert verified.token_id == claims.token_id is not None
    assert other.token_id != claims.token_id


def test_route_class_when_changing_trades_then_orders_else_reads():
    assert route_class("POST", "/api/orders/market") == "orders"
    assert route_class("DELETE", "/api/orders/5001") == "orders"
    assert route_class("POST", "/api/positions/5/close") == "orders"
    assert route_class("GET", "/api/orders/5001") == "reads"
    assert route_class("POST", "/api/risk/calculate-lot") == "reads"
    assert route_class("GET", "/api/account/summary") == "reads"
    assert route_class("POST", "/api/trade") == "orders"
    assert route_class("POST", "/api/trade/check") == "reads"


def test_token_bucket_when_burst_spent_then_refuses_until_refilled():
    bucket = TokenBucket(rate=1000.0, burst=2)
    assert [bucket.take(), bucket.take()] == [True, True]
    slow = TokenBucket(rate=0.001, burst=1)
    assert [slow.take(), slow.take()] == [True, False]


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_hub_when_socket_subscribed_to_positions_only_then_account_events_skipped():
    hub = Hub()
    explicit, legacy = Socket(), Socket()
    conn = Connection("1001", AsgiSink(explicit.send_text), explicit.close, 10)
    conn.streams = {"positions"}
    hub.add(conn)
    hub.add(Connection("1001", AsgiSink(legacy.send_text), legacy.close, 10))

    account = hub.publish_account_event("1001", {"type": "account_update", "eventId": "e1"})
    await _settle()
    positions = hub.publish_account_event("1001", {"type": "position_update", "eventId": "e2"})
    await _settle()

    assert (account, positions) == (1, 2)
    assert [m["eventId"] for m in explicit.sent] == ["e2"]
    assert [m["eventId"] for m in legacy.sent] == ["e1", "e2"]


async def test_hub_when_session_revoked_then_only_its_sockets_closed_4401():
    hub = Hub()
    mine, other = Socket(), Socket()
    conn = Connection("1001", AsgiSink(mine.send_text), mine.close, 10, session_id="s1")
    hub.add(conn)
    hub.add(Connection("1001", AsgiSink(other.send_text), other.close, 10, session_id="s2"))

    closed = hub.close_session("s1", None)
    await _settle()
    await conn.stop()

    assert closed == 1
    assert mine.sent[0]["code"] == "TOKEN_REVOKED"
    assert mine.closed == (4401, "token revoked")
    assert other.closed is None


def test_position_action_when_filled_order_opened_it_then_opened_then_modified_then_closed():
    actions = PositionActions()
    position = {"positionId": "7", "orderId": "6", "state": "OPEN", "profit": "1.00"}

    def update(data: dict[str, Any]) -> dict[str, Any]:
        envelope = {"type": "position_update", "eventId": "e", "data": data}
        return client_event(envelope, actions)

    client_event(
        {
            "type": "order_filled",
            "eventId": "f",
            "data": {"order": {"orderId": "6"}, "positions": [position]},
        },
        actions,
    )

    assert update(position)["action"] == "opened"
    assert update(position)["action"] == "modified"
    assert update({**position, "state": "CLOSED"})["action"] == "closed"
    assert update(position)["position"]["unrealizedPnL"] == "1.00"
