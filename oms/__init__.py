"""oms: the account of record (accounts, orders, positions, deals, ledger) as a gRPC service.

This is oms's public face: what other packages, the benchmarks and tooling may import. Anything
else is an internal module; tests may import the modules they test. The rooms, inside out:

* ``oms.domain``: pure model, commands and results, accounting, rules, validation, stop-out maths.
* ``oms.store``: asyncpg, one module per table owner (accounts, orders, positions and deals,
  ledger, outbox).
* ``oms.trading``: the account-locked unit of work and the use cases on it; ``OmsService`` is the
  one entry point to them.
* ``oms.triggers``: the trigger books, the watcher and its bridge to ``OmsService``.
* ``oms.api``: the gRPC servicer, the proto conversions and the router client.
* ``oms.server``: wiring (``OmsApp``); ``python -m oms`` runs it.
"""

from __future__ import annotations

from oms.config import OmsSettings
from oms.domain.model import (
    Account,
    AccountId,
    CloseReason,
    Order,
    OrderId,
    OrderStatus,
    OrderType,
    PositionId,
    Price,
    Side,
    SymbolSpec,
    closing_price,
    margin,
    profit,
)
from oms.domain.stopout import AccountRisk, RiskPosition, margin_level
from oms.server import BackgroundTask, OmsApp, rollover_task, watcher_task
from oms.trading.service import OmsService
from oms.triggers.book import ProtectedPosition, WorkingOrder
from oms.triggers.dispatch import TriggerActions, TriggerLoader, TriggerState, WatcherSettings
from oms.triggers.watcher import TriggerWatcher

__all__ = [
    "Account",
    "AccountId",
    "AccountRisk",
    "BackgroundTask",
    "CloseReason",
    "OmsApp",
    "OmsService",
    "OmsSettings",
    "Order",
    "OrderId",
    "OrderStatus",
    "OrderType",
    "PositionId",
    "Price",
    "ProtectedPosition",
    "RiskPosition",
    "Side",
    "SymbolSpec",
    "TriggerActions",
    "TriggerLoader",
    "TriggerState",
    "TriggerWatcher",
    "WatcherSettings",
    "WorkingOrder",
    "closing_price",
    "margin",
    "margin_level",
    "profit",
    "rollover_task",
    "watcher_task",
]
