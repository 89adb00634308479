"""``python -m bench.hold``: hold one rate of market orders against a private stack, and profile.

The capacity search of ``market_bbook`` changes the rate every few seconds; finding where a
service spends its CPU needs one rate held long enough for a sampling profiler. This starts the
stack ``python -m bench`` uses (its own database and Redis db, the router in oms unless
``--router-separate``), seeds funded accounts, warms up, then sends B-book market orders at
``--rate`` for ``--seconds`` and prints one JSON document: the step (latency, refusals, CPU per
order of every process) and, with ``--profile oms,edge``, where each service's py-spy samples
went. ``py-spy`` (a dev dependency) records each named service for the measured window in its
raw (folded) format: ``<out>/<service>.folded``, one stack per line, which flamegraph tools
read; ``--native`` adds C frames (uvloop, asyncpg, grpc, the kernel's system calls).
``--cprofile`` runs every service under cProfile instead (``FXMESH_CPROFILE``, written when the
stack stops) and reports the named services' heaviest functions with their call counts: counts
show work repeated per order, which a sampler cannot tell from work that is merely slow.

    python -m bench.hold --rate 60 --seconds 30 --profile oms,edge

Nothing is judged and nothing is written to bench/results: this is a microscope, not a result.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import uvloop

from bench.cli import (
    add_cpu_awake_argument,
    cpu_awake_or_not,
    raise_fd_limit,
    until_terminated,
)
from bench.context import say
from bench.loadgen import run_open_loop
from bench.machine import cpu_idle_facts
from bench.scenarios.orders import OrderFlow
from bench.stackctl import BenchStack
from devstack import InfraError, StackConfig, add_topology_arguments, ensure_infra, infra_target

WARMUP_SECONDS = 5.0
REQUEST_TIMEOUT_SECONDS = 30.0
TOP_FRAMES = 25
# Frames under every sample of a thread: their inclusive share says nothing.
_ROOTS = frozenset(
    {
        "<module> (__main__.py)",
        "_run_code (<frozen runpy>)",
        "_run_module_as_main (<frozen runpy>)",
        "run (__init__.py)",
        "run_service (lifecycle.py)",
        "Thread._bootstrap (threading.py)",
        "Thread._bootstrap_inner (threading.py)",
    }
)


def fold_shares(lines: Iterable[str], top: int = TOP_FRAMES) -> dict[str, Any]:
    """Where a py-spy raw profile's samples went: each frame's inclusive share (the samples
    with it anywhere on their stack, counted once per stack) and its self share (on top).
    Frames are ``function (file)`` without line numbers, so one function is one entry; the
    interpreter's and the service runner's roots are left out of the inclusive list. py-spy
    counts a thread blocked in C (gRPC's poller, the metrics server's ``select``) as busy, so
    ``Thread.run`` and ``Runner.run`` (uvloop's own C work, on top) are read with care."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in lines:
        stack, _, count_text = line.rstrip("\n").rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        for name in set(frames) - _ROOTS:
            inclusive[name] += count
        own[frames[-1]] += count
    if total == 0:
        return {"samples": 0}

    def shares(counter: collections.Counter[str]) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(top)]

    return {"samples": total, "inclusive_pct": shares(inclusive), "self_pct": shares(own)}


def cprofile_top(path: Path, top: int = TOP_FRAMES) -> dict[str, Any]:
    """A cProfile dump's heaviest functions: by own time and by time including callees, each with
    its call count and share of the process's profiled CPU."""
    stats = pstats.Stats(str(path))
    total = stats.total_tt or 1.0  # type: ignore[attr-defined]
    rows = stats.stats.items()  # type: ignore[attr-defined]

    def heaviest(column: int) -> list[dict[str, Any]]:
        ranked = sorted(rows, key=lambda kv: -kv[1][column])[:top]
        return [
            {
                "function": f"{name} ({Path(file).name}:{line})",
                "calls": times[1],
                "pct": round(100 * times[column] / total, 1),
            }
            for (file, line, name), times in ranked
        ]

    return {"cpu_s": round(total, 2), "by_own_time": heaviest(2), "by_cumulative": heaviest(3)}


def _read_shares(path: Path) -> dict[str, Any]:
    with path.open() as lines:
        return fold_shares(lines)


def _frame_name(frame: str) -> str:
    """``fn (path/to/file.py:12)`` -> ``fn (file.py)``."""
    name, _, where = frame.partition(" (")
    if not where:
        return name
    return f"{name} ({where.rstrip(')').rsplit('/', 1)[-1].split(':', 1)[0]})"


async def hold(args: argparse.Namespace) -> int:
    with cpu_awake_or_not(args):
        return await _hold(args)


async def _hold(args: argparse.Namespace) -> int:
    try:
        await ensure_infra(infra_target(StackConfig.from_env()), say)
    except InfraError as exc:
        say(f"infrastructure: {exc}")
        return 3
    services = [s for s in args.profile.split(",") if s]
    out: Path = args.out
    spy: str | None = None
    if args.cprofile:
        # Read by every service the stack starts (fxmesh.lifecycle); dumped when each one stops.
        os.environ["FXMESH_CPROFILE"] = str(out / "cprofile")
    elif services:
        spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if spy is None:
            say("--profile needs py-spy (pip install -e '.[dev]')")
            return 2
    stack = BenchStack(say, router_in_oms=args.router_in_oms)
    pids: dict[str, int] = {}
    try:
        await stack.start()
        pids = {child.spec.name: child.proc.pid for child in stack.s.children}
        unknown = [s for s in services if s not in pids]
        if unknown:
            say(f"no such service in the stack: {', '.join(unknown)} (have {', '.join(pids)})")
            return 2
        pool = stack.edge_pool()
        try:
            flow = OrderFlow(pool, await stack.seed_accounts(args.accounts), ("EURUSD",))
            say(f"hold: warming up at {args.rate}/s")
            await run_open_loop(
                flow.sender("warm"),
                rate=args.rate,
                duration=WARMUP_SECONDS,
                warmup=0.0,
                request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
            recorders: dict[str, subprocess.Popen[bytes]] = {}

            def start_recording() -> None:
                for name in services if spy is not None else ():
                    cmd = [str(spy), "record", "-p", str(pids[name]), "-r", str(args.sample_rate)]
                    cmd += ["-d", str(int(args.seconds)), "-f", "raw", "-o"]
                    cmd += [str(out / f"{name}.folded"), *(["--native"] if args.native else [])]
                    recorders[name] = subprocess.Popen(
                        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                    )

            say(
                f"hold: {args.rate}/s for {args.seconds} s"
                + (f", {'cProfile' if args.cprofile else 'py-spy'} {services}" if services else "")
            )
            step = await run_open_loop(
                flow.sender("hold"),
                rate=args.rate,
                duration=args.seconds,
                warmup=0.0,
                request_timeout=REQUEST_TIMEOUT_SECONDS,
                meter=stack.cpu_meter(),
                on_measure_start=start_recording,
            )
            profiles: dict[str, Any] = {}
            for name, recorder in recorders.items():
                _, err = await asyncio.to_thread(recorder.communicate)
                if recorder.returncode != 0:
                    profiles[name] = {"error": err.decode(errors="replace").strip()[-400:]}
                    continue
                path = out / f"{name}.folded"
                profiles[name] = {"file": str(path), **await asyncio.to_thread(_read_shares, path)}
        finally:
            await pool.close()
    except Exception:
        stack.failed = True
        raise
    finally:
        await stack.stop()
    if args.cprofile:
        for name in services:
            dump = out / f"cprofile.{pids[name]}"
            profiles[name] = (
                {"file": str(dump), **await asyncio.to_thread(cprofile_top, dump)}
                if await asyncio.to_thread(dump.exists)
                else {"error": f"no cProfile dump at {dump}"}
            )
    print(
        json.dumps(
            {"step": step.as_json(), "cpu_idle": cpu_idle_facts(), "profiles": profiles}, indent=1
        )
    )
    return 0 if step.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.hold", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rate", type=float, default=50.0, help="market orders per second")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured (and profiled) time")
    parser.add_argument("--accounts", type=int, default=200, help="funded accounts the orders use")
    parser.add_argument(
        "--profile", default="", help="services to profile (py-spy, or --cprofile): oms,edge"
    )
    parser.add_argument("--native", action="store_true", help="py-spy with C frames")
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile every service instead of py-spy"
    )
    parser.add_argument("--sample-rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--out", help="where the profiles go (default: a new temporary directory)")
    add_topology_arguments(parser)
    add_cpu_awake_argument(parser)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.accounts <= 0:
        sys.exit("--rate, --seconds and --accounts must be positive")
    args.out = Path(args.out or tempfile.mkdtemp(prefix="fxmesh-hold-"))
    args.out.mkdir(parents=True, exist_ok=True)
    raise_fd_limit()
    sys.exit(uvloop.run(until_terminated(hold(args))))


if __name__ == "__main__":
    main()
