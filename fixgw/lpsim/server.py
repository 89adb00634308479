"""Wiring of the LP simulator process: FIX acceptor, price walk and control HTTP API.

The simulator quotes the symbols it is given: ``serve(prices)``. The dev stack runs it with its
demo catalogue's (``python -m devstack.lpsim``); tests build ``LpSimulator`` themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator, Sequence
from pathlib import Path

import structlog
import uvicorn

from fixgw.lpsim.config import LpsimSettings
from fixgw.lpsim.http import create_app
from fixgw.lpsim.prices import PriceSpec
from fixgw.lpsim.simulator import LpSimulator, SimConfig
from fxmesh.config import load_settings
from fxmesh.lifecycle import ServiceRuntime

log = structlog.stdlib.get_logger(__name__)


def build_simulator(settings: LpsimSettings, prices: Sequence[PriceSpec]) -> LpSimulator:
    return LpSimulator(
        list(prices),
        port=settings.lpsim_fix_port,
        run_dir=Path(settings.run_dir),
        sender_comp_id=settings.lpsim_sender_comp_id,
        target_comp_ids=settings.target_comp_ids(),
        config=SimConfig(
            latency_ms=settings.lpsim_latency_ms,
            reject_rate=settings.lpsim_reject_rate,
            reject_text=settings.lpsim_reject_text,
            partial_fills=settings.lpsim_partial_fills,
            tick_interval_ms=settings.lpsim_tick_interval_ms,
            walk=settings.lpsim_walk,
            accepted_styles=tuple(settings.lpsim_accepted_styles),
            fill_ratio=settings.lpsim_fill_ratio,
            expire_exec_type=settings.lpsim_expire_exec_type,
            slippage_points=settings.lpsim_slippage_points,
            duplicate_exec_ids=settings.lpsim_duplicate_exec_ids,
            legacy_exec_type=settings.lpsim_legacy_exec_type,
            symbol_map=dict(settings.lpsim_symbol_map),
            custom_tags=dict(settings.lpsim_custom_tags),
        ),
        seed=settings.lpsim_seed,
        message_log=settings.lpsim_fix_message_log,
        reset_on_logon=settings.lpsim_reset_on_logon,
        price_offset_points=settings.lpsim_price_offset_points,
    )


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: ServiceRuntime owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(prices: Sequence[PriceSpec]) -> None:
    """Run the simulator quoting ``prices``, with the environment's settings, until SIGTERM."""
    settings = load_settings(LpsimSettings)
    runtime = ServiceRuntime("lpsim", settings, settings.metrics_port)
    sim = build_simulator(settings, prices)
    await sim.start()
    runtime.on_stop(sim.stop)
    config = uvicorn.Config(
        create_app(sim),
        host=settings.lpsim_control_host,
        port=settings.lpsim_control_port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    http = _Server(config)
    http_task = asyncio.create_task(http.serve(), name="lpsim-http")

    async def stop_http() -> None:
        http.should_exit = True
        await http_task

    runtime.on_stop(stop_http)
    log.info("lpsim_control_listening", port=settings.lpsim_control_port)
    await runtime.run_until_stopped()
