"""ExecuteOrderRequest.preferred_lps: the LPs named there are tried first, in that order, among
the symbol's LPs (two LP simulators over FIX 4.4, LP1 first in fixgw's list); an LP that is not
in the list is ignored (the fixtures of ``test_fixgw_orders``)."""

from __future__ import annotations

from decimal import Decimal

import test_fixgw_orders as _orders
from test_fixgw_orders import ASK2, Harness, S, StartFixgw, execute, execute_request, new_order_id

harness = _orders.harness
start_fixgw = _orders.start_fixgw


async def test_preferred_lp_when_second_in_the_list_then_tried_first_and_fills(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    _, stub = await start_fixgw()
    request = execute_request(new_order_id())
    request.preferred_lps.extend(["NOSUCHLP", "LP2"])

    execution = await execute(stub, request)

    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert [a.lp for a in execution.attempts] == ["LP2"]
    assert execution.fills[0].lp == "LP2"
    assert Decimal(execution.fills[0].price) == ASK2
