"""The payloads of the events oms publishes, from its domain objects.

The types and their keys are defined in ``fxmesh.eventtypes`` (camelCase, decimal strings, ISO UTC
times); here they are filled. Use cases build them inside their transaction (``Tx.emit``) and the
outbox relays them as written; edge forwards them to the account's WebSocket connections unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from fxmesh.eventtypes import (
    AccountData,
    FillData,
    MarginCallData,
    OrderData,
    OrderFilledData,
    OrderRejectedData,
    PositionData,
)
from fxmesh.money import fmt
from oms.domain.model import Account, AccountFigures, Order
from oms.domain.records import DealRow, Fill, PositionRow
from oms.domain.results import PositionView

__all__ = [
    "account_json",
    "deal_json",
    "fill_json",
    "margin_call_json",
    "order_filled_json",
    "order_json",
    "order_rejected_json",
    "position_json",
]


def _iso(value: datetime | None) -> str:
    return value.isoformat().replace("+00:00", "Z") if value else ""


def order_json(order: Order) -> OrderData:
    return {
        "orderId": str(order.order_id or ""),
        "accountId": str(order.account_id),
        "clientOrderId": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "timeInForce": order.time_in_force.value,
        "volume": fmt(order.volume),
        "filledVolume": fmt(order.filled_volume),
        "price": fmt(order.price),
        "requestedPrice": fmt(order.requested_price),
        "deviationPoints": order.deviation_points,
        "averageFillPrice": fmt(order.avg_fill_price),
        "status": order.status.value,
        "rejectReason": order.reject_reason or "",
        "rejectMessage": order.reject_message or "",
        "book": order.book or "",
        "stopLoss": fmt(order.stop_loss),
        "takeProfit": fmt(order.take_profit),
        "stopLimitPrice": fmt(order.stop_limit_price),
        "stopLimitActive": order.stop_limit_active,
        "expireTime": _iso(order.expire_at),
        "positionId": str(order.position_id or ""),
        "origin": order.origin.value,
        "createTime": _iso(order.created_at),
        "updateTime": _iso(order.updated_at),
    }


def fill_json(fill: Fill) -> FillData:
    return {
        "fillId": fill.fill_id,
        "price": fmt(fill.price),
        "volume": fmt(fill.volume),
        "book": fill.book or "",
        "venue": fill.venue,
        "fillTime": _iso(fill.fill_time),
    }


def position_json(p: PositionRow, view: PositionView | None = None) -> PositionData:
    """A position's event JSON, open or closed; ``view`` adds its current mark."""
    return {
        "positionId": str(p.position_id),
        "accountId": str(p.account_id),
        "symbol": p.symbol,
        "side": p.side.value,
        "volume": fmt(p.volume),
        "openPrice": fmt(p.open_price),
        "stopLoss": fmt(p.stop_loss),
        "takeProfit": fmt(p.take_profit),
        "trailingDistancePoints": p.trailing_distance_points,
        "trailingStepPoints": p.trailing_step_points,
        "commission": fmt(p.commission),
        "swap": fmt(p.swap),
        "realizedPnl": fmt(p.realized_pnl),
        "openTime": _iso(p.opened_at),
        "orderId": str(p.open_order_id),
        "state": "OPEN" if p.is_open else "CLOSED",
        "closePrice": fmt(p.close_price),
        "closeTime": _iso(p.closed_at),
        "closeReason": p.close_reason.value if p.close_reason else "",
        "currentPrice": fmt(view.current_price) if view and p.is_open else "",
        "profit": fmt(view.profit) if view and p.is_open else "",
    }


def deal_json(d: DealRow) -> dict[str, Any]:
    """A deal's JSON (no event carries deals today)."""
    return {
        "dealId": str(d.deal_id),
        "orderId": str(d.order_id or ""),
        "positionId": str(d.position_id),
        "symbol": d.symbol,
        "side": d.side.value,
        "entry": d.entry.value,
        "volume": fmt(d.volume),
        "price": fmt(d.price),
        "commission": fmt(d.commission),
        "realizedPnl": fmt(d.realized_pnl),
        "venue": d.venue,
        "reason": d.reason.value,
        "dealTime": _iso(d.deal_time),
    }


def account_json(account: Account, fig: AccountFigures, reason: str) -> AccountData:
    """The ``account_update`` event: balance and live figures in the account currency."""
    return {
        "accountId": str(account.account_id),
        "currency": account.currency,
        "balance": fmt(fig.balance),
        "equity": fmt(fig.equity),
        "margin": fmt(fig.margin),
        "freeMargin": fmt(fig.free_margin),
        "marginLevel": fmt(fig.margin_level),
        "unrealizedPnl": fmt(fig.unrealized_pnl),
        "reason": reason,
    }


def margin_call_json(account: Account, fig: AccountFigures, raised: bool) -> MarginCallData:
    """The ``margin_call`` (``raised``) or ``margin_call_cleared`` event: figures and levels."""
    return {
        **account_json(account, fig, "MARGIN_CALL" if raised else "MARGIN_RESTORED"),
        "marginCallLevel": str(account.margin_call_level),
        "stopOutLevel": str(account.stop_out_level),
    }


def order_filled_json(
    order: Order, fills: Iterable[Fill], positions: Iterable[PositionRow]
) -> OrderFilledData:
    """The ``order_filled`` event: the order, the fills applied now, the positions they touched."""
    return {
        "order": order_json(order),
        "fills": [fill_json(f) for f in fills],
        "positions": [position_json(p) for p in positions],
    }


def order_rejected_json(order: Order) -> OrderRejectedData:
    return {"order": order_json(order)}
