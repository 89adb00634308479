"""Depth end to end on loopback: an LP subscribed with MarketDepth 3 sends full refreshes with
three levels a side; fixgw forwards them to quotes as the tick's levels, best first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from fixgw_harness import WAIT, QuotesStandIn, until

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.config import FixgwSettings, LpConfig
from fixgw.lpsim.simulator import LpSimulator, SimConfig
from fixgw.server import FixgwApp

D = Decimal


@pytest.fixture(scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LpSimulator]:
    simulator = LpSimulator(
        demo_price_specs(),
        port=engine.free_port(),
        run_dir=tmp_path_factory.mktemp("lpsim-depth"),
        config=SimConfig(tick_interval_ms=50, walk=False),
        seed=5,
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
        run_dir=str(tmp_path_factory.mktemp("fixgw-depth")),
        postgres_dsn=pg_dsn,
        fixgw_addr="127.0.0.1:0",
        quotes_addr=f"127.0.0.1:{quotes.port}",
        metrics_port=0,
        fixgw_symbols="EURUSD,USDJPY",
        fixgw_lps=[
            LpConfig(
                name="DEEP", host="127.0.0.1", port=sim.port, target_comp_id="LPSIM", market_depth=3
            )
        ],
        fixgw_reconnect_seconds=1,
        shutdown_grace_seconds=0,
    )
    app = FixgwApp(settings)
    await app.start()
    await asyncio.wait_for(until(lambda: app.gateway.lps["DEEP"].logged_on), WAIT)
    yield app
    await app.stop()


async def test_depth_subscription_when_lp_price_moves_then_quotes_gets_three_levels_a_side(
    fixgw: FixgwApp, sim: LpSimulator, quotes: QuotesStandIn
) -> None:
    sim.update_config(depth_sizes=["1000000", "4000000", "15000000"], depth_step_points=5)

    sim.set_price("EURUSD", D("1.10000"), D("1.10010"))

    await asyncio.wait_for(until(lambda: quotes.recorder.has("EURUSD", "1.10000", "1.10010")), WAIT)
    tick = next(t for t in reversed(quotes.recorder.ticks) if t.bid == "1.10000")
    assert [(level.price, level.size) for level in tick.bid_levels] == [
        ("1.10000", "1000000"),
        ("1.09995", "4000000"),
        ("1.09990", "15000000"),
    ]
    assert [(level.price, level.size) for level in tick.ask_levels] == [
        ("1.10010", "1000000"),
        ("1.10015", "4000000"),
        ("1.10020", "15000000"),
    ]
    # Every update of a depth subscription is a full refresh: the next price brings new levels.
    sim.set_price("EURUSD", D("1.10100"), D("1.10110"))
    await asyncio.wait_for(until(lambda: quotes.recorder.has("EURUSD", "1.10100", "1.10110")), WAIT)
    moved = next(t for t in reversed(quotes.recorder.ticks) if t.bid == "1.10100")
    assert [level.price for level in moved.ask_levels] == ["1.10110", "1.10115", "1.10120"]
