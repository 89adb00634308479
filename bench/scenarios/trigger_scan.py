"""Scenario 4: trigger scan with 100 000 pending orders (oms's trigger watcher, in process).

The measurement is ``bench/trigger_scan.py`` (owned with oms's trigger books): the cost of a tick
with 100 000 armed entries against a tick with none. This module runs it inside the harness and
reports a skip where that module does not exist yet.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.context import Context


async def run(ctx: Context) -> dict[str, Any]:
    try:
        impl = importlib.import_module("bench.trigger_scan")
    except ImportError:
        return {"skipped": "not built yet"}
    result: dict[str, Any] = await impl.run(ctx.quick)
    result.pop("scenario", None)
    result.pop("machine", None)
    met = result.get("target_met")
    return {
        "result": result,
        "targets": [
            {
                "target": result.get(
                    "target", "a tick with 100 000 entries costs < 2x one with none"
                ),
                "limit": "2.0",
                "measured": result.get("ratio_full_to_empty"),
                "pass": None if ctx.quick or met is None else bool(met),
            }
        ],
        "errors": [],
    }
