"""The outbox relay's grouping of rows into AMQP messages (one per account and trace context)."""

from __future__ import annotations

from typing import Any

from oms.store.outbox import _messages


def row(outbox_id: int, account_id: int, trace: str) -> dict[str, Any]:
    return {
        "outbox_id": outbox_id,
        "account_id": account_id,
        "event_type": "order_update",
        "payload": f'{{"eventId":"e{outbox_id}"}}',
        "event_id": f"e{outbox_id}",
        "headers": f'{{"traceparent":"{trace}"}}',
    }


def test_messages_when_accounts_interleave_then_one_per_account_each_in_outbox_order() -> None:
    rows = [row(1, 7, "t1"), row(2, 8, "t2"), row(3, 7, "t1"), row(4, 8, "t2"), row(5, 7, "t1")]

    messages = _messages(rows)

    assert [(m.account_id, m.outbox_ids, m.first_event_id) for m in messages] == [
        (7, [1, 3, 5], "e1"),
        (8, [2, 4], "e2"),
    ]
    assert messages[0].bodies == ['{"eventId":"e1"}', '{"eventId":"e3"}', '{"eventId":"e5"}']


def test_messages_when_an_accounts_trace_changes_then_a_new_message_and_never_an_earlier_one() -> (
    None
):
    # Account 7's third row is in trace t1 again, but after a t2 row: appending it to the first
    # message would publish it before the t2 row, out of order.
    rows = [row(1, 7, "t1"), row(2, 7, "t2"), row(3, 7, "t1")]

    messages = _messages(rows)

    assert [m.outbox_ids for m in messages] == [[1], [2], [3]]
    assert [m.headers_json for m in messages] == [
        '{"traceparent":"t1"}',
        '{"traceparent":"t2"}',
        '{"traceparent":"t1"}',
    ]
