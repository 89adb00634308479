"""The only place protobuf <-> router domain conversion happens."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from bbook import Exposure, Side
from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import router_pb2, types_pb2
from router.domain import (
    Book,
    ClientFill,
    ExecuteCommand,
    ExecuteResult,
    ExecutionStatus,
    ExplainedDecision,
    ReconcileCommand,
)

_SIDES = {types_pb2.SIDE_BUY: Side.BUY, types_pb2.SIDE_SELL: Side.SELL}
_BOOKS = {Book.A: types_pb2.BOOK_A, Book.B: types_pb2.BOOK_B, Book.C: types_pb2.BOOK_C}
_BOOKS_IN = {v: k for k, v in _BOOKS.items()}
_STATUSES = {
    ExecutionStatus.FILLED: router_pb2.EXECUTION_STATUS_FILLED,
    ExecutionStatus.PARTIALLY_FILLED: router_pb2.EXECUTION_STATUS_PARTIALLY_FILLED,
    ExecutionStatus.REJECTED: router_pb2.EXECUTION_STATUS_REJECTED,
}
# Explain only: an order whose A-book outcome is not known yet.
_EXPLAIN_STATUSES = {
    **_STATUSES,
    ExecutionStatus.PENDING: router_pb2.EXECUTION_STATUS_UNSPECIFIED,
}
_SIDES_OUT = {v: k for k, v in _SIDES.items()}


def _required(value: str, field: str) -> str:
    if not value.strip():
        raise InvalidArgument(
            f"{field} is required", reason=Reason.MISSING_FIELD, metadata={"field": field}
        )
    return value.strip()


def _optional_decimal(value: str, field: str) -> Decimal | None:
    return parse_decimal(value, field, positive=True) if value.strip() else None


def execute_command(request: router_pb2.ExecuteRequest, trace_id: str | None) -> ExecuteCommand:
    """Validate an ExecuteRequest into a command (INVALID_ARGUMENT naming the bad field)."""
    order = request.order
    side = _SIDES.get(order.side)
    if side is None:
        raise InvalidArgument(
            "order.side must be SIDE_BUY or SIDE_SELL",
            reason=Reason.INVALID_SIDE,
            metadata={"field": "order.side"},
        )
    deviation = request.max_price_deviation.strip()
    close_book = None
    if request.close_book != types_pb2.BOOK_UNSPECIFIED:
        close_book = _BOOKS_IN.get(request.close_book)
        if close_book is None:
            raise InvalidArgument(
                "close_book must be BOOK_A, BOOK_B or BOOK_C",
                reason="INVALID_BOOK",
                metadata={"field": "close_book"},
            )
    close_venue = request.close_venue.strip()
    if close_book is Book.A and not close_venue:
        raise InvalidArgument(
            "close_venue is required with close_book BOOK_A",
            reason=Reason.MISSING_FIELD,
            metadata={"field": "close_venue"},
        )
    return ExecuteCommand(
        order_id=_required(order.order_id, "order.order_id"),
        account_id=_required(order.account_id, "order.account_id"),
        symbol=_required(order.symbol, "order.symbol"),
        side=side,
        volume=parse_decimal(order.volume, "order.volume", positive=True),
        client_group=request.client_group.strip(),
        contract_size=parse_decimal(request.contract_size, "contract_size", positive=True),
        quote_to_usd_rate=parse_decimal(
            request.quote_to_usd_rate, "quote_to_usd_rate", positive=True
        ),
        requested_price=_optional_decimal(order.requested_price, "order.requested_price"),
        max_price_deviation=(
            parse_decimal(deviation, "max_price_deviation") if deviation else None
        ),
        limit_price=_optional_decimal(request.limit_price, "limit_price"),
        trace_id=trace_id,
        close_book=close_book,
        close_venue=close_venue,
    )


def reconcile_command(
    request: router_pb2.ReconcileExecutionRequest, trace_id: str | None
) -> ReconcileCommand:
    """Validate a ReconcileExecutionRequest (INVALID_ARGUMENT naming a missing field)."""
    return ReconcileCommand(
        order_id=_required(request.order_id, "order_id"),
        account_id=_required(request.account_id, "account_id"),
        trace_id=trace_id,
    )


def fill_message(fill: ClientFill) -> types_pb2.Fill:
    time = Timestamp()
    time.FromDatetime(fill.fill_time)
    return types_pb2.Fill(
        fill_id=fill.fill_id,
        price=fmt(fill.price),
        volume=fmt(fill.volume),
        book=_BOOKS[fill.book],
        venue=fill.venue,
        fill_time=time,
        venue_order_id=fill.venue_order_id,
        venue_price=fmt(fill.venue_price),
    )


def _execution_fields(result: ExecuteResult) -> dict[str, Any]:
    return {
        "book": _BOOKS[result.book] if result.book else types_pb2.BOOK_UNSPECIFIED,
        "routing_reason": result.routing_reason,
        "status": _STATUSES[result.status],
        "fills": [fill_message(f) for f in result.fills],
        "reject_reason": result.reject_reason,
        "reject_message": result.reject_message,
    }


def execute_response(result: ExecuteResult) -> router_pb2.ExecuteResponse:
    return router_pb2.ExecuteResponse(**_execution_fields(result))


def reconcile_response(result: ExecuteResult) -> router_pb2.ReconcileExecutionResponse:
    """The same fields as ``execute_response``: oms handles both answers alike."""
    return router_pb2.ReconcileExecutionResponse(**_execution_fields(result))


def exposure_response(
    exposures: list[Exposure], hedge_net: Mapping[str, Decimal] | None = None
) -> router_pb2.GetHouseExposureResponse:
    hedges = hedge_net or {}
    return router_pb2.GetHouseExposureResponse(
        exposures=[
            router_pb2.SymbolExposure(
                symbol=e.symbol,
                net_volume=fmt(e.net_lots),
                notional_usd=fmt(e.notional_usd),
                avg_price=fmt(e.avg_price),
                realized_pnl_usd=fmt(e.realized_pnl_usd),
                unrealized_pnl_usd=fmt(e.unrealized_pnl_usd),
                client_net_volume=fmt(e.net_lots - hedges.get(e.symbol, Decimal(0))),
                hedge_net_volume=fmt(hedges.get(e.symbol, Decimal(0))),
            )
            for e in exposures
        ]
    )


def explain_order_id(request: router_pb2.ExplainRequest) -> str:
    return _required(request.order_id, "order_id")


def explain_response(explained: ExplainedDecision) -> router_pb2.ExplainResponse:
    decision = explained.decision
    decided = Timestamp()
    decided.FromDatetime(explained.decided_at)
    return router_pb2.ExplainResponse(
        order_id=explained.order_id,
        account_id=explained.account_id,
        symbol=explained.symbol,
        side=_SIDES_OUT[explained.side],
        volume=fmt(explained.volume),
        book=_BOOKS[decision.book],
        routing_reason=decision.reason,
        level=decision.level,
        rule_id=decision.rule_id or 0,
        config_version=decision.config_version or 0,
        a_volume=fmt(decision.a_volume),
        b_volume=fmt(decision.b_volume),
        hedge_ratio=fmt(decision.c_book_hedge_ratio),
        status=_EXPLAIN_STATUSES[explained.status],
        reject_reason=explained.reject_reason,
        decide_time=decided,
        legs=[
            router_pb2.RoutingLeg(
                book=_BOOKS[leg.book], venue=leg.venue, volume=fmt(leg.volume), price=fmt(leg.price)
            )
            for leg in explained.legs
        ],
        inputs=[router_pb2.RoutingInput(name=n, value=v) for n, v in explained.inputs],
        steps=[
            router_pb2.RoutingStep(level=level, outcome=outcome, detail=detail)
            for level, outcome, detail in explained.steps
        ],
    )
