"""The scenarios: one module each (``async def run(ctx) -> dict``) and one entry here.

To add a scenario: write ``bench/scenarios/<name>.py`` with ``run`` returning its part of the JSON
document (``series`` of rate steps for the plot and table, ``targets``, anything else; or
``{"skipped": why}``), then add a ``Scenario`` line below naming the floor groups it compares with.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    module: str
    needs_stack: bool
    floor_groups: tuple[str, ...]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        "market_bbook",
        "1. Market order, B-book: edge REST -> oms -> router -> bbook -> committed -> response",
        "bench.scenarios.market_bbook",
        True,
        ("http", "grpc", "pg", "redis"),
    ),
    Scenario(
        "market_abook",
        "2. Market order, A-book: edge REST -> oms -> router -> fixgw -> LP simulator and back",
        "bench.scenarios.market_abook",
        True,
        ("http", "grpc", "pg", "redis", "quickfix"),
    ),
    Scenario(
        "quote_ws",
        "3. Quote path: LP simulator FIX -> fixgw -> quotes -> Redis -> edge WebSocket clients",
        "bench.scenarios.quote_ws",
        True,
        ("redis", "ws"),
    ),
    Scenario(
        "trigger_scan",
        "4. Trigger scan with 100 000 pending orders",
        "bench.scenarios.trigger_scan",
        False,
        (),
    ),
    Scenario(
        "stop_out_storm",
        "5. Stop-out storm of 10 000 accounts",
        "bench.scenarios.stop_out_storm",
        True,
        (),
    ),
    Scenario(
        "quotes_pipeline",
        "6. Quotes pipeline in process: validation -> markup -> Redis -> tick store; candle read",
        "bench.scenarios.quotes_pipeline",
        False,
        ("redis",),
    ),
    Scenario(
        "routing_decision",
        "7. Routing decision in process with 10 to 10 000 rules and every input",
        "bench.scenarios.routing_decision",
        False,
        (),
    ),
)

BY_NAME = {s.name: s for s in SCENARIOS}
FLOORS = "floors"  # pseudo-scenario: every floor group, no stack
