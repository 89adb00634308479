"""Smart order router: decides A-, B- or C-book per order, records why, and executes (B in-process).

This is router's public face: what other packages, the benchmarks and tooling may import. Anything
else is an internal module; tests may import the modules they test. A newcomer starts at
``router/service.py`` (``RouterService``: Execute and ReconcileExecution), then
``router/rules.py`` (``route``: the rule engine, pure, its precedence in ``docs/routing.md``) and
``router/abook_desk.py`` (orders sent to the LPs through fixgw). The B-book is the ``bbook``
library, in this process. ``router/server.py`` wires it (``start_router``); ``python -m router``
runs it, or oms runs it in its own process (``oms/api/inprocess_router.py``).
"""

from __future__ import annotations

from router.config import RouterSettings
from router.domain import Book, ExecuteCommand, ExecuteResult, ReconcileCommand, RoutingRule
from router.repository import explanation_json
from router.rules import (
    AccountOverride,
    FlowThreshold,
    LpFallback,
    LpHealth,
    OverLimit,
    RoutingConfig,
    RoutingInputs,
    SymbolRouting,
    TraderStats,
    VolatilityThreshold,
    VolumeLimit,
    route,
)
from router.server import RouterApp, start_router
from router.service import PreparedHouseFill, RouterService

__all__ = [
    "AccountOverride",
    "Book",
    "ExecuteCommand",
    "ExecuteResult",
    "FlowThreshold",
    "LpFallback",
    "LpHealth",
    "OverLimit",
    "PreparedHouseFill",
    "ReconcileCommand",
    "RouterApp",
    "RouterService",
    "RouterSettings",
    "RoutingConfig",
    "RoutingInputs",
    "RoutingRule",
    "SymbolRouting",
    "TraderStats",
    "VolatilityThreshold",
    "VolumeLimit",
    "explanation_json",
    "route",
    "start_router",
]
