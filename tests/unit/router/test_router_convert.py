"""ExecuteRequest / ReconcileExecutionRequest validation and the shape of the answers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from fxmesh.errors import InvalidArgument
from fxmesh.v1 import router_pb2, types_pb2
from router import convert
from router.domain import ExecuteResult, ExecutionStatus


def execute_request(limit_price: str = "") -> router_pb2.ExecuteRequest:
    return router_pb2.ExecuteRequest(
        order=types_pb2.Order(
            order_id="o-1", account_id="1001", symbol="EURUSD", side=types_pb2.SIDE_BUY, volume="1"
        ),
        contract_size="100000",
        quote_to_usd_rate="1",
        limit_price=limit_price,
    )


def test_execute_command_when_limit_price_empty_then_market_order() -> None:
    assert convert.execute_command(execute_request(), None).limit_price is None


def test_execute_command_when_limit_price_given_then_kept_exactly() -> None:
    command = convert.execute_command(execute_request(" 1.08400 "), None)

    assert command.limit_price == Decimal("1.08400")


def test_execute_command_when_limit_price_not_positive_then_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as caught:
        convert.execute_command(execute_request("-1"), None)

    assert caught.value.metadata == {"field": "limit_price"}


def test_reconcile_command_when_account_missing_then_invalid_argument() -> None:
    with pytest.raises(InvalidArgument) as caught:
        convert.reconcile_command(router_pb2.ReconcileExecutionRequest(order_id="o-1"), None)

    assert caught.value.reason == "MISSING_FIELD"
    assert caught.value.metadata == {"field": "account_id"}


def test_reconcile_response_when_order_never_routed_then_book_unspecified() -> None:
    result = ExecuteResult(
        book=None,
        routing_reason="",
        status=ExecutionStatus.REJECTED,
        reject_reason="NOT_EXECUTED",
        reject_message="order o-1 was not executed",
    )

    response = convert.reconcile_response(result)

    assert response.book == types_pb2.BOOK_UNSPECIFIED
    assert response.status == router_pb2.EXECUTION_STATUS_REJECTED
    assert response.reject_reason == "NOT_EXECUTED"
