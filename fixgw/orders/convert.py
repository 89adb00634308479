"""Protobuf <-> domain for the order RPCs (ExecuteOrder, GetOrderStatus, CancelOrder)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

from google.protobuf.timestamp_pb2 import Timestamp

from fixgw.orders.domain import (
    Attempt,
    AttemptStatus,
    ExecuteCommand,
    Fill,
    OrderStatus,
    OrderView,
    Side,
    plain,
)
from fxmesh.errors import InvalidArgument
from fxmesh.reasons import Reason
from fxmesh.v1 import fixgw_pb2, types_pb2

_SIDES = {types_pb2.SIDE_BUY: Side.BUY, types_pb2.SIDE_SELL: Side.SELL}
_STATUS = {
    OrderStatus.PENDING: fixgw_pb2.LP_ORDER_STATUS_PENDING,
    OrderStatus.FILLED: fixgw_pb2.LP_ORDER_STATUS_FILLED,
    OrderStatus.PARTIALLY_FILLED: fixgw_pb2.LP_ORDER_STATUS_PARTIALLY_FILLED,
    OrderStatus.REJECTED: fixgw_pb2.LP_ORDER_STATUS_REJECTED,
    OrderStatus.UNKNOWN: fixgw_pb2.LP_ORDER_STATUS_UNKNOWN,
    OrderStatus.NOT_FOUND: fixgw_pb2.LP_ORDER_STATUS_NOT_FOUND,
}
_ATTEMPT_STATUS = {
    AttemptStatus.PENDING: fixgw_pb2.LP_ORDER_STATUS_PENDING,
    AttemptStatus.UNKNOWN: fixgw_pb2.LP_ORDER_STATUS_UNKNOWN,
    AttemptStatus.FILLED: fixgw_pb2.LP_ORDER_STATUS_FILLED,
    AttemptStatus.PARTIALLY_FILLED: fixgw_pb2.LP_ORDER_STATUS_PARTIALLY_FILLED,
    AttemptStatus.REJECTED: fixgw_pb2.LP_ORDER_STATUS_REJECTED,
}


def _decimal(name: str, text: str, *, required: bool = True) -> Decimal | None:
    value = text.strip()
    if not value:
        if required:
            raise InvalidArgument(f"{name} is required", reason=f"INVALID_{name.upper()}")
        return None
    try:
        number = Decimal(value)
    except InvalidOperation as exc:
        raise InvalidArgument(
            f"{name} is not a decimal: {text!r}", reason=f"INVALID_{name.upper()}"
        ) from exc
    if not number.is_finite() or number <= 0:
        raise InvalidArgument(f"{name} must be positive", reason=f"INVALID_{name.upper()}")
    return number


def _required(name: str, text: str) -> Decimal:
    value = _decimal(name, text)
    if value is None:  # pragma: no cover - _decimal raises for a required empty value
        raise InvalidArgument(f"{name} is required", reason=f"INVALID_{name.upper()}")
    return value


def order_id(value: str) -> str:
    """A request's order id, validated."""
    text = value.strip()
    if not text or len(text) > 64 or any(c.isspace() for c in text):
        raise InvalidArgument(f"bad order_id {value!r}", reason=Reason.INVALID_ORDER_ID)
    return text


def execute_command(request: fixgw_pb2.ExecuteOrderRequest) -> ExecuteCommand:
    """ExecuteOrderRequest -> ExecuteCommand; INVALID_ARGUMENT (with a reason) on bad input."""
    side = _SIDES.get(request.side)
    if side is None:
        raise InvalidArgument("side must be BUY or SELL", reason=Reason.INVALID_SIDE)
    symbol = request.symbol.strip()
    if not symbol:
        raise InvalidArgument("symbol is required", reason=Reason.INVALID_SYMBOL)
    account_id = request.account_id.strip()
    if not account_id:
        raise InvalidArgument("account_id is required", reason=Reason.INVALID_ACCOUNT_ID)
    volume = _required("volume", request.volume)
    contract_size = _required("contract_size", request.contract_size)
    return ExecuteCommand(
        order_id=order_id(request.order_id),
        account_id=account_id,
        symbol=symbol,
        side=side,
        volume=volume,
        contract_size=contract_size,
        worst_price=_decimal("worst_price", request.worst_price, required=False),
        lps=tuple(name.strip() for name in request.lps if name.strip()),
        preferred_lps=tuple(name.strip() for name in request.preferred_lps if name.strip()),
    )


def _timestamp(when: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(when)
    return ts


def _fill(fill: Fill) -> fixgw_pb2.LpFill:
    msg = fixgw_pb2.LpFill(
        lp=fill.lp,
        lp_order_id=fill.lp_order_id,
        exec_id=fill.exec_id,
        cl_ord_id=fill.cl_ord_id,
        price=plain(fill.price),
        volume=plain(fill.volume),
        receive_time=_timestamp(fill.received_at),
    )
    if fill.transact_time is not None:
        msg.transact_time.CopyFrom(_timestamp(fill.transact_time))
    return msg


def _attempt(attempt: Attempt) -> fixgw_pb2.LpAttempt:
    msg = fixgw_pb2.LpAttempt(
        lp=attempt.lp,
        cl_ord_id=attempt.cl_ord_id,
        lp_order_id=attempt.lp_order_id or "",
        status=_ATTEMPT_STATUS[attempt.status],
        order_style=attempt.style.value,
        limit_price="" if attempt.limit_price is None else plain(attempt.limit_price),
        filled_volume=plain(attempt.filled),
        reject_reason=attempt.reject_reason or "",
        reject_message=attempt.reject_message or "",
        send_time=_timestamp(attempt.sent_at),
    )
    if attempt.final_at is not None:
        msg.final_time.CopyFrom(_timestamp(attempt.final_at))
    return msg


def execution(view: OrderView) -> fixgw_pb2.LpExecution:
    """An OrderView as LpExecution (decimals as plain strings, empty without fills)."""
    fills: Iterable[Fill] = view.fills
    return fixgw_pb2.LpExecution(
        order_id=view.order_id,
        status=_STATUS[view.status],
        fills=[_fill(f) for f in fills],
        filled_volume=plain(view.filled_volume) if view.fills else "",
        average_price="" if view.average_price is None else plain(view.average_price),
        reject_reason=view.reject_reason or "",
        reject_message=view.reject_message or "",
        attempts=[_attempt(a) for a in view.attempts],
    )
