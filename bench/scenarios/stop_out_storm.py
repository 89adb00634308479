"""Scenario 5: stop-out storm of 10 000 accounts (oms's trigger watcher, in process).

The measurement is ``bench/stopout_storm.py`` (owned with oms's stop-out): detection and dispatch
when one gap tick puts every account below its stop-out level. This module runs it inside the
harness and reports a skip where that module does not exist yet.
"""

from __future__ import annotations

import importlib
from typing import Any

from bench.context import Context


async def run(ctx: Context) -> dict[str, Any]:
    try:
        impl = importlib.import_module("bench.stopout_storm")
    except ImportError:
        return {"skipped": "not built yet"}
    result: dict[str, Any] = await impl.run(ctx.quick)
    result.pop("scenario", None)
    result.pop("machine", None)
    errors = []
    if result.get("accounts_still_below"):
        errors.append(
            f"{result['accounts_still_below']} accounts still below stop-out after the storm"
        )
    return {"result": result, "errors": errors}
