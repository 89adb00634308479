"""Crash and timeout recovery of orders in flight, run by oms at start and then periodically.

An order left ACCEPTED or FILLING (a crash between committing it and settling its execution, or an
Execute whose answer never came) is settled from the router's final word: ``ReconcileExecution``
answers FILLED with the fills it booked (they are applied, once per venue fill id) or REJECTED
``NOT_EXECUTED`` after fencing the order id, so the order is REJECTED ``EXECUTION_UNAVAILABLE``
knowing that a late Execute can never fill it.

At start every in-flight order is reconciled before oms serves. Afterwards only orders unchanged
for longer than ``stuck_after`` (the router deadline plus a margin) are: a younger one may still
have a PlaceOrder waiting for its answer. The same pass expires pending orders whose GTD / DAY
expiry has passed (a safety net for the trigger watcher, which expires them on time).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from prometheus_client import Counter

from oms.store import orders as order_store
from oms.trading.execution import Executor
from oms.trading.orders import OrderDesk
from oms.trading.unit_of_work import UnitOfWork

log = structlog.stdlib.get_logger(__name__)

RECOVERED = Counter(
    "fxmesh_oms_recovered_orders_total",
    "In-flight orders settled by recovery, by final status.",
    ["status"],
)


class Recovery:
    def __init__(
        self,
        uow: UnitOfWork,
        executor: Executor,
        orders: OrderDesk,
        *,
        stuck_after: timedelta,
        interval_seconds: float,
    ) -> None:
        self._uow = uow
        self._executor = executor
        self._orders = orders
        self._stuck_after = stuck_after
        self._interval = interval_seconds

    async def run_once(self, *, everything: bool = False) -> int:
        """Reconcile in-flight orders (all of them, or those stuck) and expire due orders.

        Returns how many orders were settled. Stops early when the router cannot be reached: the
        rest waits for the next pass.
        """
        async with self._uow.pool.acquire() as conn:
            orders = await order_store.stuck(conn, None if everything else self._stuck_after)
        settled = 0
        for order in orders:
            outcome = await self._executor.reconcile(order)
            if outcome is None:
                log.warning("recovery_router_unavailable", pending=len(orders) - settled)
                break
            settled += 1
            RECOVERED.labels(outcome.order.status.value).inc()
            log.info(
                "order_recovered",
                order_id=order.order_id,
                status=outcome.order.status.value,
                reason=outcome.order.reject_reason,
                fills=len(outcome.deals),
            )
        expired = await self._orders.expire_due()
        if expired:
            log.info("orders_expired", count=expired)
        return settled

    async def run_forever(self) -> None:
        """The periodic pass; one failure is logged and the next pass runs as planned."""
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recovery_pass_failed")
