"""Orders: place (market and pending), modify, cancel, list; trigger, activate and expire pending
orders for the trigger watcher.

A market order commits ACCEPTED -> FILLING (its transitions recorded) before it goes to the router,
so a crash at any point leaves an order recovery can settle. A pending order commits
ACCEPTED -> WORKING and waits; when its price is reached (``trigger_order``) it is checked again
(account, margin, limits), goes FILLING and executes like a market order, a LIMIT or an active
STOP_LIMIT with its limit as the worst acceptable price. DAY orders expire at the UTC midnight
that ends the day they were placed; GTD orders at their expire time.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta

from prometheus_client import Counter, Histogram

from fxmesh.errors import FailedPrecondition, InvalidArgument, NotFound
from fxmesh.eventtypes import EventType
from fxmesh.logs import note_outcome
from fxmesh.metrics import LATENCY_BUCKETS
from fxmesh.money import ZERO
from fxmesh.reasons import Reason
from oms.domain import accounting
from oms.domain.commands import KEEP, Keep, ListOrdersQuery, ModifyOrderCommand, PlaceOrderCommand
from oms.domain.events import order_rejected_json
from oms.domain.model import (
    Account,
    AccountId,
    Order,
    OrderId,
    OrderStatus,
    OrderTrigger,
    OrderType,
    Price,
    SymbolSpec,
    TimeInForce,
)
from oms.domain.paging import encode_token
from oms.domain.records import Fill
from oms.domain.results import PlaceResult
from oms.domain.rules import end_of_day, pending_action
from oms.domain.settings import limit_account
from oms.domain.validation import (
    Exposure,
    check_precision,
    validate_modify_order,
    validate_order,
    validate_triggered,
)
from oms.store import orders as order_store
from oms.store import positions as position_store
from oms.trading import fills
from oms.trading.execution import Executor
from oms.trading.unit_of_work import BOOK_FIRST, Tx, UnitOfWork, mark_views

ORDERS = Counter(
    "fxmesh_oms_orders_total", "Orders placed, by type and final status.", ["type", "status"]
)
ORDER_LATENCY = Histogram(
    "fxmesh_oms_order_latency_seconds",
    "PlaceOrder time from request to final status (execution included).",
    buckets=LATENCY_BUCKETS,
)


async def exposure(tx: Tx, account: Account, prices: dict[str, Price], now: datetime) -> Exposure:
    """What the locked account holds now, for limits and the margin check.

    ``account``: the account as the order is checked (``limit_account``); the lots opened today
    are read only when it has a daily maximum (the only check that uses them), one statement
    less per order otherwise."""
    account_id = tx.account.account_id
    positions, orders = tx.book_now() or await position_store.open_book(tx.conn, account_id)
    in_flight = [o for o in orders if o.position_id is None]
    today = ZERO
    if account.max_daily_volume is not None:
        day = now.replace(hour=0, minute=0, second=0, microsecond=0)
        today = await order_store.volume_opened(tx.conn, account_id, day, day + timedelta(days=1))
    return Exposure(
        positions=tuple(p.as_open() for p in positions),
        in_flight=tuple(accounting.order_legs(in_flight, prices, strict=False)),
        volume_today=today,
    )


def order_not_found(order_id: OrderId) -> NotFound:
    return NotFound(
        f"order {order_id} not found",
        reason=Reason.ORDER_NOT_FOUND,
        metadata={"order_id": str(order_id)},
    )


class OrderDesk:
    """Order use cases over one ``UnitOfWork``."""

    def __init__(self, uow: UnitOfWork, executor: Executor) -> None:
        self._uow = uow
        self._executor = executor

    # --- PlaceOrder ------------------------------------------------------------------------------

    async def place_order(self, cmd: PlaceOrderCommand) -> PlaceResult:
        started = time.perf_counter()
        result = await self._place(cmd)
        if not result.replayed:
            ORDER_LATENCY.observe(time.perf_counter() - started)
            ORDERS.labels(result.order.type.value, result.order.status.value).inc()
        order = result.order
        note_outcome(
            order_id=order.order_id,
            status=order.status.value,
            reject_reason=order.reject_reason,
            book=order.book,
            routing_reason=order.routing_reason,
            replayed=result.replayed,
        )
        return result

    async def _place(self, cmd: PlaceOrderCommand) -> PlaceResult:
        symbols, prices = await self._uow.market()
        spec = symbols.get(cmd.symbol)
        now = self._uow.now()
        if spec is not None:
            # Before the transaction: a request's own mistakes are refused without one (and do
            # not roll back the other orders committing with it).
            check_precision(
                spec,
                {
                    "requested_price": cmd.requested_price,
                    "price": cmd.price,
                    "stop_limit_price": cmd.stop_limit_price,
                    "stop_loss": cmd.stop_loss,
                    "take_profit": cmd.take_profit,
                },
            )

        async def accept(tx: Tx) -> tuple[Order, Account, fills.Booked | None] | PlaceResult:
            # A retry is found by the insert below (its client order id exists) and replayed:
            # no lookup first, one round trip less for every new order.
            order = Order(
                account_id=cmd.account_id,
                client_order_id=cmd.client_order_id,
                symbol=cmd.symbol,
                side=cmd.side,
                type=cmd.type,
                time_in_force=cmd.time_in_force,
                volume=cmd.volume,
                requested_price=cmd.requested_price,
                price=cmd.price,
                deviation_points=cmd.deviation_points
                or (spec.default_deviation_points if spec else 0),
                stop_loss=cmd.stop_loss,
                take_profit=cmd.take_profit,
                stop_limit_price=cmd.stop_limit_price,
                expire_at=cmd.expire_at,
                magic=cmd.magic,
                comment=cmd.comment,
            )
            limits = self._uow.risk.effective(tx.account.client_group)
            checked = limit_account(tx.account, limits)
            held = await exposure(tx, checked, prices, now)
            problem = validate_order(
                checked,
                order,
                spec,
                held,
                symbols,
                prices,
                now,
                limits.max_position_size,
            )
            if problem is not None:
                order.reject(problem.code, problem.message)
            elif order.is_pending_type:
                order.accept()
                if order.time_in_force is TimeInForce.DAY:
                    order.expire_at = end_of_day(now)
                order.apply(OrderTrigger.PARK)
            else:
                order.accept()
                order.apply(OrderTrigger.SUBMIT)
            if not await tx.insert_order(order):  # a retry, or lost a race on the same key
                again = await order_store.find_by_client_id(
                    tx.conn, cmd.account_id, cmd.client_order_id
                )
                assert again is not None
                return await self._replay(tx, again, symbols, prices)
            if order.status is OrderStatus.REJECTED:
                tx.emit(EventType.ORDER_REJECTED, order_rejected_json(order))
            account = tx.account
            if order.status is OrderStatus.FILLING:
                assert spec is not None
                booked = await self._executor.fill_in_house(tx, order, spec, symbols, prices)
                return order, account, booked
            return order, account, None

        accepted = await self._uow.grouped(cmd.account_id, accept, first_read=BOOK_FIRST)
        if isinstance(accepted, PlaceResult):
            return accepted
        order, account, booked = accepted
        if booked is not None:
            return PlaceResult(
                order,
                [Fill.of(d) for d in booked.deals],
                mark_views(account, booked.positions, symbols, prices),
                replayed=False,
                deals=list(booked.deals),
            )
        if order.status is not OrderStatus.FILLING:
            return PlaceResult(order, [], [], replayed=False)
        assert spec is not None
        outcome = await self._executor.execute(order, account, spec, prices)
        views = mark_views(account, outcome.positions, symbols, prices)
        return PlaceResult(
            outcome.order,
            [Fill.of(d) for d in outcome.deals],
            views,
            replayed=False,
            deals=list(outcome.deals),
        )

    async def _replay(
        self, tx: Tx, order: Order, symbols: dict[str, SymbolSpec], prices: dict[str, Price]
    ) -> PlaceResult:
        booked = await fills.replay(tx.conn, order)
        views = mark_views(tx.account, booked.positions, symbols, prices)
        return PlaceResult(order, booked.fills, views, replayed=True, deals=list(booked.deals))

    # --- ModifyOrder / CancelOrder ---------------------------------------------------------------

    async def modify_order(self, cmd: ModifyOrderCommand) -> Order:
        if cmd.changes_nothing:
            raise InvalidArgument("the request changes nothing", reason=Reason.NO_CHANGES)
        symbols, prices = await self._uow.market()
        now = self._uow.now()
        async with self._uow.locked(cmd.account_id) as tx:
            order = await order_store.get(tx.conn, cmd.account_id, cmd.order_id)
            if order is None:
                raise order_not_found(cmd.order_id)
            if order.status is not OrderStatus.WORKING:
                raise FailedPrecondition(
                    f"order {cmd.order_id} is {order.status.value}: only working orders change",
                    reason=Reason.ORDER_NOT_MODIFIABLE,
                    metadata={"status": order.status.value},
                )
            changed = _modified(order, cmd)
            spec = symbols[order.symbol]
            check_precision(
                spec,
                {
                    "price": changed.price,
                    "stop_limit_price": changed.stop_limit_price,
                    "stop_loss": changed.stop_loss,
                    "take_profit": changed.take_profit,
                },
            )
            if cmd.expire_at is not None and order.time_in_force is not TimeInForce.GTD:
                raise FailedPrecondition(
                    f"only a GTD order has an expire time, not {order.time_in_force.value}",
                    reason=Reason.INVALID_EXPIRATION,
                )
            problem = validate_modify_order(changed, spec, prices.get(order.symbol), now)
            if problem is not None:
                raise FailedPrecondition(problem.message, reason=problem.code)
            for name in ("price", "stop_limit_price", "stop_loss", "take_profit", "expire_at"):
                setattr(order, name, getattr(changed, name))
            order.apply(OrderTrigger.MODIFY, "MODIFIED")
            await tx.save_order(order)
        return order

    async def cancel_order(self, account_id: AccountId, order_id: OrderId) -> Order:
        async with self._uow.locked(account_id) as tx:
            order = await order_store.get(tx.conn, account_id, order_id)
            if order is None:
                raise order_not_found(order_id)
            if order.status is not OrderStatus.WORKING:
                raise FailedPrecondition(
                    f"order {order_id} is {order.status.value}: only working orders are cancelled",
                    reason=Reason.ORDER_NOT_CANCELLABLE,
                    metadata={"status": order.status.value},
                )
            order.cancel("CLIENT_CANCELLED", "cancelled by the client")
            await tx.save_order(order)
        return order

    # --- reads -----------------------------------------------------------------------------------

    async def get_order(self, account_id: AccountId, order_id: OrderId) -> Order:
        async with self._uow.pool.acquire() as conn:
            order = await order_store.get(conn, account_id, order_id)
        if order is None:
            raise order_not_found(order_id)
        return order

    async def list_orders(self, query: ListOrdersQuery) -> tuple[list[Order], str]:
        """A page of orders, newest first, and the next page's token ("" on the last page)."""
        async with self._uow.pool.acquire() as conn:
            orders = await order_store.page(
                conn,
                query.account_id,
                open_only=not query.history,
                since=query.since if query.history else None,
                until=query.until if query.history else None,
                after=query.after,
                limit=query.size,
            )
        token = ""
        if len(orders) == query.size:
            last = orders[-1]
            assert last.created_at is not None
            assert last.order_id is not None
            token = encode_token((last.created_at, last.order_id))
        return orders, token

    # --- actions for the trigger watcher ---------------------------------------------------------

    async def trigger_order(self, order_id: OrderId, quote: Price) -> Order | None:
        """A working order's price was reached at ``quote``: execute it (a stop-limit whose stop
        was reached is activated instead). The order after the action; None if unknown."""
        found = await self._find(order_id)
        if found is None:
            return None
        symbols, prices = await self._uow.market((found.symbol, quote))
        async with self._uow.locked(found.account_id) as tx:
            order = await order_store.get(tx.conn, found.account_id, order_id)
            assert order is not None
            now = self._uow.now()
            if order.status is OrderStatus.WORKING and _due(order, now):
                _expire(order)  # its time ran out before its price came
                await tx.save_order(order)
                return order
            action = pending_action(order, quote)
            if action is OrderTrigger.ACTIVATE:
                order.activate()
                await tx.save_order(order)
                return order
            if action is not OrderTrigger.TRIGGER:
                return order
            order.apply(OrderTrigger.TRIGGER, "PRICE_REACHED")
            spec = symbols.get(order.symbol)
            limits = self._uow.risk.effective(tx.account.client_group)
            checked = limit_account(tx.account, limits)
            held = await exposure(tx, checked, prices, now)
            problem = validate_triggered(
                checked,
                order,
                spec,
                held,
                symbols,
                prices,
                limits.max_position_size,
            )
            if problem is not None:
                order.reject(problem.code, problem.message)
                await tx.save_order(order)
                tx.emit(EventType.ORDER_REJECTED, order_rejected_json(order))
                return order
            await tx.save_order(order)
            account = tx.account
            assert spec is not None
            if await self._executor.fill_in_house(tx, order, spec, symbols, prices) is not None:
                return order
        outcome = await self._executor.execute(order, account, spec, prices)
        return outcome.order

    async def activate_stop_limit(self, order_id: OrderId, quote: Price) -> Order | None:
        """A stop-limit's stop price was reached at ``quote``: it works as a limit from now on."""
        found = await self._find(order_id)
        if found is None:
            return None
        async with self._uow.locked(found.account_id) as tx:
            order = await order_store.get(tx.conn, found.account_id, order_id)
            assert order is not None
            if pending_action(order, quote) is OrderTrigger.ACTIVATE:
                order.activate()
                await tx.save_order(order)
        return order

    async def expire_order(self, order_id: OrderId) -> Order | None:
        """Expire a working GTD / DAY order whose expiry has come (else leave it as it is)."""
        found = await self._find(order_id)
        if found is None:
            return None
        now = self._uow.now()
        async with self._uow.locked(found.account_id) as tx:
            order = await order_store.get(tx.conn, found.account_id, order_id)
            assert order is not None
            if order.status is OrderStatus.WORKING and _due(order, now):
                _expire(order)
                await tx.save_order(order)
        return order

    async def expire_due(self) -> int:
        """Expire every working order whose expiry has passed; how many were expired."""
        async with self._uow.pool.acquire() as conn:
            due = await order_store.due_expiries(conn, self._uow.now())
        count = 0
        for _, order_id in due:
            order = await self.expire_order(order_id)
            count += order is not None and order.status is OrderStatus.EXPIRED
        return count

    async def _find(self, order_id: OrderId) -> Order | None:
        async with self._uow.pool.acquire() as conn:
            account_id = await order_store.account_of(conn, order_id)
            if account_id is None:
                return None
            return await order_store.get(conn, account_id, order_id)


def _due(order: Order, now: datetime) -> bool:
    return order.expire_at is not None and order.expire_at <= now


def _expire(order: Order) -> None:
    kind = "end of day" if order.time_in_force is TimeInForce.DAY else "expire time"
    order.expire("ORDER_EXPIRED", f"the order reached its {kind} {order.expire_at}")


def _modified(order: Order, cmd: ModifyOrderCommand) -> Order:
    """A copy of ``order`` with the request's changes (KEEP leaves a field as it is)."""
    if order.stop_limit_active and not isinstance(cmd.price, Keep) and cmd.price != order.price:
        raise FailedPrecondition(
            "the stop price of an activated stop-limit order cannot change",
            reason=Reason.ORDER_NOT_MODIFIABLE,
        )
    if order.type is not OrderType.STOP_LIMIT and cmd.stop_limit_price is not KEEP:
        raise InvalidArgument(
            "only a STOP_LIMIT order has a stop_limit_price",
            reason=Reason.INVALID_FIELD,
            metadata={"field": "stop_limit_price"},
        )
    changes: dict[str, object] = {}
    for name in ("price", "stop_limit_price", "stop_loss", "take_profit"):
        value = getattr(cmd, name)
        if not isinstance(value, Keep):
            changes[name] = value
    if cmd.expire_at is not None:
        changes["expire_at"] = cmd.expire_at
    return replace(order, unsaved=[], **changes)  # type: ignore[arg-type]
