"""A-book orders end to end on loopback: gRPC -> fixgw (real QuickFIX, real PostgreSQL) -> two LP
simulators, through rejects, failover, silence, late and duplicated reports, and a fixgw restart.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from fixgw_harness import WAIT, until
from prometheus_client import REGISTRY

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig, OrderStyle
from fixgw.lpsim.knobs import Fault
from fixgw.lpsim.simulator import LpSimulator, SimConfig
from fixgw.server import FixgwApp
from fxmesh.errors import from_rpc_error
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc, types_pb2

LPS = ("LP1", "LP2")
ORDER_IDS = itertools.count(int(time.time() * 1000) % 10**9 * 1000)
BID, ASK = Decimal("1.10000"), Decimal("1.10010")
BID2, ASK2 = Decimal("1.10002"), Decimal("1.10012")
S = fixgw_pb2


def new_order_id() -> str:
    return str(next(ORDER_IDS))


def execute_request(
    order_id: str,
    volume: str = "0.1",
    side: types_pb2.Side.ValueType = types_pb2.SIDE_BUY,
    lps: tuple[str, ...] = (),
    worst_price: str = "",
) -> fixgw_pb2.ExecuteOrderRequest:
    return fixgw_pb2.ExecuteOrderRequest(
        order_id=order_id,
        account_id="7",
        symbol="EURUSD",
        side=side,
        volume=volume,
        contract_size="100000",
        worst_price=worst_price,
        lps=list(lps),
    )


class Harness:
    """Two LP simulators and fixgw apps (started on demand, restartable on the same dirs)."""

    def __init__(self, tmp_path: Path, pg_dsn: str) -> None:
        self.tmp_path = tmp_path
        self.pg_dsn = pg_dsn
        self.sims: dict[str, LpSimulator] = {}
        self.apps: list[FixgwApp] = []
        self.channels: list[grpc.aio.Channel] = []

    async def start_sims(self) -> None:
        for n, name in enumerate(LPS):
            sim = LpSimulator(
                demo_price_specs(),
                port=engine.free_port(),
                run_dir=self.tmp_path / name.lower(),
                sender_comp_id=name,
                config=SimConfig(tick_interval_ms=50, walk=False),
                seed=n,
            )
            await sim.start()
            self.sims[name] = sim
        self.sims["LP1"].set_price("EURUSD", BID, ASK)
        self.sims["LP2"].set_price("EURUSD", BID2, ASK2)

    def settings(self, **lp_changes: dict[str, Any]) -> FixgwSettings:
        lps = [
            LpConfig(
                name=name,
                host="127.0.0.1",
                port=self.sims[name].port,
                target_comp_id=name,
                **{"order_timeout_seconds": 0.5, **lp_changes.get(name, {})},
            )
            for name in LPS
        ]
        return FixgwSettings(
            run_dir=str(self.tmp_path / "fixgw"),
            fixgw_addr="127.0.0.1:0",
            quotes_addr="127.0.0.1:9",  # no quotes: ticks are not what these tests look at
            metrics_port=0,
            postgres_dsn=self.pg_dsn,
            fixgw_lps=lps,
            fixgw_symbols="EURUSD",
            fixgw_reconnect_seconds=1,
            fixgw_reconcile_seconds=0.5,
            shutdown_grace_seconds=0,
        )

    async def start_app(self, settings: FixgwSettings) -> FixgwApp:
        app = FixgwApp(settings)
        await app.start()
        self.apps.append(app)
        gateway = app.gateway
        await asyncio.wait_for(until(lambda: all(gateway.logged_on(n) for n in LPS)), WAIT)
        await asyncio.wait_for(
            until(lambda: all(gateway.top_of_book(n, "EURUSD") for n in LPS)), WAIT
        )
        return app

    async def stop_app(self, app: FixgwApp) -> None:
        if app in self.apps:
            self.apps.remove(app)
            await app.stop()

    def stub(self, app: FixgwApp) -> fixgw_pb2_grpc.FixGatewayServiceStub:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}")
        self.channels.append(channel)
        return fixgw_pb2_grpc.FixGatewayServiceStub(channel)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.close()
        for app in list(self.apps):
            await self.stop_app(app)
        for sim in self.sims.values():
            await sim.stop()


@pytest.fixture
async def harness(tmp_path: Path, pg_dsn: str) -> AsyncIterator[Harness]:
    h = Harness(tmp_path, pg_dsn)
    await h.start_sims()
    yield h
    await h.close()


StartFixgw = Callable[..., Awaitable[tuple[FixgwApp, Any]]]


@pytest.fixture
def start_fixgw(harness: Harness) -> StartFixgw:
    async def start(**lp_changes: dict[str, Any]) -> tuple[FixgwApp, Any]:
        app = await harness.start_app(harness.settings(**lp_changes))
        return app, harness.stub(app)

    return start


async def execute(stub: Any, request: fixgw_pb2.ExecuteOrderRequest) -> fixgw_pb2.LpExecution:
    response = await stub.ExecuteOrder(request, timeout=WAIT)
    execution: fixgw_pb2.LpExecution = response.execution
    return execution


async def order_status(stub: Any, order_id: str) -> fixgw_pb2.LpExecution:
    response = await stub.GetOrderStatus(S.GetOrderStatusRequest(order_id=order_id), timeout=WAIT)
    execution: fixgw_pb2.LpExecution = response.execution
    return execution


async def status_becomes(
    stub: Any, order_id: str, status: fixgw_pb2.LpOrderStatus.ValueType
) -> fixgw_pb2.LpExecution:
    async def poll() -> fixgw_pb2.LpExecution:
        while True:
            execution = await order_status(stub, order_id)
            if execution.status == status:
                return execution
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(poll(), WAIT)


def sim_orders(sim: LpSimulator, order_id: str) -> list[Any]:
    return [o for (_, c), o in sim.orders.items() if c.startswith(f"FXM{order_id}-")]


# -- fills ---------------------------------------------------------------------------------------


async def test_market_order_when_lp_fills_then_filled_at_lp_price_in_lots(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange
    _, stub = await start_fixgw()
    order_id = new_order_id()

    # Act
    execution = await execute(stub, execute_request(order_id, volume="0.1"))

    # Assert
    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert execution.filled_volume == "0.1"
    assert Decimal(execution.average_price) == ASK
    [fill] = execution.fills
    assert (fill.lp, fill.volume, Decimal(fill.price)) == ("LP1", "0.1", ASK)
    assert fill.exec_id
    assert fill.lp_order_id
    assert fill.cl_ord_id == f"FXM{order_id}-1"
    assert fill.transact_time.seconds > 0
    [attempt] = execution.attempts
    assert attempt.order_style == "MARKET"
    assert attempt.status == S.LP_ORDER_STATUS_FILLED
    [sent] = sim_orders(harness.sims["LP1"], order_id)
    assert sent.qty == Decimal("10000")  # units: 0.1 lot x 100 000


async def test_limit_ioc_lp_when_order_sent_then_limit_at_lp_price_plus_slippage_fills(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange: LP1 accepts only LIMIT IOC
    harness.sims["LP1"].update_config(accepted_styles=("LIMIT_IOC",))
    _, stub = await start_fixgw(
        LP1={"order_style": OrderStyle.LIMIT_IOC, "limit_slippage": Decimal("0.0001")}
    )
    order_id = new_order_id()

    # Act
    execution = await execute(stub, execute_request(order_id, side=types_pb2.SIDE_SELL))

    # Assert
    assert execution.status == S.LP_ORDER_STATUS_FILLED
    [attempt] = execution.attempts
    assert attempt.order_style == "LIMIT_IOC"
    assert Decimal(attempt.limit_price) == Decimal("1.09989")  # 1.1 x 0.9999 = 1.09989
    assert Decimal(execution.fills[0].price) == BID
    [sent] = sim_orders(harness.sims["LP1"], order_id)
    assert (sent.ord_type, sent.tif) == ("2", "3")


async def test_partial_fill_when_ioc_remainder_expires_then_partially_filled(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    harness.sims["LP1"].update_config(fill_ratio=Decimal("0.4"))
    _, stub = await start_fixgw()
    order_id = new_order_id()

    execution = await execute(stub, execute_request(order_id, volume="1", lps=("LP1",)))

    assert execution.status == S.LP_ORDER_STATUS_PARTIALLY_FILLED
    assert execution.filled_volume == "0.4"
    assert len(execution.attempts) == 1  # a partial fill is final: no other LP is tried


async def test_duplicate_exec_ids_when_lp_repeats_reports_then_each_fill_applied_once(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    harness.sims["LP1"].update_config(duplicate_exec_ids=True, partial_fills=2)
    _, stub = await start_fixgw()
    order_id = new_order_id()

    execution = await execute(stub, execute_request(order_id, volume="1"))
    again = await status_becomes(stub, order_id, S.LP_ORDER_STATUS_FILLED)

    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert len({f.exec_id for f in execution.fills}) == 2
    assert len(again.fills) == 2
    assert sum(Decimal(f.volume) for f in again.fills) == Decimal(1)


async def test_legacy_exec_type_when_lp_speaks_fix42_fills_then_filled(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    harness.sims["LP1"].update_config(legacy_exec_type=True, partial_fills=2)
    _, stub = await start_fixgw()

    execution = await execute(stub, execute_request(new_order_id(), volume="0.2"))

    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert execution.filled_volume == "0.2"


async def test_lp_with_its_own_symbol_names_when_ordered_then_sent_as_eur_usd_and_filled(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange: LP1 names the pair EUR/USD, for prices and orders alike
    harness.sims["LP1"].update_config(symbol_map={"EURUSD": "EUR/USD"})
    app, stub = await start_fixgw(LP1={"symbol_map": {"EURUSD": "EUR/USD"}})
    await asyncio.wait_for(until(lambda: app.gateway.top_of_book("LP1", "EURUSD")), WAIT)
    order_id = new_order_id()

    # Act
    execution = await execute(stub, execute_request(order_id))

    # Assert: filled at LP1 in our name, after LP1 saw its own name on the wire
    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert [f.lp for f in execution.fills] == ["LP1"]
    assert Decimal(execution.average_price) == ASK
    [sent] = sim_orders(harness.sims["LP1"], order_id)
    assert sent.symbol == "EURUSD"  # the simulator maps its wire name back to its own


# -- rejects and failover ------------------------------------------------------------------------


async def test_lp_reject_when_only_lp_then_rejected_with_lp_text(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    harness.sims["LP1"].add_fault(Fault("reject", text="credit limit exceeded"))
    _, stub = await start_fixgw()

    execution = await execute(stub, execute_request(new_order_id(), lps=("LP1",)))

    assert execution.status == S.LP_ORDER_STATUS_REJECTED
    assert execution.reject_reason == "LP_REJECTED"
    assert execution.reject_message == "credit limit exceeded"
    assert not execution.fills


@pytest.mark.parametrize("kind", ["businessReject", "sessionReject"])
async def test_order_refused_by_35j_or_35_3_when_sent_then_rejected_with_lp_text(
    harness: Harness, start_fixgw: StartFixgw, kind: str
) -> None:
    harness.sims["LP1"].add_fault(Fault(kind, text=f"{kind}: not permissioned"))  # type: ignore[arg-type]
    _, stub = await start_fixgw()

    execution = await execute(stub, execute_request(new_order_id(), lps=("LP1",)))

    assert execution.status == S.LP_ORDER_STATUS_REJECTED
    assert execution.reject_reason == "LP_REJECTED"
    assert execution.reject_message == f"{kind}: not permissioned"


async def test_first_lp_rejects_when_second_healthy_then_filled_at_second(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    harness.sims["LP1"].add_fault(Fault("reject", text="no"))
    _, stub = await start_fixgw()

    execution = await execute(stub, execute_request(new_order_id()))

    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert [a.lp for a in execution.attempts] == ["LP1", "LP2"]
    assert execution.attempts[0].status == S.LP_ORDER_STATUS_REJECTED
    assert execution.fills[0].lp == "LP2"
    assert Decimal(execution.fills[0].price) == ASK2


async def test_no_lp_logged_on_when_executing_then_rejected_no_liquidity(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    app, stub = await start_fixgw()
    for name in LPS:
        app.gateway.disconnect(name)
    await asyncio.wait_for(until(lambda: not any(app.gateway.logged_on(n) for n in LPS)), WAIT)
    order_id = new_order_id()

    execution = await execute(stub, execute_request(order_id))

    assert execution.status == S.LP_ORDER_STATUS_REJECTED
    assert execution.reject_reason == "NO_LIQUIDITY"
    assert not execution.attempts
    assert not sim_orders(harness.sims["LP1"], order_id)


# -- idempotency and fencing ---------------------------------------------------------------------


async def test_repeated_execute_when_first_in_flight_then_one_order_sent_same_answer(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    harness.sims["LP1"].update_config(latency_ms=300)
    _, stub = await start_fixgw()
    order_id = new_order_id()
    request = execute_request(order_id)

    first, second = await asyncio.gather(execute(stub, request), execute(stub, request))
    third = await execute(stub, request)

    assert first.status == second.status == third.status == S.LP_ORDER_STATUS_FILLED
    assert [f.exec_id for f in first.fills] == [f.exec_id for f in second.fills]
    assert [f.exec_id for f in third.fills] == [f.exec_id for f in first.fills]
    assert len(sim_orders(harness.sims["LP1"], order_id)) == 1
    assert not sim_orders(harness.sims["LP2"], order_id)


async def test_status_of_unknown_order_when_executed_later_then_fenced_and_never_sent(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    _, stub = await start_fixgw()
    order_id = new_order_id()

    status = await order_status(stub, order_id)
    execution = await execute(stub, execute_request(order_id))

    assert status.status == S.LP_ORDER_STATUS_NOT_FOUND
    assert execution.status == S.LP_ORDER_STATUS_NOT_FOUND
    assert execution.reject_reason == "ORDER_FENCED"
    assert not sim_orders(harness.sims["LP1"], order_id)


async def test_bad_volume_when_executing_then_invalid_argument_with_reason(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    _, stub = await start_fixgw()

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await execute(stub, execute_request(new_order_id(), volume="-1"))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert from_rpc_error(caught.value).reason == "INVALID_VOLUME"


# -- timeouts, held orders, late reports, restarts -----------------------------------------------


async def test_silent_lp_when_timed_out_then_status_query_settles_and_late_reports_apply_once(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange: LP1 fills but reports nothing until 1.5 s later
    sim = harness.sims["LP1"]
    sim.add_fault(Fault("silence", late_ms=1500))
    _, stub = await start_fixgw()
    order_id = new_order_id()

    # Act
    execution = await execute(stub, execute_request(order_id))
    await asyncio.wait_for(until(lambda: sim.counters["late_reports"] >= 1), WAIT)
    after_late = await status_becomes(stub, order_id, S.LP_ORDER_STATUS_FILLED)

    # Assert: the status query answered it; the late reports added nothing; LP2 never tried
    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert len(execution.fills) == 1
    assert execution.filled_volume == "0.1"
    assert len(after_late.fills) == 1
    assert after_late.filled_volume == "0.1"
    assert not sim_orders(harness.sims["LP2"], order_id)


async def test_unanswered_order_when_lp_unreachable_then_held_unknown_until_late_report_resolves(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange: LP1 fills silently (reports 1 s later) and fixgw loses the session right after
    sim = harness.sims["LP1"]
    sim.add_fault(Fault("silence", late_ms=1000))
    app, stub = await start_fixgw()
    order_id = new_order_id()
    call = asyncio.create_task(execute(stub, execute_request(order_id)))
    await asyncio.wait_for(until(lambda: bool(sim_orders(sim, order_id))), WAIT)
    app.gateway.disconnect("LP1")

    # Act
    held = await call
    await asyncio.wait_for(until(lambda: sim.counters["late_reports"] >= 1), WAIT)
    reconciling = app.orders.reconciling("LP1")
    app.gateway.connect("LP1")
    resolved = await status_becomes(stub, order_id, S.LP_ORDER_STATUS_FILLED)

    # Assert
    assert held.status == S.LP_ORDER_STATUS_UNKNOWN
    assert held.reject_reason == "LP_TIMEOUT"
    assert [a.lp for a in held.attempts] == ["LP1"]  # no other LP while LP1's fate is unknown
    assert reconciling
    assert len(resolved.fills) == 1
    assert resolved.filled_volume == "0.1"
    await asyncio.wait_for(until(lambda: app.gateway.healthy("LP1")), WAIT)
    assert not sim_orders(harness.sims["LP2"], order_id)


async def test_fixgw_restart_when_order_in_flight_then_resolved_from_lp_after_logon(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange: LP1 fills but never reports it; fixgw dies while waiting
    sim = harness.sims["LP1"]
    sim.add_fault(Fault("silence"))
    sim.update_config(latency_ms=0)
    app, stub = await start_fixgw(LP1={"order_timeout_seconds": 30.0})
    order_id = new_order_id()
    call = asyncio.create_task(execute(stub, execute_request(order_id)))
    await asyncio.wait_for(until(lambda: bool(sim_orders(sim, order_id))), WAIT)

    # Act: stop fixgw mid-order and start a new one on the same database and run directory
    await harness.stop_app(app)
    with pytest.raises(grpc.aio.AioRpcError):
        await call
    app2 = await harness.start_app(app.settings)
    stub2 = harness.stub(app2)
    resolved = await status_becomes(stub2, order_id, S.LP_ORDER_STATUS_FILLED)

    # Assert: resolved from the LP's status answer, once; LP1 takes flow again
    assert len(resolved.fills) == 1
    assert resolved.filled_volume == "0.1"
    assert resolved.fills[0].lp == "LP1"
    await asyncio.wait_for(until(lambda: app2.gateway.healthy("LP1")), WAIT)
    again = await execute(stub2, execute_request(order_id))
    assert [f.exec_id for f in again.fills] == [f.exec_id for f in resolved.fills]
    assert len(sim_orders(sim, order_id)) == 1


async def test_forgotten_order_when_timed_out_then_known_unfilled_and_next_lp_fills(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange: LP1 never receives the order (its status answer: unknown order)
    harness.sims["LP1"].add_fault(Fault("silence", forget=True))
    _, stub = await start_fixgw()
    order_id = new_order_id()

    execution = await execute(stub, execute_request(order_id))

    assert execution.status == S.LP_ORDER_STATUS_FILLED
    assert [a.lp for a in execution.attempts] == ["LP1", "LP2"]
    assert execution.attempts[0].reject_reason == "LP_TIMEOUT"
    assert execution.fills[0].lp == "LP2"


async def test_cancel_when_lp_filled_silently_then_too_late_and_status_shows_fill(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # Arrange: LP1 fills without reporting; fixgw would wait 30 s before asking
    sim = harness.sims["LP1"]
    sim.add_fault(Fault("silence"))
    _, stub = await start_fixgw(LP1={"order_timeout_seconds": 30.0})
    order_id = new_order_id()
    call = asyncio.create_task(execute(stub, execute_request(order_id)))
    await asyncio.wait_for(until(lambda: bool(sim_orders(sim, order_id))), WAIT)
    fills_before = REGISTRY.get_sample_value("fxmesh_fixgw_fills_total", {"lp": "LP1"}) or 0.0

    # Act: the cancel is refused (too late); fixgw then asks for the order's status
    response = await stub.CancelLpOrder(S.CancelLpOrderRequest(order_id=order_id), timeout=WAIT)
    executed = await call

    # Assert
    assert response.execution.status == S.LP_ORDER_STATUS_FILLED
    assert executed.status == S.LP_ORDER_STATUS_FILLED
    assert [f.exec_id for f in executed.fills] == [f.exec_id for f in response.execution.fills]
    fills_after = REGISTRY.get_sample_value("fxmesh_fixgw_fills_total", {"lp": "LP1"})
    assert fills_after == fills_before + 1


async def test_depth_when_first_lp_shows_less_than_the_order_then_second_lp_gets_it_first(
    harness: Harness, start_fixgw: StartFixgw
) -> None:
    # LP1 (first by priority) shows 10 lots on each side, LP2 shows 10 + 40 + 150 lots.
    harness.sims["LP1"].update_config(depth_sizes=["1000000"])
    harness.sims["LP2"].update_config(depth_sizes=["1000000", "4000000", "15000000"])
    app, stub = await start_fixgw(LP1={"market_depth": 3}, LP2={"market_depth": 3})
    gateway = app.gateway
    await asyncio.wait_for(
        until(lambda: all(gateway.shown_size(n, "EURUSD", True) for n in LPS)), WAIT
    )

    small = await execute(stub, execute_request(new_order_id(), volume="5"))
    large = await execute(stub, execute_request(new_order_id(), volume="20"))

    assert [a.lp for a in small.attempts] == ["LP1"]  # LP1 shows enough: priority holds
    assert [a.lp for a in large.attempts] == ["LP2"]  # LP1 shows 10 lots of 20: LP2 first
    assert large.status == S.LP_ORDER_STATUS_FILLED
