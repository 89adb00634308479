"""A symbol's priority LPs (admin's per-symbol rule) reach fixgw and are tried first, with a real
fixgw and two LP simulators over FIX 4.4 (the fixtures of ``test_router_abook``: LPA first in the
symbol's list, LPB second)."""

from __future__ import annotations

import asyncpg
import test_router_abook as _abook
from test_router_abook import BUY, FILLED, SYMBOL, Router, abook, lp_fill_rows

from fxmesh.v1 import router_pb2, types_pb2

lps = _abook.lps
fixgw = _abook.fixgw
router = _abook.router
db = _abook.db
group = _abook.group
_lp_defaults = _abook._lp_defaults


def _edit(**fields: object) -> router_pb2.ChangeRoutingConfigRequest:
    return router_pb2.ChangeRoutingConfigRequest(
        edits=[router_pb2.RoutingConfigEdit(**fields)], actor="tester"
    )


async def test_abook_when_symbol_prefers_lpb_then_the_next_order_fills_at_lpb_not_lpa(
    router: Router, group: str, db: asyncpg.Connection
) -> None:
    _, stub = router
    before = await stub.Execute(abook(group, BUY), timeout=10)
    # The symbol keeps the B-book as its own mode (the group's A-book rule has priority) and
    # names LPB as its priority LP.
    await stub.ChangeRoutingConfig(
        _edit(
            set_execution_mode=router_pb2.SetExecutionMode(
                symbol=SYMBOL, book=types_pb2.BOOK_B, preferred_lps=["LPB"]
            )
        ),
        timeout=10,
    )
    try:
        order = abook(group, BUY)
        after = await stub.Execute(order, timeout=10)
        config = await stub.GetRoutingConfig(router_pb2.GetRoutingConfigRequest(), timeout=10)
    finally:
        await stub.ChangeRoutingConfig(_edit(remove_symbol_mode=SYMBOL), timeout=10)

    assert [f.venue for f in before.fills] == ["LPA"]
    assert after.status == FILLED, after.reject_message
    assert (after.book, [f.venue for f in after.fills]) == (types_pb2.BOOK_A, ["LPB"])
    assert [r["lp"] for r in await lp_fill_rows(db, order.order.order_id)] == ["LPB"]
    stored = await db.fetchval(
        "SELECT preferred_lps FROM router.abook_orders WHERE order_id = $1", order.order.order_id
    )
    assert stored == ["LPB"]
    [symbol] = [s for s in config.config.symbols if s.symbol == SYMBOL]
    assert list(symbol.preferred_lps) == ["LPB"]
    # Removing the symbol's mode leaves no settings row behind (others insert their own).
    assert (
        await db.fetchval(
            "SELECT count(*) FROM router.routing_symbol_settings WHERE symbol = $1", SYMBOL
        )
        == 0
    )
