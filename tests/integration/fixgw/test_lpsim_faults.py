"""The LP simulator's faults and dialects over real FIX 4.4 sessions on loopback.

Each test drives one knob through the control HTTP API (in-process) and watches what a bare
QuickFIX initiator receives.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixgw_harness import (
    WAIT,
    BareInitiator,
    FixMsg,
    new_order_single,
    order_cancel_request,
    order_status_request,
    until,
)

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.fixmsg import market_data_request
from fixgw.lpsim.http import create_app
from fixgw.lpsim.simulator import LpSimulator, SimConfig

_ids = itertools.count(1)
BID, ASK = Decimal("1.10001"), Decimal("1.10013")


@dataclass
class Lp:
    """A running simulator, its control API and an initiator logged on to it."""

    sim: LpSimulator
    http: httpx.AsyncClient
    client: BareInitiator

    async def configure(self, **knobs: object) -> dict[str, Any]:
        resp = await self.http.put("/config", json=knobs)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def fault(self, **fault: object) -> None:
        resp = await self.http.post("/faults", json=fault)
        assert resp.status_code == 200, resp.text

    def order(
        self,
        side: str = "1",
        qty: str = "100000",
        ord_type: str = "1",
        price: str | None = None,
        tif: str = "3",
        symbol: str = "EURUSD",
    ) -> str:
        cl_ord_id = f"F{next(_ids)}"
        self.client.send(new_order_single(cl_ord_id, symbol, side, qty, ord_type, price, tif))
        return cl_ord_id

    def status(self, cl_ord_id: str, symbol: str = "EURUSD", side: str = "1") -> None:
        self.client.send(order_status_request(cl_ord_id, symbol, side, f"S-{cl_ord_id}"))

    async def report(self, cl_ord_id: str, exec_type: str) -> FixMsg:
        return await self.client.expect("8", for_order(cl_ord_id, exec_type))

    def sent_seq_num(self, cl_ord_id: str) -> str | None:
        """The MsgSeqNum our NewOrderSingle ``cl_ord_id`` went out with."""
        sent = [m for m in self.client.app_out if m.msg_type == "D" and m.first(11) == cl_ord_id]
        return sent[0].first(34) if sent else None

    async def state(self) -> dict[str, Any]:
        body: dict[str, Any] = (await self.http.get("/state")).json()
        return body


def for_order(cl_ord_id: str, exec_type: str) -> Callable[[FixMsg], bool]:
    return lambda m: m.first(11) == cl_ord_id and m.first(150) == exec_type


async def start_lp(
    run_dir: Path,
    *,
    sender: str = "LPSIM",
    reset_on_logon: bool = False,
    price_offset_points: int = 0,
    seed: int = 7,
) -> Lp:
    sim = LpSimulator(
        demo_price_specs(),
        port=engine.free_port(),
        run_dir=run_dir / sender,
        sender_comp_id=sender,
        config=SimConfig(tick_interval_ms=50, walk=False),
        seed=seed,
        reset_on_logon=reset_on_logon,
        price_offset_points=price_offset_points,
    )
    await sim.start()
    client = BareInitiator(
        sim.port, run_dir / f"client-{sender}", lp_comp_id=sender, reset_on_logon=reset_on_logon
    )
    await client.start()
    await asyncio.wait_for(until(lambda: any(s.logged_on for s in sim.sessions.values())), WAIT)
    http = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(sim)), base_url="http://x"
    )
    return Lp(sim, http, client)


async def stop_lp(lp: Lp) -> None:
    await lp.http.aclose()
    await lp.client.stop()
    await lp.sim.stop()


@pytest.fixture
async def lp(tmp_path: Path) -> AsyncIterator[Lp]:
    """A simulator with frozen prices (EURUSD 1.10001 / 1.10013) and a logged-on initiator."""
    running = await start_lp(tmp_path)
    running.sim.set_price("EURUSD", BID, ASK)
    yield running
    await stop_lp(running)


# -- several instances -------------------------------------------------------------------------


async def test_two_instances_when_side_by_side_then_each_has_own_session_prices_and_orders(
    tmp_path: Path,
) -> None:
    # Arrange: two LPs, their own FIX ports, SenderCompIDs and prices (50 points apart)
    lp1 = await start_lp(tmp_path, sender="LP1")
    lp2 = await start_lp(tmp_path, sender="LP2", price_offset_points=50, seed=8)
    try:
        # Act
        for lp in (lp1, lp2):
            lp.client.send(market_data_request("md", "EURUSD"))
        snap1 = await lp1.client.expect("W")
        snap2 = await lp2.client.expect("W")
        id1, id2 = lp1.order(), lp2.order()
        fill1 = await lp1.report(id1, "F")
        fill2 = await lp2.report(id2, "F")
        state1, state2 = await lp1.state(), await lp2.state()

        # Assert
        assert lp1.sim.port != lp2.sim.port
        assert snap1.first(49) == "LP1"
        assert snap2.first(49) == "LP2"
        bid1, bid2 = Decimal(snap1.all(270)[0]), Decimal(snap2.all(270)[0])
        assert bid2 - bid1 == Decimal("0.00050")
        assert Decimal(fill2.first(31) or "") - Decimal(fill1.first(31) or "") == Decimal("0.00050")
        assert [o["clOrdId"] for o in state1["orders"]] == [id1]
        assert [o["clOrdId"] for o in state2["orders"]] == [id2]
        assert state1["senderCompId"] == "LP1"
        assert state2["priceOffsetPoints"] == 50
    finally:
        await stop_lp(lp1)
        await stop_lp(lp2)


# -- status queries ----------------------------------------------------------------------------


async def test_status_request_when_order_filled_then_order_status_report_with_its_state(
    lp: Lp,
) -> None:
    cl_ord_id = lp.order(qty="250000")
    await lp.report(cl_ord_id, "F")

    lp.status(cl_ord_id)

    status = await lp.report(cl_ord_id, "I")
    assert status.first(39) == "2"
    assert status.first(14) == "250000"
    assert status.first(151) == "0"
    assert status.first(6) == "1.10013"
    assert status.first(790) == f"S-{cl_ord_id}"


async def test_status_request_when_order_unknown_then_rejected_unknown_order(lp: Lp) -> None:
    lp.status("never-sent")

    status = await lp.report("never-sent", "I")

    assert status.first(39) == "8"
    assert status.first(103) == "5"
    assert status.first(58) == "unknown order"


async def test_status_request_when_limit_resting_then_new_with_leaves(lp: Lp) -> None:
    cl_ord_id = lp.order(qty="1000", ord_type="2", price="1.09000", tif="1")
    await lp.report(cl_ord_id, "0")

    lp.status(cl_ord_id)

    status = await lp.report(cl_ord_id, "I")
    assert status.first(39) == "0"
    assert status.first(14) == "0"
    assert status.first(151) == "1000"


async def test_cancel_when_order_already_filled_then_cancel_reject_too_late(lp: Lp) -> None:
    cl_ord_id = lp.order()
    await lp.report(cl_ord_id, "F")

    lp.client.send(order_cancel_request("X1", cl_ord_id, "EURUSD", "1"))

    reject = await lp.client.expect("9", lambda m: m.first(11) == "X1")
    assert reject.first(102) == "0"
    assert reject.first(39) == "2"


# -- order style, partial fills, expiry, slippage ----------------------------------------------


async def test_order_style_when_only_limit_ioc_fok_accepted_then_market_rejected_with_text(
    lp: Lp,
) -> None:
    await lp.configure(acceptedStyles=["LIMIT_IOC", "LIMIT_FOK"])

    market = lp.order()
    limit_ioc = lp.order(ord_type="2", price="1.10020", tif="3")

    rejected = await lp.report(market, "8")
    assert rejected.first(103) == "11"
    assert rejected.first(58) == "order style MARKET not accepted; accepted: LIMIT_IOC, LIMIT_FOK"
    fill = await lp.report(limit_ioc, "F")
    assert fill.first(31) == "1.10013"


async def test_ioc_when_fill_ratio_set_then_partial_fill_then_rest_expired(lp: Lp) -> None:
    await lp.configure(fillRatio="0.4", expireExecType="C")

    cl_ord_id = lp.order(qty="100000", ord_type="2", price="1.10013", tif="3")

    fill = await lp.report(cl_ord_id, "F")
    assert (fill.first(32), fill.first(39), fill.first(151)) == ("40000", "1", "60000")
    expired = await lp.report(cl_ord_id, "C")
    assert expired.first(39) == "C"
    assert expired.first(14) == "40000"
    assert expired.first(151) == "0"
    assert expired.first(6) == "1.10013"
    assert expired.first(58) == "IOC remainder expired"


async def test_market_when_fill_ratio_set_and_expire_as_canceled_then_rest_canceled(
    lp: Lp,
) -> None:
    await lp.configure(fillRatio="0.5")

    cl_ord_id = lp.order(qty="3", side="2")

    fill = await lp.report(cl_ord_id, "F")
    assert fill.first(32) == "1"  # 1.5 rounded down at the quantity's precision
    assert fill.first(31) == "1.10001"
    canceled = await lp.report(cl_ord_id, "4")
    assert (canceled.first(39), canceled.first(14), canceled.first(151)) == ("4", "1", "0")


async def test_fok_when_fill_ratio_below_one_then_killed_without_fill(lp: Lp) -> None:
    await lp.configure(fillRatio="0.5")

    cl_ord_id = lp.order(ord_type="2", price="1.10013", tif="4")
    follow = lp.order()

    seen = await lp.client.collect_until("8", for_order(follow, "F"))
    mine = [m.first(150) for m in seen if m.first(11) == cl_ord_id]
    assert mine == ["0", "4"]  # accepted, then killed: never a fill
    killed = next(m for m in seen if m.first(11) == cl_ord_id and m.first(150) == "4")
    assert killed.first(14) == "0"


async def test_slippage_when_set_then_fills_worse_and_limit_beyond_expires(lp: Lp) -> None:
    await lp.configure(slippagePoints=3)

    buy = lp.order()
    sell = lp.order(side="2")
    limited = lp.order(ord_type="2", price="1.10014", tif="3")

    assert (await lp.report(buy, "F")).first(31) == "1.10016"
    assert (await lp.report(sell, "F")).first(31) == "1.09998"
    expired = await lp.report(limited, "4")
    assert expired.first(14) == "0"
    assert expired.first(58) == "price moved beyond limit 1.10014"


# -- rejects -----------------------------------------------------------------------------------


async def test_reject_fault_when_queued_for_two_then_next_two_rejected_with_text(lp: Lp) -> None:
    await lp.fault(kind="reject", count=2, text="no liquidity for size")

    first, second, third = lp.order(), lp.order(), lp.order()

    for cl_ord_id in (first, second):
        rejected = await lp.report(cl_ord_id, "8")
        assert rejected.first(58) == "no liquidity for size"
        assert rejected.first(39) == "8"
    await lp.report(third, "F")
    assert (await lp.state())["faults"] == []


async def test_reject_rate_when_text_configured_then_rejects_carry_it(lp: Lp) -> None:
    await lp.configure(rejectRate=1.0, rejectText="credit limit")

    cl_ord_id = lp.order()

    assert (await lp.report(cl_ord_id, "8")).first(58) == "credit limit"


async def test_business_reject_fault_then_35j_with_text_and_order_unknown(lp: Lp) -> None:
    await lp.fault(kind="businessReject", text="market closed")

    cl_ord_id = lp.order()

    reject = await lp.client.expect("j")
    assert reject.first(372) == "D"
    assert reject.first(379) == cl_ord_id
    assert reject.first(58) == "market closed"
    assert reject.first(45) == lp.sent_seq_num(cl_ord_id)
    lp.status(cl_ord_id)
    assert (await lp.report(cl_ord_id, "I")).first(103) == "5"


async def test_session_reject_fault_then_35_3_referencing_the_order(lp: Lp) -> None:
    await lp.fault(kind="sessionReject", text="bad order")

    cl_ord_id = lp.order()
    follow = lp.order()

    seen = await lp.client.collect_until("8", for_order(follow, "F"))
    rejects = [m for m in lp.client.admin_in if m.msg_type == "3"]
    assert len(rejects) == 1
    assert rejects[0].first(372) == "D"
    assert rejects[0].first(58) == "bad order"
    assert rejects[0].first(45) == lp.sent_seq_num(cl_ord_id)
    assert not [m for m in seen if m.first(11) == cl_ord_id]


# -- silence, late reports, duplicates ---------------------------------------------------------


async def test_silence_when_queued_then_no_report_but_status_tells_the_fill(lp: Lp) -> None:
    await lp.fault(kind="silence")

    silent = lp.order(qty="5000")
    follow = lp.order()

    # Orders are answered in arrival order: had the first been reported, it would be here by now.
    seen = await lp.client.collect_until("8", for_order(follow, "F"))
    assert not [m for m in seen if m.first(11) == silent]
    lp.status(silent)
    status = await lp.report(silent, "I")
    assert (status.first(39), status.first(14), status.first(6)) == ("2", "5000", "1.10013")
    order = (await lp.http.get(f"/orders/{silent}")).json()["orders"][0]
    assert order["delivery"] == "silent"
    assert order["withheldReports"] == 2


async def test_silence_when_forget_then_status_says_unknown_order(lp: Lp) -> None:
    await lp.fault(kind="silence", forget=True)

    forgotten = lp.order()
    lp.status(forgotten)

    status = await lp.report(forgotten, "I")
    assert status.first(103) == "5"
    assert (await lp.http.get(f"/orders/{forgotten}")).status_code == 404


async def test_late_reports_when_queued_then_fill_arrives_after_the_status_answer(lp: Lp) -> None:
    await lp.fault(kind="silence", lateMs=2000)

    cl_ord_id = lp.order()
    lp.status(cl_ord_id)

    status = await lp.report(cl_ord_id, "I")
    assert status.first(39) == "2"
    new = await lp.report(cl_ord_id, "0")
    fill = await lp.report(cl_ord_id, "F")
    assert int(new.first(34) or "0") > int(status.first(34) or "0")
    assert fill.first(32) == "100000"


async def test_duplicate_exec_ids_when_on_then_each_fill_sent_twice(lp: Lp) -> None:
    await lp.configure(duplicateExecIds=True, partialFills=2)

    cl_ord_id = lp.order()

    fills = [await lp.report(cl_ord_id, "F") for _ in range(4)]
    exec_ids = [f.first(17) for f in fills]
    assert exec_ids[0] == exec_ids[1]
    assert exec_ids[2] == exec_ids[3]
    assert exec_ids[0] != exec_ids[2]
    assert [f.first(32) for f in fills] == ["50000", "50000", "50000", "50000"]
    assert [f.first(14) for f in fills] == ["50000", "50000", "100000", "100000"]


# -- dialects ----------------------------------------------------------------------------------


async def test_legacy_exec_type_when_on_then_partial_fill_1_and_fill_2(lp: Lp) -> None:
    await lp.configure(legacyExecType=True, partialFills=2)

    cl_ord_id = lp.order()

    partial = await lp.report(cl_ord_id, "1")
    full = await lp.report(cl_ord_id, "2")
    assert (partial.first(39), full.first(39)) == ("1", "2")


async def test_symbol_map_when_set_then_lp_names_for_market_data_and_orders(lp: Lp) -> None:
    await lp.configure(symbolMap={"EURUSD": "EUR/USD"})

    lp.client.send(market_data_request("md-m", "EUR/USD"))
    snapshot = await lp.client.expect("W")
    lp.client.send(market_data_request("md-b", "EURUSD"))
    refused = await lp.client.expect("Y")
    cl_ord_id = lp.order(symbol="EUR/USD")
    broker_name = lp.order(symbol="EURUSD")

    assert snapshot.first(55) == "EUR/USD"
    assert snapshot.all(270) == ["1.10001", "1.10013"]
    assert refused.first(262) == "md-b"
    fill = await lp.report(cl_ord_id, "F")
    assert (fill.first(55), fill.first(31)) == ("EUR/USD", "1.10013")
    assert (await lp.report(broker_name, "8")).first(58) == "unknown symbol EURUSD"
    tick = await lp.client.expect("X", lambda m: m.first(262) == "md-m")
    assert tick.all(55) == ["EUR/USD", "EUR/USD"]


async def test_custom_tags_when_set_then_on_every_report(lp: Lp) -> None:
    await lp.configure(customTags={"5001": "LPX", "7000": "abc"})

    cl_ord_id = lp.order()

    for exec_type in ("0", "F"):
        report = await lp.report(cl_ord_id, exec_type)
        assert (report.first(5001), report.first(7000)) == ("LPX", "abc")


# -- sequence gaps, disconnect and restart -----------------------------------------------------


async def test_gap_when_requested_then_counterparty_resends_and_gap_is_filled(lp: Lp) -> None:
    resp = await lp.http.post("/gap", json={"count": 5})
    assert resp.status_code == 200
    skipped = resp.json()["sessions"][0]

    await asyncio.wait_for(until(lambda: any(m.msg_type == "4" for m in lp.client.admin_in)), WAIT)

    resends = [m for m in lp.client.admin_out if m.msg_type == "2"]
    assert resends
    assert int(resends[0].first(7) or "0") == skipped["skippedFrom"]
    gap_fill = next(m for m in lp.client.admin_in if m.msg_type == "4")
    assert gap_fill.first(123) == "Y"
    assert int(gap_fill.first(36) or "0") >= skipped["nextSenderSeqNum"]
    cl_ord_id = lp.order()
    await lp.report(cl_ord_id, "F")
    assert lp.client.logged_on.is_set()


@pytest.mark.parametrize("reset_on_logon", [False, True])
async def test_restart_when_requested_then_session_comes_back_resuming_sequence_numbers(
    tmp_path: Path, reset_on_logon: bool
) -> None:
    lp = await start_lp(tmp_path, reset_on_logon=reset_on_logon)
    try:
        # Arrange: some traffic so both sides' sequence numbers are well past 1
        for _ in range(3):
            await lp.report(lp.order(), "F")
        state = await lp.state()
        next_seq = state["sessions"][0]["nextSenderSeqNum"]
        logons_before = len([m for m in lp.client.admin_in if m.msg_type == "A"])

        # Act
        resp = await lp.http.post("/restart", json={"downMs": 300})
        again = await lp.http.post("/restart", json={"downMs": 300})
        await asyncio.wait_for(until(lambda: not lp.client.logged_on.is_set()), WAIT)
        await asyncio.wait_for(lp.client.logged_on.wait(), WAIT)

        # Assert
        assert resp.status_code == 200
        assert again.status_code == 409
        logon = [m for m in lp.client.admin_in if m.msg_type == "A"][logons_before]
        if reset_on_logon:
            assert logon.first(34) == "1"
        else:
            assert int(logon.first(34) or "0") >= next_seq
            assert logon.first(141) != "Y"
        assert (await lp.state())["acceptor"] == "up"
        await lp.report(lp.order(), "F")
    finally:
        await stop_lp(lp)


async def test_restart_when_late_report_due_while_down_then_delivered_after(
    tmp_path: Path,
) -> None:
    lp = await start_lp(tmp_path)
    try:
        await lp.fault(kind="silence", lateMs=200)
        cl_ord_id = lp.order()
        await asyncio.wait_for(until(lambda: bool(lp.sim.order(cl_ord_id))), WAIT)

        resp = await lp.http.post("/restart", json={"downMs": 1500})

        assert resp.status_code == 200
        fill = await lp.report(cl_ord_id, "F")
        assert fill.first(14) == "100000"
    finally:
        await stop_lp(lp)


# -- the control API ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/config", {"fillRatio": "1.5"}),
        ("PUT", "/config", {"fillRatio": "abc"}),
        ("PUT", "/config", {"fillRatio": 0.5}),
        ("PUT", "/config", {"acceptedStyles": ["STOP"]}),
        ("PUT", "/config", {"acceptedStyles": []}),
        ("PUT", "/config", {"expireExecType": "9"}),
        ("PUT", "/config", {"slippagePoints": -1}),
        ("PUT", "/config", {"customTags": {"58": "x"}}),
        ("PUT", "/config", {"symbolMap": {"EURUSD": "X", "GBPUSD": "X"}}),
        ("PUT", "/config", {"noSuchKnob": 1}),
        ("POST", "/faults", {"kind": "explode"}),
        ("POST", "/faults", {"kind": "reject", "count": 0}),
        ("POST", "/faults", {"kind": "reject", "lateMs": 10}),
        ("POST", "/faults", {"kind": "silence", "lateMs": 10, "forget": True}),
        ("POST", "/gap", {"count": 0}),
        ("POST", "/restart", {"downMs": -1}),
    ],
)
async def test_control_api_when_input_bad_then_422(
    lp: Lp, method: str, path: str, body: dict[str, object]
) -> None:
    resp = await lp.http.request(method, path, json=body)

    assert resp.status_code == 422, resp.text


async def test_state_when_orders_and_faults_then_reported_truthfully(lp: Lp) -> None:
    config = await lp.configure(
        acceptedStyles=["MARKET"], fillRatio="0.25", symbolMap={"GBPUSD": "GBP/USD"}
    )
    await lp.fault(kind="silence", count=3, lateMs=60_000)
    filled = lp.order(qty="1000")
    await asyncio.wait_for(until(lambda: bool(lp.sim.order(filled))), WAIT)

    state = await lp.state()
    cleared = (await lp.http.delete("/faults")).json()

    assert config["acceptedStyles"] == ["MARKET"]
    assert config["fillRatio"] == "0.25"
    assert state["config"]["symbolMap"] == {"GBPUSD": "GBP/USD"}
    assert state["faults"] == [
        {"kind": "silence", "text": None, "lateMs": 60_000, "forget": False, "remaining": 2}
    ]
    (order,) = state["orders"]
    assert order["clOrdId"] == filled
    assert order["ordStatus"] == "4"  # a quarter filled, the rest expired (canceled)
    assert (order["cumQty"], order["avgPx"], order["delivery"]) == ("250", "1.10013", "late")
    assert state["counters"]["silenced"] == 1
    assert state["sessions"][0]["loggedOn"] is True
    assert cleared == {"cleared": 2}
    metrics = (await lp.http.get("/metrics")).text
    assert 'fxmesh_lpsim_orders_total{lp="LPSIM",outcome="silenced"}' in metrics
