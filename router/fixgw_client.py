"""fixgw as the router sees it: ExecuteOrder and GetOrderStatus, answered as ``LpExecution``.

Any gRPC failure (fixgw down, deadline exceeded, an answer that cannot be read) raises
``FixgwUnavailable``: the order may or may not be at an LP, so the caller keeps its SUBMITTED claim
and asks again later; it never reads such a failure as a reject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import grpc
import structlog

from bbook import Side
from fxmesh.errors import FxError
from fxmesh.money import fmt, parse_decimal
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, types_pb2
from router.abook import LpExecution, LpFill, LpStatus

log = structlog.stdlib.get_logger(__name__)

_SIDES = {Side.BUY: types_pb2.SIDE_BUY, Side.SELL: types_pb2.SIDE_SELL}


@dataclass(frozen=True, slots=True)
class LpSessionStatus:
    """One LP as ListSessions reports it, reduced to what the router's level 6 reads."""

    name: str
    takes_orders: bool
    """``LpSession.healthy``: logged on, enabled, no order held for reconciliation."""
    degraded: bool = False
    """``LpSession.health.degraded``: fixgw tries the LP after every other one."""
    degraded_reason: str = ""
    """``REJECT_RATIO`` or ``FILL_LATENCY`` (empty when not degraded)."""


class FixgwUnavailable(Exception):
    """fixgw could not be reached, did not answer in time, or answered something unreadable."""


class FixgwClient:
    """Calls fxmesh.v1.FixGatewayService over ``channel``."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = fixgw_pb2_grpc.FixGatewayServiceStub(channel)

    async def execute_order(
        self,
        *,
        order_id: str,
        account_id: str,
        symbol: str,
        side: Side,
        volume: Decimal,
        contract_size: Decimal,
        worst_price: Decimal | None,
        lps: Sequence[str],
        deadline_seconds: float,
        preferred_lps: Sequence[str] = (),
    ) -> LpExecution:
        """Execute the order at the LPs (idempotent per order id at fixgw) within the deadline."""
        request = fixgw_pb2.ExecuteOrderRequest(
            order_id=order_id,
            account_id=account_id,
            symbol=symbol,
            side=_SIDES[side],
            volume=fmt(volume),
            contract_size=fmt(contract_size),
            worst_price=fmt(worst_price),
            lps=list(lps),
            preferred_lps=list(preferred_lps),
        )
        try:
            response = await self._stub.ExecuteOrder(request, timeout=deadline_seconds)
        except grpc.aio.AioRpcError as exc:
            log.warning("fixgw_execute_failed", order_id=order_id, code=exc.code().name)
            raise FixgwUnavailable(f"fixgw ExecuteOrder: {exc.code().name}") from exc
        return _checked(response.execution, order_id)

    async def list_sessions(self, *, deadline_seconds: float) -> list[LpSessionStatus]:
        """Every LP session: whether it takes new orders (``LpSession.healthy``) and whether
        fixgw's health block flags it DEGRADED, and why (``LpSession.health``)."""
        try:
            response = await self._stub.ListSessions(
                fixgw_pb2.ListSessionsRequest(), timeout=deadline_seconds
            )
        except grpc.aio.AioRpcError as exc:
            raise FixgwUnavailable(f"fixgw ListSessions: {exc.code().name}") from exc
        return [
            LpSessionStatus(
                s.name,
                s.healthy,
                s.health.degraded,
                (s.health.degraded_reason or "DEGRADED") if s.health.degraded else "",
            )
            for s in response.sessions
        ]

    async def order_status(self, order_id: str, *, deadline_seconds: float) -> LpExecution:
        """What became of the order at the LPs (fixgw fences an order id it never saw)."""
        request = fixgw_pb2.GetOrderStatusRequest(order_id=order_id)
        try:
            response = await self._stub.GetOrderStatus(request, timeout=deadline_seconds)
        except grpc.aio.AioRpcError as exc:
            log.warning("fixgw_status_failed", order_id=order_id, code=exc.code().name)
            raise FixgwUnavailable(f"fixgw GetOrderStatus: {exc.code().name}") from exc
        return _checked(response.execution, order_id)


def _checked(message: fixgw_pb2.LpExecution, order_id: str) -> LpExecution:
    try:
        execution = lp_execution(message)
    except (FxError, ValueError) as exc:
        log.error("fixgw_bad_response", order_id=order_id, error=str(exc))
        raise FixgwUnavailable(f"fixgw answered badly: {exc}") from exc
    if execution.order_id and execution.order_id != order_id:
        log.error("fixgw_wrong_order", order_id=order_id, answered=execution.order_id)
        raise FixgwUnavailable(f"fixgw answered order {execution.order_id}, not {order_id}")
    return execution


def _time(message: fixgw_pb2.LpFill, field: str) -> datetime | None:
    if not message.HasField(field):  # type: ignore[arg-type]
        return None
    stamp = getattr(message, field)
    return stamp.ToDatetime(tzinfo=UTC)  # type: ignore[no-any-return]


def lp_execution(message: fixgw_pb2.LpExecution) -> LpExecution:
    """Read an LpExecution (ValueError / InvalidArgument when it is not a valid one)."""
    name = fixgw_pb2.LpOrderStatus.Name(message.status).removeprefix("LP_ORDER_STATUS_")
    status = LpStatus(name)  # ValueError for UNSPECIFIED
    fills = tuple(
        LpFill(
            lp=f.lp or _missing("fill.lp"),
            lp_order_id=f.lp_order_id,
            exec_id=f.exec_id or _missing("fill.exec_id"),
            cl_ord_id=f.cl_ord_id or _missing("fill.cl_ord_id"),
            price=parse_decimal(f.price, "fill.price", positive=True),
            volume=parse_decimal(f.volume, "fill.volume", positive=True),
            transact_time=_time(f, "transact_time"),
            receive_time=_time(f, "receive_time"),
        )
        for f in message.fills
    )
    if status.final_with_fills and not fills:
        raise ValueError(f"status {status.value} without fills")
    return LpExecution(
        order_id=message.order_id,
        status=status,
        fills=fills,
        reject_reason=message.reject_reason,
        reject_message=message.reject_message,
    )


def _missing(name: str) -> str:
    raise ValueError(f"{name} is missing")
