"""The gateway end to end on loopback: LP simulator -> FIX 4.4 -> fixgw -> PublishTicks stream.

quotes is stood in for by a small in-test grpc.aio QuotesService that records every batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import grpc
import pytest
from fixgw_harness import WAIT, QuotesStandIn, until

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.config import FixgwSettings
from fixgw.lpsim.simulator import LpSimulator, SimConfig
from fixgw.server import FixgwApp
from fxmesh.v1 import fixgw_pb2, fixgw_pb2_grpc


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LpSimulator]:
    simulator = LpSimulator(
        demo_price_specs(),
        port=engine.free_port(),
        run_dir=tmp_path_factory.mktemp("lpsim"),
        config=SimConfig(tick_interval_ms=50),
        seed=11,
    )
    await simulator.start()
    yield simulator
    await simulator.stop()


@pytest.fixture(scope="module")
async def fixgw(
    sim: LpSimulator,
    quotes: QuotesStandIn,
    tmp_path_factory: pytest.TempPathFactory,
    pg_dsn: str,
) -> AsyncIterator[FixgwApp]:
    settings = FixgwSettings(
        run_dir=str(tmp_path_factory.mktemp("fixgw")),
        postgres_dsn=pg_dsn,  # fixgw's order book
        fixgw_addr="127.0.0.1:0",
        quotes_addr=f"127.0.0.1:{quotes.port}",
        metrics_port=0,
        fixgw_lp_port=sim.port,
        fixgw_reconnect_seconds=1,
        fixgw_forward_backoff_max_seconds=0.5,
        shutdown_grace_seconds=0,
    )
    app = FixgwApp(settings)
    await app.start()
    await asyncio.wait_for(until(lambda: app.gateway.lps["LPSIM"].logged_on), WAIT)
    yield app
    await app.stop()


async def list_sessions(app: FixgwApp) -> list[fixgw_pb2.LpSession]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.grpc_port}") as channel:
        stub = fixgw_pb2_grpc.FixGatewayServiceStub(channel)
        response = await stub.ListSessions(fixgw_pb2.ListSessionsRequest(), timeout=5)
    return list(response.sessions)


async def test_lp_price_when_set_on_simulator_then_quotes_receives_exact_decimal_tick(
    fixgw: FixgwApp, sim: LpSimulator, quotes: QuotesStandIn
) -> None:
    # Arrange
    sim.update_config(walk=False)

    # Act
    sim.set_price("EURUSD", Decimal("1.11111"), Decimal("1.11122"))

    # Assert
    await asyncio.wait_for(until(lambda: quotes.recorder.has("EURUSD", "1.11111", "1.11122")), WAIT)
    tick = next(t for t in quotes.recorder.ticks if t.bid == "1.11111")
    assert tick.source == "LPSIM"
    assert tick.quote_time.seconds > 0
    symbols = {t.symbol for t in quotes.recorder.ticks}
    assert symbols == {"EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "BTCUSD", "ETHUSD"}
    assert all(Decimal(t.bid) < Decimal(t.ask) for t in quotes.recorder.ticks)


async def test_list_sessions_when_logged_on_then_reports_session_and_subscriptions(
    fixgw: FixgwApp,
) -> None:
    await asyncio.wait_for(until(lambda: fixgw.gateway.lps["LPSIM"].ticks_received > 0), WAIT)

    sessions = await list_sessions(fixgw)

    assert len(sessions) == 1
    lp = sessions[0]
    assert lp.name == "LPSIM"
    assert lp.session_id == "FIX.4.4:FXMESH->LPSIM"
    assert lp.logged_on is True
    assert len(lp.subscribed_symbols) == 6
    assert lp.ticks_received > 0
    assert lp.last_message_time.seconds > 0


async def test_lp_disconnect_when_streaming_then_gateway_logs_on_again_and_ticks_resume(
    fixgw: FixgwApp, sim: LpSimulator, quotes: QuotesStandIn
) -> None:
    state = fixgw.gateway.lps["LPSIM"]

    # Act
    assert sim.disconnect() == 1
    await asyncio.wait_for(until(lambda: not state.logged_on), WAIT)
    await asyncio.wait_for(until(lambda: state.logged_on), WAIT)

    # Assert: fresh prices flow again over the new session
    sim.update_config(walk=False)
    sim.set_price("GBPUSD", Decimal("1.27001"), Decimal("1.27013"))
    await asyncio.wait_for(until(lambda: quotes.recorder.has("GBPUSD", "1.27001", "1.27013")), WAIT)
    sessions = await list_sessions(fixgw)
    assert sessions[0].logged_on is True


async def test_quotes_restart_when_streaming_then_forwarder_reconnects_and_ticks_resume(
    fixgw: FixgwApp, sim: LpSimulator, quotes: QuotesStandIn
) -> None:
    # Arrange
    await asyncio.wait_for(until(lambda: len(quotes.recorder.ticks) > 0), WAIT)

    # Act: quotes goes away and comes back on the same address
    await quotes.stop()
    await asyncio.sleep(0.3)
    await quotes.start()
    sim.update_config(walk=False)
    sim.set_price("USDJPY", Decimal("150.123"), Decimal("150.135"))

    # Assert
    await asyncio.wait_for(until(lambda: quotes.recorder.has("USDJPY", "150.123", "150.135")), WAIT)
