"""The LP simulator over real FIX 4.4 sessions on loopback (a bare QuickFIX initiator drives it)."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

import httpx
import quickfix as fix
import quickfix44 as fix44
from fixgw_harness import WAIT, BareInitiator, FixMsg, until

from fixgw.fixmsg import market_data_request, set_str
from fixgw.lpsim.http import create_app
from fixgw.lpsim.simulator import LpSimulator

_ids = itertools.count(1)


def new_order(
    symbol: str, side: str, qty: str, ord_type: str = "1", price: str | None = None, tif: str = "3"
) -> tuple[str, fix.Message]:
    cl_ord_id = f"T{next(_ids)}"
    msg = fix44.NewOrderSingle()
    set_str(msg, 11, cl_ord_id)
    set_str(msg, 55, symbol)
    set_str(msg, 54, side)
    set_str(msg, 38, qty)
    set_str(msg, 40, ord_type)
    set_str(msg, 59, tif)
    set_str(msg, 60, "20250101-00:00:00.000")
    if price is not None:
        set_str(msg, 44, price)
    return cl_ord_id, msg


def for_order(cl_ord_id: str, exec_type: str) -> object:
    return lambda m: m.first(11) == cl_ord_id and m.first(150) == exec_type


def prices(msg: FixMsg) -> dict[str, Decimal]:
    """Entry type -> Decimal price, read from the wire strings."""
    return {t: Decimal(p) for t, p in zip(msg.all(269), msg.all(270), strict=True)}


async def test_subscribe_when_symbol_known_then_snapshot_then_incremental_updates(
    fix_client: BareInitiator,
) -> None:
    # Act
    fix_client.send(market_data_request("md-1", "EURUSD"))

    # Assert
    snapshot = await fix_client.expect("W")
    assert snapshot.first(55) == "EURUSD"
    snap = prices(snapshot)
    assert snap["0"] < snap["1"]
    assert snap["1"] - snap["0"] == Decimal("0.00002")
    update = await fix_client.expect("X")
    assert update.first(262) == "md-1"
    assert set(update.all(55)) == {"EURUSD"}
    upd = prices(update)
    assert upd["0"] < upd["1"]
    assert upd["0"].as_tuple().exponent == -5


async def test_subscribe_when_symbol_unknown_then_market_data_request_reject(
    fix_client: BareInitiator,
) -> None:
    fix_client.send(market_data_request("md-bad", "NOPE"))

    reject = await fix_client.expect("Y")

    assert reject.first(262) == "md-bad"
    assert reject.first(281) == "0"


async def test_unsubscribe_when_streaming_then_simulator_drops_subscription(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    fix_client.send(market_data_request("md-u", "GBPUSD"))
    await fix_client.expect("X", lambda m: m.first(262) == "md-u")

    assert lpsim.state()["sessions"][0]["subscriptions"] == ["GBPUSD"]

    fix_client.send(market_data_request("md-u", "GBPUSD", subscribe=False))
    await asyncio.wait_for(until(lambda: not lpsim.state()["sessions"][0]["subscriptions"]), WAIT)

    assert lpsim.state()["sessions"][0]["subscriptions"] == []


async def test_market_buy_when_price_set_then_new_then_fill_at_exact_ask(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    # Arrange
    lpsim.update_config(walk=False)
    lpsim.set_price("EURUSD", Decimal("1.10001"), Decimal("1.10013"))

    # Act
    cl_ord_id, order = new_order("EURUSD", "1", "100000")
    fix_client.send(order)

    # Assert
    new = await fix_client.expect("8", for_order(cl_ord_id, "0"))
    assert new.first(39) == "0"
    fill = await fix_client.expect("8", for_order(cl_ord_id, "F"))
    assert Decimal(fill.first(31) or "") == Decimal("1.10013")
    assert fill.first(31) == "1.10013"
    assert fill.first(32) == "100000"
    assert fill.first(14) == "100000"
    assert fill.first(151) == "0"
    assert fill.first(39) == "2"
    assert fill.first(17) != new.first(17)


async def test_market_sell_when_price_set_then_fills_at_bid(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    lpsim.update_config(walk=False)
    lpsim.set_price("XAUUSD", Decimal("2600.10"), Decimal("2600.30"))

    cl_ord_id, order = new_order("XAUUSD", "2", "10")
    fix_client.send(order)

    fill = await fix_client.expect("8", for_order(cl_ord_id, "F"))
    assert fill.first(31) == "2600.10"


async def test_order_when_reject_rate_is_one_then_rejected_with_reason(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    lpsim.update_config(reject_rate=1.0)

    cl_ord_id, order = new_order("EURUSD", "1", "1000")
    fix_client.send(order)

    rejected = await fix_client.expect("8", for_order(cl_ord_id, "8"))
    assert rejected.first(39) == "8"
    assert rejected.first(103) == "99"
    assert rejected.first(58) == "simulated reject"


async def test_order_when_partial_fills_configured_then_fills_sum_to_quantity(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    lpsim.update_config(partial_fills=3)

    cl_ord_id, order = new_order("USDJPY", "1", "100000")
    fix_client.send(order)

    fills = [await fix_client.expect("8", for_order(cl_ord_id, "F")) for _ in range(3)]
    quantities = [Decimal(f.first(32) or "") for f in fills]
    assert sum(quantities) == Decimal(100000)
    assert [f.first(39) for f in fills] == ["1", "1", "2"]
    assert fills[-1].first(14) == "100000"
    assert len({f.first(17) for f in fills}) == 3


async def test_limit_ioc_when_not_marketable_then_cancelled(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    lpsim.update_config(walk=False)
    lpsim.set_price("EURUSD", Decimal("1.10001"), Decimal("1.10003"))

    cl_ord_id, order = new_order("EURUSD", "1", "1000", ord_type="2", price="1.09000", tif="3")
    fix_client.send(order)

    cancelled = await fix_client.expect("8", for_order(cl_ord_id, "4"))
    assert cancelled.first(39) == "4"


async def test_cancel_when_limit_resting_then_cancel_ack_and_unknown_then_cancel_reject(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    lpsim.update_config(walk=False)
    lpsim.set_price("EURUSD", Decimal("1.10001"), Decimal("1.10003"))
    cl_ord_id, order = new_order("EURUSD", "1", "1000", ord_type="2", price="1.09000", tif="1")
    fix_client.send(order)
    await fix_client.expect("8", for_order(cl_ord_id, "0"))

    def cancel(orig: str) -> tuple[str, fix.Message]:
        cxl_id = f"C{next(_ids)}"
        msg = fix44.OrderCancelRequest()
        set_str(msg, 11, cxl_id)
        set_str(msg, 41, orig)
        set_str(msg, 55, "EURUSD")
        set_str(msg, 54, "1")
        set_str(msg, 60, "20250101-00:00:00.000")
        return cxl_id, msg

    cxl_id, msg = cancel(cl_ord_id)
    fix_client.send(msg)
    ack = await fix_client.expect("8", for_order(cxl_id, "4"))
    assert ack.first(41) == cl_ord_id

    cxl_id2, msg2 = cancel("never-sent")
    fix_client.send(msg2)
    reject = await fix_client.expect("9", lambda m: m.first(11) == cxl_id2)
    assert reject.first(102) == "1"


async def test_put_price_when_walk_frozen_then_next_tick_and_fill_use_that_price(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    # Arrange: the control HTTP API, in-process
    transport = httpx.ASGITransport(app=create_app(lpsim))
    async with httpx.AsyncClient(transport=transport, base_url="http://lpsim") as http:
        resp = await http.put("/config", json={"walk": False})
        assert resp.status_code == 200
        fix_client.send(market_data_request("md-p", "EURUSD"))
        await fix_client.expect("W")

        # Act
        resp = await http.put("/prices/EURUSD", json={"bid": "1.23450", "ask": "1.23470"})
        assert resp.status_code == 200

        # Assert
        tick = await fix_client.expect("X", lambda m: m.all(270) == ["1.23450", "1.23470"])
        assert prices(tick) == {"0": Decimal("1.23450"), "1": Decimal("1.23470")}
        nxt = await fix_client.expect("X")
        assert nxt.all(270) == ["1.23450", "1.23470"]
        cl_ord_id, order = new_order("EURUSD", "1", "1000")
        fix_client.send(order)
        fill = await fix_client.expect("8", for_order(cl_ord_id, "F"))
        assert fill.first(31) == "1.23470"

        state = (await http.get("/state")).json()
        assert state["prices"]["EURUSD"] == {"bid": "1.23450", "ask": "1.23470"}
        assert state["sessions"][0]["loggedOn"] is True
        assert (await http.put("/prices/NOPE", json={"bid": "1", "ask": "2"})).status_code == 404
        assert (await http.put("/prices/EURUSD", json={"bid": "x", "ask": "2"})).status_code == 422
        metrics = (await http.get("/metrics")).text
        assert "fxmesh_lpsim_orders_total" in metrics


async def test_disconnect_when_logged_on_then_initiator_logs_on_again(
    fix_client: BareInitiator, lpsim: LpSimulator
) -> None:
    assert lpsim.disconnect() == 1

    await asyncio.wait_for(until(lambda: not fix_client.logged_on.is_set()), WAIT)
    await asyncio.wait_for(fix_client.logged_on.wait(), WAIT)

    fix_client.send(market_data_request("md-again", "EURUSD"))
    await fix_client.expect("W")
