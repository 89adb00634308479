"""Market orders end to end through a real oms: PostgreSQL, Redis quotes, a gRPC router, RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import uuid
from decimal import Decimal
from typing import Any

import aio_pika
import asyncpg
import grpc
import pytest
from structlog.testing import capture_logs

from fxmesh.errors import FxError, from_rpc_error
from fxmesh.events import declare_exchange
from fxmesh.v1 import oms_pb2, types_pb2

D = Decimal


def market(
    account_id: int,
    symbol: str = "EURUSD",
    volume: str = "1.00",
    side: int = types_pb2.SIDE_BUY,
    **extra: Any,
) -> oms_pb2.PlaceOrderRequest:
    fields: dict[str, Any] = {
        "account_id": str(account_id),
        "client_order_id": f"cli-{uuid.uuid4().hex[:12]}",
        "symbol": symbol,
        "side": side,
        "type": types_pb2.ORDER_TYPE_MARKET,
        "volume": volume,
    }
    fields.update(extra)
    return oms_pb2.PlaceOrderRequest(**fields)


async def rpc_error(call: Any) -> FxError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return from_rpc_error(info.value)


async def ledger_consistent(conn: asyncpg.Connection, account_id: int) -> None:
    balance = await conn.fetchval(
        "SELECT balance FROM oms.accounts WHERE account_id = $1", account_id
    )
    total = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM oms.ledger WHERE account_id = $1", account_id
    )
    assert balance == total
    broken = await conn.fetchval(
        "SELECT count(*) FROM oms.ledger WHERE account_id = $1 "
        "AND balance_after <> balance_before + amount",
        account_id,
    )
    assert broken == 0


async def test_place_market_order_when_quoted_and_funded_then_fills_with_position_deal_and_commission(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")

    reply = await oms.stub.PlaceOrder(market(account_id))

    assert reply.replayed is False
    assert reply.order.status == types_pb2.ORDER_STATUS_FILLED
    assert reply.order.filled_volume == "1.00"
    assert reply.order.average_fill_price == "1.08450"
    assert reply.order.book == types_pb2.BOOK_B
    assert len(reply.fills) == 1
    assert reply.fills[0].price == "1.08450"
    assert len(reply.positions) == 1
    position = reply.positions[0]
    assert (position.side, position.volume, position.open_price) == (
        types_pb2.SIDE_BUY,
        "1.00",
        "1.08450",
    )
    assert position.commission == "-3.50"
    conn = await oms.db()
    try:
        order_id = int(reply.order.order_id)
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM oms.positions WHERE open_order_id = $1", order_id
            )
            == 1
        )
        deal = await conn.fetchrow("SELECT * FROM oms.deals WHERE order_id = $1", order_id)
        assert (deal["entry"], deal["volume"], deal["price"], deal["commission"]) == (
            "IN",
            D("1.00"),
            D("1.08450"),
            D("-3.50"),
        )
        [answered] = reply.deals
        assert (answered.deal_id, answered.position_id, answered.entry) == (
            str(deal["deal_id"]),
            position.position_id,
            types_pb2.DEAL_ENTRY_IN,
        )
        rows = await conn.fetch(
            "SELECT type, amount, balance_before, balance_after FROM oms.ledger "
            "WHERE account_id = $1 ORDER BY ledger_id",
            account_id,
        )
        assert [(r["type"], r["amount"]) for r in rows] == [
            ("DEPOSIT", D("10000.00")),
            ("COMMISSION", D("-3.50")),
        ]
        assert rows[1]["balance_before"] == D("10000.00")
        assert rows[1]["balance_after"] == D("9996.50")
        await ledger_consistent(conn, account_id)
        statuses = await conn.fetch(
            "SELECT from_status, to_status FROM oms.order_events WHERE order_id = $1 ORDER BY seq",
            order_id,
        )
        assert [(r["from_status"], r["to_status"]) for r in statuses] == [
            ("PENDING", "ACCEPTED"),
            ("ACCEPTED", "FILLING"),
            ("FILLING", "FILLED"),
        ]
        kinds = await conn.fetch(
            "SELECT event_type FROM oms.outbox WHERE account_id = $1 ORDER BY outbox_id",
            account_id,
        )
        assert [k["event_type"] for k in kinds] == [
            "order_update",  # FILLING, committed before the router is called
            "order_update",  # FILLED
            "order_filled",
            "position_update",
            "account_update",
        ]
    finally:
        await conn.close()
    sent = oms.router.requests[-1]
    assert sent.order.order_id == reply.order.order_id
    assert sent.client_group == "retail"
    assert sent.contract_size == "100000"
    assert sent.quote_to_usd_rate == "1"
    assert sent.max_price_deviation == ""


async def test_place_order_when_requested_price_given_then_router_gets_deviation_in_price(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    reply = await oms.stub.PlaceOrder(
        market(account_id, requested_price="1.08450", deviation_points=15)
    )
    assert reply.order.status == types_pb2.ORDER_STATUS_FILLED
    assert reply.order.deviation_points == 15
    assert D(oms.router.requests[-1].max_price_deviation) == D("0.00015")


async def test_place_order_when_same_client_order_id_twice_then_one_order_replayed(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    request = market(account_id, volume="0.10")

    first = await oms.stub.PlaceOrder(request)
    second = await oms.stub.PlaceOrder(request)

    assert first.replayed is False
    assert second.replayed is True
    assert second.order.order_id == first.order.order_id
    assert second.order.status == types_pb2.ORDER_STATUS_FILLED
    assert [f.fill_id for f in second.fills] == [f.fill_id for f in first.fills]
    assert [p.position_id for p in second.positions] == [p.position_id for p in first.positions]
    assert [d.deal_id for d in second.deals] == [d.deal_id for d in first.deals]
    assert len(first.deals) == 1
    conn = await oms.db()
    try:
        assert (
            await conn.fetchval("SELECT count(*) FROM oms.orders WHERE account_id = $1", account_id)
            == 1
        )
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM oms.ledger WHERE account_id = $1 AND type = 'COMMISSION'",
                account_id,
            )
            == 1
        )
    finally:
        await conn.close()


async def test_place_order_then_its_one_log_line_is_the_rpcs_with_order_status_and_book(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    request = market(account_id, volume="0.10")

    with capture_logs() as logs:
        first = await oms.stub.PlaceOrder(request)
        await oms.stub.PlaceOrder(request)  # the same client order id: replayed
        refused = await oms.stub.PlaceOrder(market(account_id, volume="5000.00"))

    lines = [e for e in logs if e.get("method") == "/fxmesh.v1.OmsService/PlaceOrder"]
    assert [(e["event"], e["code"]) for e in lines] == [("rpc", "OK")] * 3
    filled, replayed, rejected = lines
    assert (filled["order_id"], filled["status"], filled["book"], filled["replayed"]) == (
        int(first.order.order_id),
        "FILLED",
        "B",
        False,
    )
    assert (replayed["order_id"], replayed["replayed"]) == (filled["order_id"], True)
    assert (rejected["order_id"], rejected["status"], rejected["reject_reason"]) == (
        int(refused.order.order_id),
        "REJECTED",
        refused.order.reject_reason,
    )
    assert not [e for e in logs if e.get("event") == "order_placed"]


async def test_place_order_when_same_client_order_id_sent_concurrently_then_one_order(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    request = market(account_id, volume="0.10")
    replies = await asyncio.gather(*(oms.stub.PlaceOrder(request) for _ in range(4)))
    assert len({r.order.order_id for r in replies}) == 1
    assert sum(not r.replayed for r in replies) == 1


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"symbol": "NOPE"}, "UNKNOWN_SYMBOL"),
        ({"symbol": "EURCHF"}, "SYMBOL_DISABLED"),
        ({"volume": "0.001"}, "VOLUME_TOO_SMALL"),
        ({"volume": "51"}, "VOLUME_TOO_LARGE"),
        ({"volume": "0.015"}, "VOLUME_STEP"),
        ({"symbol": "GBPUSD"}, "NO_QUOTE"),
        ({"volume": "10"}, "NOT_ENOUGH_MONEY"),
        (
            {"type": types_pb2.ORDER_TYPE_LIMIT, "price": "1.09", "time_in_force": 1},
            "INVALID_PRICE",
        ),
        ({"account": "SUSPENDED"}, "ACCOUNT_NOT_ACTIVE"),
    ],
)
async def test_place_order_when_business_rule_broken_then_rejected_order_is_persisted(
    oms: Any, put_quote: Any, case: dict[str, Any], reason: str
) -> None:
    case = dict(case)
    account_id = await oms.new_account(status=case.pop("account", "ACTIVE"))
    await put_quote("EURUSD", "1.08440", "1.08450")
    calls_before = len(oms.router.requests)

    reply = await oms.stub.PlaceOrder(market(account_id, **case))

    assert reply.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert reply.order.reject_reason == reason
    assert reply.order.reject_message
    assert not reply.fills
    assert not reply.positions
    assert len(oms.router.requests) == calls_before
    conn = await oms.db()
    try:
        row = await conn.fetchrow(
            "SELECT status, reject_reason FROM oms.orders WHERE order_id = $1",
            int(reply.order.order_id),
        )
        assert (row["status"], row["reject_reason"]) == ("REJECTED", reason)
        kinds = await conn.fetch(
            "SELECT event_type FROM oms.outbox WHERE account_id = $1 ORDER BY outbox_id",
            account_id,
        )
        assert [k["event_type"] for k in kinds] == ["order_update", "order_rejected"]
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ({"account_id": ""}, "MISSING_FIELD"),
        ({"account_id": "abc"}, "INVALID_ACCOUNT_ID"),
        ({"volume": "1,5"}, "INVALID_DECIMAL"),
        ({"volume": "-1"}, "INVALID_DECIMAL"),
        ({"side": types_pb2.SIDE_UNSPECIFIED}, "MISSING_FIELD"),
        ({"client_order_id": ""}, "MISSING_FIELD"),
        ({"requested_price": "1.084501"}, "INVALID_PRECISION"),
    ],
)
async def test_place_order_when_request_malformed_then_invalid_argument(
    oms: Any, put_quote: Any, case: dict[str, Any], reason: str
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    request = market(account_id)
    for key, value in case.items():
        setattr(request, key, value)
    err = await rpc_error(oms.stub.PlaceOrder(request))
    assert err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert err.reason == reason


async def test_place_order_when_account_unknown_then_not_found(oms: Any) -> None:
    err = await rpc_error(oms.stub.PlaceOrder(market(999_999_999)))
    assert err.code == grpc.StatusCode.NOT_FOUND
    assert err.reason == "ACCOUNT_NOT_FOUND"


async def test_place_order_when_router_rejects_then_order_rejected_with_router_reason(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "reject"

    reply = await oms.stub.PlaceOrder(market(account_id))

    assert reply.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert reply.order.reject_reason == "PRICE_DEVIATION_EXCEEDED"
    assert reply.order.book == types_pb2.BOOK_B
    conn = await oms.db()
    try:
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM oms.positions WHERE account_id = $1", account_id
            )
            == 0
        )
        events = await conn.fetch(
            "SELECT event_type, payload FROM oms.outbox WHERE account_id = $1 ORDER BY outbox_id",
            account_id,
        )
        assert [e["event_type"] for e in events] == [
            "order_update",
            "order_update",
            "order_rejected",
        ]
        payload = events[-1]["payload"]
        payload = json.loads(payload) if isinstance(payload, str) else payload
        assert payload["data"]["order"]["rejectReason"] == "PRICE_DEVIATION_EXCEEDED"
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_place_order_when_router_unreachable_then_rejected_execution_unavailable(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "fail"
    reply = await oms.stub.PlaceOrder(market(account_id))
    assert reply.order.status == types_pb2.ORDER_STATUS_REJECTED
    assert reply.order.reject_reason == "EXECUTION_UNAVAILABLE"


async def test_place_order_when_router_fills_half_then_rest_cancelled_and_half_booked(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    oms.router.mode = "partial"
    reply = await oms.stub.PlaceOrder(market(account_id, volume="1.00"))
    assert reply.order.status == types_pb2.ORDER_STATUS_CANCELLED
    assert D(reply.order.filled_volume) == D("0.50")
    assert reply.order.reject_reason == "REMAINDER_CANCELLED"
    assert [D(p.volume) for p in reply.positions] == [D("0.50")]
    assert reply.positions[0].commission == "-1.75"


async def test_account_summary_when_position_in_profit_then_equity_margin_and_level(
    oms: Any, put_quote: Any
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    await oms.stub.PlaceOrder(market(account_id))
    await put_quote("EURUSD", "1.08500", "1.08510")

    summary = await oms.stub.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
    )
    positions = await oms.stub.ListPositions(
        oms_pb2.ListPositionsRequest(account_id=str(account_id))
    )

    assert summary.currency == "USD"
    assert summary.leverage == 100
    assert D(summary.balance) == D("9996.50")
    assert D(summary.unrealized_pnl) == D("50.00")
    assert D(summary.equity) == D("10046.50")
    assert D(summary.margin) == D("1084.50")
    assert D(summary.free_margin) == D("8962.00")
    assert D(summary.margin_level) == D("926.37")  # 10046.50 / 1084.50 x 100
    assert summary.margin_mode == types_pb2.MARGIN_MODE_HEDGING
    assert [(p.current_price, p.profit) for p in positions.positions] == [("1.08500", "50.00")]


async def test_account_summary_when_no_positions_then_margin_level_empty(oms: Any) -> None:
    account_id = await oms.new_account(deposit="250.00")
    summary = await oms.stub.GetAccountSummary(
        oms_pb2.GetAccountSummaryRequest(account_id=str(account_id))
    )
    assert (summary.balance, summary.equity, summary.free_margin) == ("250.00", "250.00", "250.00")
    assert D(summary.margin) == 0
    assert summary.margin_level == ""


async def test_get_order_when_other_account_asks_then_not_found(oms: Any, put_quote: Any) -> None:
    owner, other = await oms.new_account(), await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    placed = await oms.stub.PlaceOrder(market(owner, volume="0.01"))
    mine = await oms.stub.GetOrder(
        oms_pb2.GetOrderRequest(account_id=str(owner), order_id=placed.order.order_id)
    )
    assert mine.order.status == types_pb2.ORDER_STATUS_FILLED
    err = await rpc_error(
        oms.stub.GetOrder(
            oms_pb2.GetOrderRequest(account_id=str(other), order_id=placed.order.order_id)
        )
    )
    assert err.code == grpc.StatusCode.NOT_FOUND


async def test_outbox_relay_when_order_fills_then_its_events_reach_rabbitmq_in_order_and_are_marked(
    oms: Any, put_quote: Any, amqp_url: str, events_exchange: str
) -> None:
    account_id = await oms.new_account()
    await put_quote("EURUSD", "1.08440", "1.08450")
    connection = await aio_pika.connect_robust(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await declare_exchange(channel, events_exchange)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, routing_key=f"#.{account_id}.#")

        reply = await oms.stub.PlaceOrder(market(account_id))

        # The order's two transactions (accept, fill) raise five events: one message per
        # transaction at most, each a JSON array in commit order, its types in a header.
        received: list[dict[str, Any]] = []
        keys: list[str] = []
        while not any(e["type"] == "account_update" for e in received):
            message = await _next_message(queue)
            keys.append(message.routing_key)
            batch = json.loads(message.body)
            assert message.message_id == batch[0]["eventId"]
            assert message.headers["x-event-types"] == ",".join(
                dict.fromkeys(e["type"] for e in batch)
            )
            received += batch
        # The fill's message is keyed for trade consumers (the router's flow feed binds them).
        assert keys in (
            [f"events.{account_id}", f"events.{account_id}.trades"],
            [f"events.{account_id}.trades"],
        )
        assert [e["type"] for e in received] == [
            "order_update",
            "order_update",
            "order_filled",
            "position_update",
            "account_update",
        ]
        envelope = received[2]
        assert envelope["accountId"] == str(account_id)
        assert envelope["occurredAt"].endswith("Z")
        assert len({uuid.UUID(e["eventId"]) for e in received}) == 5
        assert envelope["data"]["order"]["orderId"] == reply.order.order_id
        assert envelope["data"]["order"]["status"] == "FILLED"
        assert envelope["data"]["fills"][0]["price"] == "1.08450"
    finally:
        await connection.close()
    conn = await oms.db()
    try:
        for _ in range(300):
            unpublished = await conn.fetchval(
                "SELECT count(*) FROM oms.outbox WHERE account_id = $1 AND published_at IS NULL",
                account_id,
            )
            if unpublished == 0:
                break
            await asyncio.sleep(0.1)
        assert unpublished == 0
    finally:
        await conn.close()


async def _next_message(queue: Any) -> Any:
    for _ in range(300):  # up to ~30 s on a slow machine
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return message
        await asyncio.sleep(0.1)
    raise AssertionError("no order_filled event arrived")


async def test_authenticate_when_demo_credentials_then_account_else_unauthenticated(
    oms: Any,
) -> None:
    reply = await oms.stub.AuthenticateClient(
        oms_pb2.AuthenticateClientRequest(login="demo", password="demo1234")
    )
    assert reply.login == "demo"
    assert int(reply.account_id) > 0
    for login, password in (("demo", "wrong"), ("nobody", "demo1234")):
        err = await rpc_error(
            oms.stub.AuthenticateClient(
                oms_pb2.AuthenticateClientRequest(login=login, password=password)
            )
        )
        assert err.code == grpc.StatusCode.UNAUTHENTICATED
        assert err.reason == "INVALID_CREDENTIALS"


async def test_list_accounts_when_seeded_then_demo_account_funded(oms: Any) -> None:
    reply = await oms.stub.ListAccounts(oms_pb2.ListAccountsRequest())
    demo = next(a for a in reply.accounts if a.login == "demo")
    assert (demo.currency, demo.leverage, demo.client_group) == ("USD", 100, "retail")
    assert demo.margin_mode == types_pb2.MARGIN_MODE_HEDGING
    assert D(demo.balance) >= 0


async def test_seed_when_run_again_then_no_second_deposit(oms: Any) -> None:
    from oms_helpers import open_all_sessions

    from devstack.catalogue import DEMO_ACCOUNT, DEMO_SYMBOLS
    from oms.seed import seed

    conn = await oms.db()
    try:
        lines = await seed(conn, DEMO_SYMBOLS, DEMO_ACCOUNT)
        await open_all_sessions(conn)  # the seed restores the demo FX sessions
        assert any("login demo / password demo1234" in line for line in lines)
        account_id = await conn.fetchval("SELECT account_id FROM oms.accounts WHERE login = 'demo'")
        deposits = await conn.fetchval(
            "SELECT count(*) FROM oms.ledger WHERE account_id = $1 AND type = 'DEPOSIT'",
            account_id,
        )
        assert deposits == 1
        await ledger_consistent(conn, account_id)
    finally:
        await conn.close()


async def test_ledger_when_row_updated_then_database_refuses(oms: Any) -> None:
    conn = await oms.db()
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await conn.execute("UPDATE oms.ledger SET note = 'x'")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM oms.ledger")
    finally:
        await conn.close()
