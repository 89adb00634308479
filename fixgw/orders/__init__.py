"""A-book orders at the LPs: attempts, report aggregation, reconciliation (fixgw's order book)."""

from fixgw.orders.domain import ExecuteCommand, OrderStatus, OrderView, Side
from fixgw.orders.manager import OrderManager, OrderSettings

__all__ = [
    "ExecuteCommand",
    "OrderManager",
    "OrderSettings",
    "OrderStatus",
    "OrderView",
    "Side",
]
