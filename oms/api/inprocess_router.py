"""The router replica that runs in the oms process (``FXMESH_OMS_ROUTER_IN_PROCESS``).

While that replica leads, oms calls its service directly: a B-book order is routed, priced and
booked without a gRPC hop, without protobuf either way and without a second event loop. The A-book
path is unchanged past the router (its desk still calls fixgw over gRPC). While it stands by (another
replica leads), the calls go over gRPC to ``FXMESH_ROUTER_ADDR``, as without it.

The answers keep the gRPC client's contract (``oms.api.router_client.RouterClient``): an error, an
answer later than the deadline or a replica demoted mid-call is ``ExecutionUnavailable``, which oms
settles with ``reconcile``. A call past its deadline is not cancelled: the router finishes (or
rolls back) its own transaction, as a gRPC server would once the client gives up, and its outcome is
what ``reconcile`` reads.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import structlog

from bbook import Side
from fxmesh.db import Conn
from fxmesh.errors import FxError
from fxmesh.tracing import current_trace_id
from oms.api.router_client import RouterClient
from oms.domain.model import Order
from oms.domain.records import Fill
from oms.domain.results import CloseVenue, Execution
from oms.trading.unit_of_work import ExecutionUnavailable, HouseFill
from router import (
    Book,
    ExecuteCommand,
    ExecuteResult,
    PreparedHouseFill,
    ReconcileCommand,
    RouterService,
)

log = structlog.stdlib.get_logger(__name__)


class InProcessRouter:
    """oms's router (``oms.trading.unit_of_work.Router``): ``service`` while it leads, ``remote``
    otherwise."""

    def __init__(
        self, service: RouterService, remote: RouterClient, deadline_seconds: float
    ) -> None:
        self._service = service
        self._remote = remote
        self._deadline = deadline_seconds
        # Calls that outlived their caller's deadline, kept referenced until they end.
        self._late: set[asyncio.Task[ExecuteResult]] = set()

    @property
    def leads(self) -> bool:
        return self._service.epoch is not None

    @property
    def prepares(self) -> bool:
        return self.leads

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
        if not self.leads:
            return await self._remote.execute(
                order,
                client_group,
                max_price_deviation,
                contract_size,
                quote_to_usd_rate,
                limit_price,
                closing,
            )
        command = _command(
            order,
            client_group,
            max_price_deviation,
            contract_size,
            quote_to_usd_rate,
            limit_price,
            closing,
        )
        return await self._call("execute", self._service.execute(command, self._deadline))

    async def prepare(
        self,
        order: Order,
        client_group: str,
        max_price_deviation: Decimal | None,
        contract_size: Decimal,
        quote_to_usd_rate: Decimal,
        closing: CloseVenue | None = None,
    ) -> HouseFill | None:
        """The house's fill of a market order, priced here for oms to write in the transaction
        accepting the order (``RouterService.prepare_house_fill``); None while another replica
        leads, or when the order is not the house's to fill now."""
        if not self.leads:
            return None
        command = _command(
            order,
            client_group,
            max_price_deviation,
            contract_size,
            quote_to_usd_rate,
            order.limit_price,
            closing,
        )
        prepared = await self._service.prepare_house_fill(command)
        if prepared is None:
            return None
        try:
            return _HouseFill(self._service, prepared)
        except BaseException:  # reserved: unsettled, it would hold up its symbol's later fills
            self._service.house_fill_settled(prepared, False)
            raise

    async def reconcile(self, order: Order) -> Execution:
        if not self.leads:
            return await self._remote.reconcile(order)
        command = ReconcileCommand(
            order_id=str(order.order_id),
            account_id=str(order.account_id),
            trace_id=current_trace_id(),
        )
        return await self._call("reconcile", self._service.reconcile(command, self._deadline))

    async def _call(self, name: str, call: Any) -> Execution:
        task: asyncio.Task[ExecuteResult] = asyncio.ensure_future(call)
        try:
            # Shielded: neither the deadline nor the caller's cancellation interrupts the router
            # between its claim and its commit (as a gRPC server's handler would not be, once it
            # has the request: the outcome is recorded, and reconcile reads it).
            result = await asyncio.wait_for(asyncio.shield(task), self._deadline)
        except TimeoutError as exc:
            self._keep(task)
            log.warning("router_execute_failed", call=name, code="DEADLINE_EXCEEDED")
            raise ExecutionUnavailable("router: DEADLINE_EXCEEDED") from exc
        except asyncio.CancelledError:
            self._keep(task)
            raise
        except FxError as exc:
            # The same answer the gRPC client turns into ExecutionUnavailable (its status code).
            log.warning("router_execute_failed", call=name, code=exc.code.name, details=exc.message)
            raise ExecutionUnavailable(f"router: {exc.code.name}") from exc
        except Exception as exc:
            log.exception("router_execute_failed", call=name, code="INTERNAL")
            raise ExecutionUnavailable("router: INTERNAL") from exc
        return execution(result)

    def _keep(self, task: asyncio.Task[ExecuteResult]) -> None:
        self._late.add(task)
        task.add_done_callback(_forget(self._late))


def _command(
    order: Order,
    client_group: str,
    max_price_deviation: Decimal | None,
    contract_size: Decimal,
    quote_to_usd_rate: Decimal,
    limit_price: Decimal | None,
    closing: CloseVenue | None,
) -> ExecuteCommand:
    return ExecuteCommand(
        order_id=str(order.order_id),
        account_id=str(order.account_id),
        symbol=order.symbol,
        side=Side(order.side.value),
        volume=order.volume,
        client_group=client_group,
        contract_size=contract_size,
        quote_to_usd_rate=quote_to_usd_rate,
        requested_price=order.requested_price,
        max_price_deviation=max_price_deviation,
        limit_price=limit_price,
        trace_id=current_trace_id(),
        close_book=Book(closing.book) if closing and closing.book else None,
        close_venue=closing.venue if closing else "",
        # Every call of oms is an order's first: it commits the order FILLING (or writes the
        # house's fill with it), calls once and settles a lost answer with reconcile, never a
        # second Execute.
        first_attempt=True,
    )


class _HouseFill:
    """``oms.trading.unit_of_work.HouseFill`` of the router in this process."""

    def __init__(self, service: RouterService, prepared: PreparedHouseFill) -> None:
        self._service = service
        self._prepared = prepared
        self.execution = execution(prepared.result)

    async def write(self, conn: Conn) -> bool:
        return await self._service.write_house_fill(conn, self._prepared)

    def settle(self, committed: bool) -> None:
        self._service.house_fill_settled(self._prepared, committed)


def _forget(late: set[asyncio.Task[ExecuteResult]]) -> Any:
    def done(task: asyncio.Task[ExecuteResult]) -> None:
        late.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("router_late_call_failed", error=repr(task.exception()))

    return done


def execution(result: ExecuteResult) -> Execution:
    """The router's answer as oms's record of it (what the gRPC client reads off ExecuteResponse)."""
    book = result.book.value if result.book is not None else None
    return Execution(
        status=result.status.value,
        book=book,
        routing_reason=result.routing_reason,
        fills=[
            Fill(
                fill_id=f.fill_id,
                price=f.price,
                volume=f.volume,
                book=f.book.value,
                venue=f.venue,
                fill_time=f.fill_time,
                venue_order_id=f.venue_order_id,
                venue_price=f.venue_price,
            )
            for f in result.fills
        ],
        reject_reason=result.reject_reason,
        reject_message=result.reject_message,
    )
