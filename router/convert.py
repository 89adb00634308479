"""The only place protobuf <-> router domain conversion happens."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from bbook import Exposure, Side
from fxmesh.errors import InvalidArgument
from fxmesh.money import fmt, parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import router_pb2, router_whatif_pb2, types_pb2
from router.domain import (
    Book,
    ClientFill,
    ExecuteCommand,
    ExecuteResult,
    ExecutionStatus,
    ExplainedDecision,
    ReconcileCommand,
    RoutingRule,
)
from router.rules import (
    AccountOverride,
    FlowThreshold,
    OverLimit,
    VolatilityThreshold,
    VolumeLimit,
)
from router.whatif import Outcome, Proposal, WhatIfReport

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


# --- what-if ---------------------------------------------------------------------------------------


def _book_in(value: types_pb2.Book.ValueType, field: str) -> Book:
    book = _BOOKS_IN.get(value)
    if book is None:
        raise InvalidArgument(
            f"{field} must be BOOK_A, BOOK_B or BOOK_C",
            reason=Reason.WHATIF_INVALID,
            metadata={"field": field},
        )
    return book


def _dec(value: str, field: str, default: Decimal | None = None) -> Decimal | None:
    if not value.strip():
        return default
    return parse_decimal(value, field)


def _req_dec(value: str, field: str) -> Decimal:
    return parse_decimal(value, field)


def _over_limit(value: str, field: str) -> OverLimit:
    try:
        return OverLimit(value.strip() or "SPLIT")
    except ValueError:
        raise InvalidArgument(
            f"{field} must be A or SPLIT", reason=Reason.WHATIF_INVALID, metadata={"field": field}
        ) from None


def what_if_query(
    request: router_whatif_pb2.WhatIfRequest,
) -> tuple[Proposal, datetime, datetime, int]:
    """Validate a WhatIfRequest into (proposal, start, end, max changed orders listed)."""
    if not (request.HasField("start_time") and request.HasField("end_time")):
        raise InvalidArgument(
            "start_time and end_time are required",
            reason=Reason.MISSING_FIELD,
            metadata={"field": "start_time" if not request.HasField("start_time") else "end_time"},
        )
    start = request.start_time.ToDatetime(UTC)
    end = request.end_time.ToDatetime(UTC)
    if start >= end:
        raise InvalidArgument(
            "start_time must be before end_time", reason=Reason.INVALID_TIME_RANGE
        )
    limit = request.max_changed_orders or 100
    if not 0 < limit <= 1000:
        raise InvalidArgument(
            "max_changed_orders must be 1..1000",
            reason=Reason.WHATIF_INVALID,
            metadata={"field": "max_changed_orders"},
        )
    c = request.config
    zero = Decimal(0)
    proposal = Proposal(
        rules=tuple(
            RoutingRule(
                rule_id=r.rule_id,
                priority=r.priority,
                client_group=r.client_group or None,
                symbol=r.symbol or None,
                book=_book_in(r.book, f"routing_rules[{i}].book"),
                reason=r.reason,
                c_book_hedge_ratio=_dec(r.c_book_hedge_ratio, "c_book_hedge_ratio", zero) or zero,
                enabled=r.enabled,
            )
            for i, r in enumerate(c.routing_rules.rows)
        )
        if c.HasField("routing_rules")
        else None,
        overrides=tuple(
            AccountOverride(
                o.account_id,
                _book_in(o.book, f"account_overrides[{i}].book"),
                o.reason,
                _dec(o.c_book_hedge_ratio, "c_book_hedge_ratio", zero) or zero,
            )
            for i, o in enumerate(c.account_overrides.rows)
        )
        if c.HasField("account_overrides")
        else None,
        volume_limits=tuple(
            VolumeLimit(
                0,
                v.client_group or None,
                v.symbol or None,
                _req_dec(v.max_lots, f"bbook_volume_limits[{i}].max_lots"),
                _over_limit(v.over_limit, f"bbook_volume_limits[{i}].over_limit"),
            )
            for i, v in enumerate(c.bbook_volume_limits.rows)
        )
        if c.HasField("bbook_volume_limits")
        else None,
        exposure_limits={
            e.symbol: _req_dec(e.max_net_lots, f"exposure_limits[{i}].max_net_lots")
            for i, e in enumerate(c.exposure_limits.rows)
        }
        if c.HasField("exposure_limits")
        else None,
        flow_thresholds=tuple(
            FlowThreshold(
                0,
                t.client_group or None,
                t.min_closed_deals,
                _dec(t.net_profit_min, "net_profit_min"),
                _dec(t.win_rate_min, "win_rate_min"),
                t.min_markout_fills,
                _dec(t.toxicity_min_bps, "toxicity_min_bps"),
                _dec(t.latency_arb_share_min, "latency_arb_share_min"),
            )
            for t in c.flow_thresholds.rows
        )
        if c.HasField("flow_thresholds")
        else None,
        volatility_thresholds=tuple(
            VolatilityThreshold(
                0,
                t.symbol or None,
                _req_dec(t.max_bps, f"volatility_thresholds[{i}].max_bps"),
                _book_in(t.book, f"volatility_thresholds[{i}].book"),
                _dec(t.c_book_hedge_ratio, "c_book_hedge_ratio", zero) or zero,
            )
            for i, t in enumerate(c.volatility_thresholds.rows)
        )
        if c.HasField("volatility_thresholds")
        else None,
    )
    return proposal, start, end, limit


def _outcome_message(o: Outcome) -> router_whatif_pb2.WhatIfOutcome:
    return router_whatif_pb2.WhatIfOutcome(
        venue_mix=[
            router_whatif_pb2.WhatIfVenueMix(
                book=_BOOKS[m.book],
                orders=m.orders,
                a_volume=fmt(m.a_volume),
                b_volume=fmt(m.b_volume),
            )
            for m in o.venue_mix
        ],
        symbols=[
            router_whatif_pb2.WhatIfSymbolOutcome(
                symbol=s.symbol,
                house_pnl_usd=fmt(s.house_pnl_usd),
                peak_abs_net_lots=fmt(s.peak_abs_net_lots),
                hedge_volume=fmt(s.hedge_volume),
                a_volume=fmt(s.a_volume),
                b_volume=fmt(s.b_volume),
            )
            for s in o.symbols
        ],
        house_pnl_usd=fmt(o.house_pnl_usd),
        hedge_volume=fmt(o.hedge_volume),
    )


def what_if_response(report: WhatIfReport) -> router_whatif_pb2.WhatIfResponse:
    return router_whatif_pb2.WhatIfResponse(
        orders=report.orders,
        closes_skipped=report.closes_skipped,
        base_config_version=report.base_config_version,
        recorded=_outcome_message(report.recorded),
        proposed=_outcome_message(report.proposed),
        changed_count=report.changed_count,
        changed_orders=[
            router_whatif_pb2.WhatIfChangedOrder(
                order_id=c.order.order_id,
                symbol=c.order.inputs.symbol,
                volume=fmt(c.order.inputs.volume),
                recorded_book=_BOOKS[c.order.book],
                recorded_reason=c.order.reason,
                recorded_a_volume=fmt(c.order.a_volume),
                recorded_b_volume=fmt(c.order.b_volume),
                proposed_book=_BOOKS[c.proposed.book],
                proposed_reason=c.proposed.reason,
                proposed_level=c.proposed.level,
                proposed_a_volume=fmt(c.proposed.a_volume),
                proposed_b_volume=fmt(c.proposed.b_volume),
            )
            for c in report.changed
        ],
    )
