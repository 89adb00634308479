"""Fixtures for fixgw tests: a real LP simulator on a free port and a bare QuickFIX initiator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fixgw_harness import WAIT, BareInitiator, QuotesStandIn, until

from devstack.lpsim import demo_price_specs
from fixgw import engine
from fixgw.lpsim.simulator import LpSimulator, SimConfig


@pytest.fixture
async def lpsim(tmp_path: Path) -> AsyncIterator[LpSimulator]:
    """A running simulator on a free port, ticking every 50 ms."""
    sim = LpSimulator(
        demo_price_specs(),
        port=engine.free_port(),
        run_dir=tmp_path,
        config=SimConfig(tick_interval_ms=50),
        seed=7,
    )
    await sim.start()
    yield sim
    await sim.stop()


@pytest.fixture
async def fix_client(lpsim: LpSimulator, tmp_path: Path) -> AsyncIterator[BareInitiator]:
    """A bare initiator logged on to the simulator."""
    client = BareInitiator(lpsim.port, tmp_path / "client")
    await client.start()
    # The acceptor's onLogon can run just after the initiator's: wait until both sides agree.
    await asyncio.wait_for(until(lambda: lpsim.state()["sessions"][0]["loggedOn"]), WAIT)
    yield client
    await client.stop()


@pytest.fixture(scope="module")
async def quotes() -> AsyncIterator[QuotesStandIn]:
    """quotes stood in for by a grpc.aio server that records every tick batch fixgw sends."""
    stand_in = QuotesStandIn()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()
