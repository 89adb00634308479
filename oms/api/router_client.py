"""The router as oms sees it: Execute and ReconcileExecution, answered as plain data.

Execute is idempotent per order id at the router, and ReconcileExecution gives its final word on
an order oms lost track of (FILLED with the same fills, or REJECTED ``NOT_EXECUTED`` after fencing
the order id so that a late Execute can never fill it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

import grpc
import structlog

from fxmesh.errors import FxError, from_rpc_error
from fxmesh.money import fmt, parse_decimal
from fxmesh.reasons import Reason
from fxmesh.v1 import router_pb2, router_pb2_grpc
from oms.api import convert
from oms.domain.model import Order
from oms.domain.records import Fill
from oms.domain.results import CloseVenue, Execution
from oms.trading.unit_of_work import ExecutionUnavailable, HouseFill

log = structlog.stdlib.get_logger(__name__)

T = TypeVar("T")
# A router replica that stands by answers ROUTER_STANDBY having done nothing with the request:
# it is asked again (the channel reconnects to the leader meanwhile) while the deadline allows.
STANDBY_RETRY_SECONDS = 0.25


class RouterClient:
    """Calls fxmesh.v1.RouterService with the service-wide deadline."""

    def __init__(self, channel: grpc.aio.Channel, deadline_seconds: float) -> None:
        self._stub = router_pb2_grpc.RouterServiceStub(channel)
        self._deadline = deadline_seconds

    async def execute(
        self,
        order: Order,
        client_group: str,
        max_price_deviation: Decimal | None,
        contract_size: Decimal,
        quote_to_usd_rate: Decimal,
        limit_price: Decimal | None = None,
        closing: CloseVenue | None = None,
    ) -> Execution:
        """Route and execute ``order``; ``limit_price`` is the worst acceptable fill price.

        ``closing``: the order closes (or reduces) a position held at that book and venue; the
        router sends it there (an A-book position's close goes to its LP)."""
        request = router_pb2.ExecuteRequest(
            order=convert.order_to_proto(order),
            client_group=client_group,
            max_price_deviation=fmt(max_price_deviation),
            contract_size=fmt(contract_size),
            quote_to_usd_rate=fmt(quote_to_usd_rate),
            limit_price=fmt(limit_price),
            close_book=convert.book_to_proto(closing.book if closing else None),
            close_venue=closing.venue if closing else "",
        )
        try:
            response = await self._standby_retried(
                lambda timeout: self._stub.Execute(request, timeout=timeout)
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("router_execute_failed", code=exc.code().name, details=exc.details())
            raise ExecutionUnavailable(f"router: {exc.code().name}") from exc
        return _checked(response)

    async def reconcile(self, order: Order) -> Execution:
        """The router's final word on an order whose execution oms did not see complete."""
        request = router_pb2.ReconcileExecutionRequest(
            order_id=str(order.order_id), account_id=str(order.account_id)
        )
        try:
            response = await self._standby_retried(
                lambda timeout: self._stub.ReconcileExecution(request, timeout=timeout)
            )
        except grpc.aio.AioRpcError as exc:
            log.warning("router_reconcile_failed", code=exc.code().name, details=exc.details())
            raise ExecutionUnavailable(f"router: {exc.code().name}") from exc
        return _checked(response)

    @property
    def prepares(self) -> bool:
        return False

    async def prepare(
        self,
        order: Order,
        client_group: str,
        max_price_deviation: Decimal | None,
        contract_size: Decimal,
        quote_to_usd_rate: Decimal,
        closing: CloseVenue | None = None,
    ) -> HouseFill | None:
        """None: a router across gRPC writes its fills in its own transactions (``execute``)."""
        return None

    async def _standby_retried(self, call: Callable[[float], Awaitable[T]]) -> T:
        """``call(timeout)``, asked again after a ROUTER_STANDBY answer within the deadline."""
        end = time.monotonic() + self._deadline
        while True:
            try:
                return await call(max(end - time.monotonic(), 0.05))
            except grpc.aio.AioRpcError as exc:
                if exc.code() is not grpc.StatusCode.UNAVAILABLE:
                    raise
                if from_rpc_error(exc).reason != Reason.ROUTER_STANDBY:
                    raise
                if time.monotonic() + STANDBY_RETRY_SECONDS >= end:
                    raise
                log.info("router_standby_retry")
                await asyncio.sleep(STANDBY_RETRY_SECONDS)


def _checked(
    response: router_pb2.ExecuteResponse | router_pb2.ReconcileExecutionResponse,
) -> Execution:
    try:
        return _execution(response)
    except FxError as exc:
        log.error("router_bad_response", error=exc.message)
        raise ExecutionUnavailable(f"router answered badly: {exc.message}") from exc


def _execution(
    response: router_pb2.ExecuteResponse | router_pb2.ReconcileExecutionResponse,
) -> Execution:
    status = router_pb2.ExecutionStatus.Name(response.status).removeprefix("EXECUTION_STATUS_")
    if status not in ("FILLED", "PARTIALLY_FILLED", "REJECTED"):
        raise FxError(f"unknown execution status {status}")
    fills = [
        Fill(
            fill_id=f.fill_id or _missing("fill_id"),
            price=parse_decimal(f.price, "fill.price", positive=True),
            volume=parse_decimal(f.volume, "fill.volume", positive=True),
            book=convert.book_from_proto(f.book) or convert.book_from_proto(response.book),
            venue=f.venue or "BBOOK",
            fill_time=f.fill_time.ToDatetime(tzinfo=UTC)
            if f.HasField("fill_time")
            else datetime.now(UTC),
            venue_order_id=f.venue_order_id,
            venue_price=(
                parse_decimal(f.venue_price, "fill.venue_price", positive=True)
                if f.venue_price
                else None
            ),
        )
        for f in response.fills
    ]
    return Execution(
        status=status,
        book=convert.book_from_proto(response.book),
        routing_reason=response.routing_reason,
        fills=fills,
        reject_reason=response.reject_reason,
        reject_message=response.reject_message,
    )


def _missing(name: str) -> str:
    raise FxError(f"{name} is missing")
