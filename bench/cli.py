"""``python -m bench [--quick] [--out DIR] [scenario ...]``: floors, then scenarios, then reports.

With no scenario named, every registered scenario runs (placeholders report a skip). ``floors``
alone measures every floor without starting a stack. Each scenario prints one JSON document on
stdout and a short table on stderr (with the progress lines), and writes
``<scenario>-<utc>-<commit>.json`` and ``.png`` to ``bench/results/`` (``--quick``: a temporary
directory, unless ``--out``).

Exit status: 0 when every document has an empty ``errors`` list; 1 otherwise; 2 for bad usage.
A missed target is never an error (it is data); ``--quick`` never judges timings at all, but
failed requests, lost orders and undelivered ticks are errors in any mode where noted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import os
import resource
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import uvloop

from bench import report
from bench.context import Context, say
from bench.floors import FLOOR_GROUPS, FloorParams
from bench.machine import CPU_DMA_LATENCY, CpuMeter, cpus_awake, git_commit, machine_facts
from bench.registry import BY_NAME, FLOORS, SCENARIOS, Scenario
from bench.stackctl import REDIS_SERVER, BenchStack
from devstack import (
    InfraError,
    StackConfig,
    add_topology_arguments,
    claim_redis_db,
    ensure_infra,
    infra_target,
)

LOAD_GENERATOR = {
    "process": "this bench process: one event loop (uvloop, as the services and the floor "
    "servers use), sharing the machine's cores with the stack",
    "http_client": "bench.rawhttp: HTTP/1.1 keep-alive, one connection per request in flight "
    "(at most 256 per pool)",
    "websocket_client": "bench.wsclients fleet: RFC 6455 on asyncio protocols, no "
    "permessage-deflate, no client pings",
    "cpu": "per rate step in cpu.percent_of_one_core: the generator ('bench (load generator)') "
    "next to each stack service, PostgreSQL, Redis, RabbitMQ and anything else busy",
}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def raise_fd_limit() -> None:
    # 1000 WebSocket clients here and 1000 sockets in edge (a child: it inherits the limit).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


class Run:
    def __init__(self, quick: bool, out_dir: Path, *, router_in_oms: bool = False) -> None:
        self.ctx = Context(quick, ws_client_counts=(1, 20) if quick else (1, 100, 1000))
        self.router_in_oms = router_in_oms
        self.out_dir = out_dir
        self.git = git_commit()
        self.machine = machine_facts()
        self.floors_by_group: dict[str, list[str]] = {}
        self.failed = False

    def base(self, name: str, title: str) -> dict[str, Any]:
        return {
            "scenario": name,
            "title": title,
            "quick": self.ctx.quick,
            "started_at": _now(),
            "git": self.git,
            "machine": self.machine,
            "load_generator": LOAD_GENERATOR,
            "topology": "router in oms" if self.router_in_oms else "router in its own process",
        }

    def emit(self, doc: dict[str, Any]) -> None:
        doc.setdefault("errors", [])
        doc["finished_at"] = _now()
        if doc["errors"]:
            self.failed = True
        print(json.dumps(doc, indent=2), flush=True)
        print(report.table(doc), file=sys.stderr, flush=True)
        for path in report.write(doc, self.out_dir):
            say(f"wrote {path}")

    async def floors(self, groups: list[str]) -> None:
        doc = self.base(FLOORS, "Floors: the bare cost of each hop, measured in this run")
        errors: list[str] = []
        redis_db = await claim_redis_db(REDIS_SERVER, owner=f"bench-floors:{os.getpid()}")
        redis_url = f"{REDIS_SERVER}/{redis_db}"
        params = FloorParams(self.ctx.quick, redis_url, self.ctx.ws_client_counts)
        meter = CpuMeter()
        cpu: dict[str, Any] = {}
        try:
            for group in groups:
                say(f"floor {group}")
                started = time.perf_counter()
                before = meter.snapshot()
                try:
                    measured = await FLOOR_GROUPS[group](params)
                except Exception as exc:
                    traceback.print_exc()
                    errors.append(f"floor {group}: {exc!r}")
                    continue
                usage = meter.usage(before, meter.snapshot())
                cpu[group] = {
                    "machine_busy_pct_of_all_cores": usage["machine_busy_pct_of_all_cores"],
                    "infrastructure_and_other_pct_of_one_core": {
                        k: v for k, v in usage["percent_of_one_core"].items() if v
                    }
                    | {"other": usage["other_pct_of_one_core"]},
                }
                self.ctx.floors.update(measured)
                self.floors_by_group[group] = list(measured)
                say(f"floor {group}: {time.perf_counter() - started:.1f} s")
        finally:
            client = aioredis.Redis.from_url(redis_url)
            try:
                await client.flushdb()
            finally:
                await client.aclose()
        doc["floors"] = self.ctx.floors
        doc["cpu_while_measuring"] = {
            "note": "'other' is CPU used by processes outside the bench, its floor servers and "
            "the infrastructure: other users of the machine, which inflate the floors' tails",
            "by_group": cpu,
        }
        doc["errors"] = errors
        self.emit(doc)

    async def scenario(self, sc: Scenario) -> None:
        doc = self.base(sc.name, sc.title)
        doc["floors"] = {
            name: self.ctx.floors[name]
            for group in sc.floor_groups
            for name in self.floors_by_group.get(group, [])
        }
        say(f"scenario {sc.name}")
        started = time.perf_counter()
        try:
            module = importlib.import_module(sc.module)
            doc.update(await module.run(self.ctx))
        except Exception as exc:
            traceback.print_exc()
            doc.setdefault("errors", []).append(f"{sc.name} crashed: {exc!r}")
            if self.ctx.stack is not None:
                self.ctx.stack.failed = True
        doc["duration_s"] = round(time.perf_counter() - started, 1)
        self.emit(doc)


def add_cpu_awake_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cpu-awake",
        action="store_true",
        help="keep the cores out of their idle states for the run (/dev/cpu_dma_latency held at "
        "0, as tuned's latency-performance profile does on a trading host; root only); the "
        "results' machine.cpu_idle says which way a run was made",
    )


def cpu_awake_or_not(args: argparse.Namespace, qos: Path = CPU_DMA_LATENCY) -> contextlib.ExitStack:
    """Holding ``cpus_awake()`` when ``--cpu-awake`` was given, else nothing, until the returned
    stack is closed; SystemExit (status 2) with the reason when the kernel refuses it."""
    held = contextlib.ExitStack()
    if args.cpu_awake:
        try:
            held.enter_context(cpus_awake(qos))
        except OSError as exc:
            say(f"--cpu-awake: cannot hold {qos}: {exc.strerror or exc}")
            raise SystemExit(2) from exc
    return held


async def _run(args: argparse.Namespace, names: list[str]) -> int:
    with cpu_awake_or_not(args):
        return await _run_awake(args, names)


async def _run_awake(args: argparse.Namespace, names: list[str]) -> int:
    out_dir = (
        Path(args.out)
        if args.out
        else (
            Path(tempfile.mkdtemp(prefix="fxmesh-bench-quick-"))
            if args.quick
            else report.RESULTS_DIR
        )
    )
    run = Run(args.quick, out_dir, router_in_oms=args.router_in_oms)
    scenarios = [BY_NAME[n] for n in names if n != FLOORS]
    wanted = (
        set(FLOOR_GROUPS) if FLOORS in names else {g for s in scenarios for g in s.floor_groups}
    )
    groups = [g for g in FLOOR_GROUPS if g in wanted]
    try:
        await ensure_infra(infra_target(StackConfig.from_env()), say)
    except InfraError as exc:
        say(f"infrastructure: {exc}")
        return 3
    if groups:
        await run.floors(groups)
    if any(s.needs_stack for s in scenarios):
        stack = BenchStack(say, router_in_oms=args.router_in_oms)
        run.ctx.stack = stack
        try:
            await stack.start()
        except Exception:
            traceback.print_exc()
            stack.failed = True
            await stack.stop()
            return 1
    try:
        for sc in scenarios:
            await run.scenario(sc)
    finally:
        if run.ctx.stack is not None:
            if run.failed:
                run.ctx.stack.failed = True
            await run.ctx.stack.stop()
    say(f"results in {out_dir}")
    return 1 if run.failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("scenarios", nargs="*", help=f"{FLOORS} or scenario names (default: all)")
    parser.add_argument("--quick", action="store_true", help="CI smoke size; timings not judged")
    parser.add_argument(
        "--out", help="results directory (default: bench/results, quick: a temp dir)"
    )
    add_topology_arguments(parser)
    add_cpu_awake_argument(parser)
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        print(f"{FLOORS:16} every floor, no stack")
        for s in SCENARIOS:
            print(f"{s.name:16} {s.title}")
        return
    names = args.scenarios or [s.name for s in SCENARIOS]
    unknown = [n for n in names if n != FLOORS and n not in BY_NAME]
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(unknown)} (see --list)")
    raise_fd_limit()
    sys.exit(uvloop.run(until_terminated(_run(args, names))))


async def until_terminated(run: Awaitable[int]) -> int:
    """``run``, stopped by SIGTERM or SIGINT: cancelled, so its ``finally`` blocks stop the stack
    it started (left to their defaults, both end the process at once and leave every service of
    the stack running, holding PostgreSQL connections and CPU). Exit status 128 + the signal's
    number then (143, 130).

    SIGINT is handled here rather than left to asyncio's runner: a process that starts with
    SIGINT ignored (a script's background job) gets no handler from the runner, and ``kill -INT``
    from a script is how one stops a bench there (a terminal's Ctrl-C reaches the services too).
    QuickFIX's import used to reset it mid-run as well (the floors import it): ``fixgw`` now puts
    it back."""
    task = asyncio.current_task()
    assert task is not None
    received: list[signal.Signals] = []

    def stop(signum: signal.Signals) -> None:
        received.append(signum)
        task.cancel()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    try:
        return await run
    except asyncio.CancelledError:
        if not received:
            raise
        say(f"terminated ({received[0].name}): what the run started is stopped")
        return 128 + received[0]
