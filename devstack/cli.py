"""``python -m devstack infra|migrate|seed|up|down|status``: the local stack from one command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from devstack.catalogue import DEMO_ACCOUNT
from devstack.infra import InfraError, InfraTarget, ensure_infra, stop_started_infra
from devstack.probes import log_tail, probe_ok
from devstack.seeds import seed_all
from devstack.supervisor import (
    Stack,
    StackConfig,
    StackError,
    default_run_dir,
    service_specs,
)
from fxmesh.migrations import migrate_all

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# In the supervisor's command line (``python -m devstack up ...``), not in its children's
# (``python -m devstack.lpsim``): guards the pid in the state file against reuse.
SUPERVISOR_MARK = "-m devstack up"


def _say(line: str) -> None:
    print(line, flush=True)


def infra_target(cfg: StackConfig, allow_install: bool | None = None) -> InfraTarget:
    pg, rd, mq = urlsplit(cfg.postgres_dsn), urlsplit(cfg.redis_url), urlsplit(cfg.amqp_url)
    return InfraTarget(
        host=cfg.host,
        postgres_port=pg.port or 5432,
        redis_port=rd.port or 6379,
        amqp_port=mq.port or 5672,
        postgres_user=pg.username or "postgres",
        amqp_user=mq.username or "guest",
        amqp_password=mq.password or "guest",
        run_dir=Path(cfg.run_dir),
        allow_install=allow_install,
    )


async def cmd_infra(cfg: StackConfig, allow_install: bool | None = None) -> int:
    hosts = {urlsplit(u).hostname for u in (cfg.postgres_dsn, cfg.redis_url, cfg.amqp_url)}
    if not hosts <= LOOPBACK:
        _say(
            f"infrastructure is not on loopback ({', '.join(sorted(map(str, hosts)))}); not managed"
        )
        return 0
    try:
        report = await ensure_infra(infra_target(cfg, allow_install), _say)
    except InfraError as exc:
        print(f"fxmesh: {exc}", file=sys.stderr)
        return 3
    for name, status in report.status.items():
        _say(f"{name:<10} {status}")
    return 0


# -- state file (.run/stack.json) ------------------------------------------------------------------


def state_path(cfg: StackConfig) -> Path:
    return Path(cfg.run_dir) / "stack.json"


def write_state(cfg: StackConfig, state: str, stack: Stack | None = None, error: str = "") -> None:
    data: dict[str, object] = {"supervisor_pid": os.getpid(), "state": state, "error": error}
    if stack is not None:
        data["services"] = [
            {
                "name": c.spec.name,
                "module": c.spec.module,
                "pid": c.proc.pid,
                "address": c.spec.address,
                "metrics": c.spec.metrics,
                "log": str(c.log),
            }
            for c in stack.children
        ]
    path = state_path(cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def read_state(cfg: StackConfig) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(state_path(cfg).read_text())
    except (OSError, ValueError):
        return None
    return data


def _alive(pid: int, needle: str) -> bool:
    """True if pid runs and its command line mentions needle (guards against pid reuse)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return needle in cmdline


# -- banner ----------------------------------------------------------------------------------------


def banner(stack: Stack) -> str:
    rows = [("service", "address", "metrics", "log")]
    cwd = Path.cwd()
    for c in stack.children:
        log = c.log.resolve()
        shown = log.relative_to(cwd) if log.is_relative_to(cwd) else log
        rows.append((c.spec.name, c.spec.address, c.spec.metrics, str(shown)))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["", "fxmesh is up:", ""]
    lines += ["  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    if stack.config.profile == "local":
        env = os.environ
        login = env.get("FXMESH_DEMO_LOGIN", DEMO_ACCOUNT.login)
        password = env.get("FXMESH_DEMO_PASSWORD", DEMO_ACCOUNT.password)
        lines += [
            "",
            f"  demo client  login {login} / password {password}   (edge {stack.edge_url})",
            f"  admin        {env.get('FXMESH_ADMIN_USERNAME', 'admin')} / "
            f"{env.get('FXMESH_ADMIN_PASSWORD', 'admin1234')}   (admin {stack.admin_url}/admin)",
            "",
            "  first order:",
            f"    TOKEN=$(curl -s -X POST {stack.edge_url}/api/login -H 'content-type: application/json' \\",
            f'      -d \'{{"login":"{login}","password":"{password}"}}\' | python3 -c '
            "'import json,sys; print(json.load(sys.stdin)[\"accessToken\"])')",
            f'    curl -s -X POST {stack.edge_url}/api/orders/market -H "authorization: Bearer $TOKEN" \\',
            "      -H 'content-type: application/json' \\",
            # A fresh clientOrderId each time: re-sending one returns the first order (idempotency).
            '      -d \'{"symbol":"EURUSD","side":"BUY","volume":"0.10",'
            '"clientOrderId":"first-\'"$(date +%s)"\'"}\'',
        ]
    detached = os.environ.get("FXMESH_STACK_DETACHED") == "1"
    lines += ["", f"  stop: {'deploy/local/down' if detached else 'Ctrl-C'}", ""]
    return "\n".join(lines)


# -- up / down / status ----------------------------------------------------------------------------


async def cmd_up(cfg: StackConfig, args: argparse.Namespace) -> int:
    state = read_state(cfg)
    if state and _alive(int(state.get("supervisor_pid", 0)), SUPERVISOR_MARK):
        print(
            f"fxmesh: a stack is already running (supervisor pid {state['supervisor_pid']}); "
            "stop it with deploy/local/down",
            file=sys.stderr,
        )
        return 1
    if not args.no_infra and await cmd_infra(cfg) != 0:
        return 3
    if args.detach:
        return await _up_detached(cfg, args)
    return await _supervise(cfg, args)


async def _supervise(cfg: StackConfig, args: argparse.Namespace) -> int:
    """Start everything, print the banner, then run until SIGINT/SIGTERM."""
    stack = Stack(cfg)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    write_state(cfg, "starting")
    starter = asyncio.ensure_future(
        stack.start(_say, migrate=not args.no_migrate, seed=not args.no_seed)
    )
    stop_wait = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({starter, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
    if not starter.done():
        _say("interrupted; stopping what was started...")
        starter.cancel()
        with contextlib.suppress(asyncio.CancelledError, StackError):
            await starter
        write_state(cfg, "stopped")
        return 130
    stop_wait.cancel()
    try:
        starter.result()
    except (StackError, OSError) as exc:
        write_state(cfg, "failed", error=str(exc))
        print(f"fxmesh: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        write_state(cfg, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    write_state(cfg, "ready", stack)
    _say(banner(stack))
    reported: set[str] = set()
    while not stopping.is_set():
        for child in stack.dead_children():
            if child.spec.name not in reported:
                reported.add(child.spec.name)
                _say(
                    f"!! {child.spec.name} exited with status {child.proc.returncode}; "
                    f"last lines of {child.log}:\n{log_tail(child.log, 15)}"
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 1.0)
    _say("stopping fxmesh...")
    write_state(cfg, "stopping", stack)
    await stack.stop(_say)
    state_path(cfg).unlink(missing_ok=True)
    _say("stopped")
    return 0


def _spawn_supervisor(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, "FXMESH_STACK_DETACHED": "1"},
        )


async def _gone(pid: int, needle: str, within: float) -> bool:
    """Poll until pid exits (True) or ``within`` seconds pass (False)."""
    deadline = time.monotonic() + within
    while True:
        if not _alive(pid, needle):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.3)


async def _up_detached(cfg: StackConfig, args: argparse.Namespace) -> int:
    """Run the supervisor in its own session; return once it reports ready (or failed)."""
    log = Path(cfg.run_dir) / "logs" / "stack.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    state_path(cfg).unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "devstack", "up", "--no-infra"]
    if args.no_migrate:
        cmd.append("--no-migrate")
    if args.no_seed:
        cmd.append("--no-seed")
    if args.only:
        cmd += ["--only", args.only]
    cmd.append("--router-in-oms" if args.router_in_oms else "--router-separate")
    cmd += ["--timeout", str(args.timeout)]
    proc = _spawn_supervisor(cmd, log)
    _say(f"starting fxmesh in the background (supervisor pid {proc.pid}, log {log})...")
    while True:
        await asyncio.sleep(0.5)
        state = read_state(cfg)
        if state and state.get("supervisor_pid") == proc.pid and state.get("state") == "ready":
            break
        if proc.poll() is not None or (state and state.get("state") == "failed"):
            print(
                f"fxmesh: the stack failed to start; {log}:\n{log_tail(log, 40)}", file=sys.stderr
            )
            return 1
    _say(log_tail(log, 40))
    _say(f"running in the background; stop with: deploy/local/down   (pids in {state_path(cfg)})")
    return 0


async def cmd_down(cfg: StackConfig, args: argparse.Namespace) -> int:
    state = read_state(cfg)
    if not state:
        _say("no fxmesh stack is running here")
    else:
        pid = int(state.get("supervisor_pid", 0))
        if pid and _alive(pid, SUPERVISOR_MARK):
            _say(f"stopping the stack (supervisor pid {pid})...")
            os.kill(pid, signal.SIGTERM)
            await _gone(pid, SUPERVISOR_MARK, 90)
        # Supervisor gone (crashed or killed): stop any child it left behind.
        services: list[dict[str, Any]] = state.get("services") or []
        leftovers = [s for s in services if _alive(int(s["pid"]), str(s["module"]))]
        for s in reversed(leftovers):
            _say(f"stopping leftover {s['name']} (pid {s['pid']})")
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(s["pid"]), signal.SIGTERM)
        deadline = time.monotonic() + 15
        while any(_alive(int(s["pid"]), str(s["module"])) for s in leftovers):
            if time.monotonic() > deadline:
                for s in leftovers:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(s["pid"]), signal.SIGKILL)
                break
            await asyncio.sleep(0.2)
        state_path(cfg).unlink(missing_ok=True)
        _say("stopped")
    if args.infra:
        await stop_started_infra(Path(cfg.run_dir), _say)
    return 0


async def cmd_status(cfg: StackConfig) -> int:
    state = read_state(cfg) or {}
    pids = {str(s["name"]): int(s["pid"]) for s in state.get("services") or []}
    if state:
        _say(f"supervisor pid {state.get('supervisor_pid')} ({state.get('state')})")
    all_up = True
    for spec in service_specs(cfg):
        ok = all([await probe_ok(p) for p in spec.probes])
        all_up &= ok
        pid = pids.get(spec.name)
        _say(
            f"  {spec.name:<7} {'UP  ' if ok else 'DOWN'} {spec.address:<55} "
            + (f"pid {pid}" if pid else "")
        )
    return 0 if all_up else 1


# -- entry point -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    infra = sub.add_parser("infra", help="make PostgreSQL, Redis and RabbitMQ reachable")
    infra.add_argument("--no-install", action="store_true", help="never apt-get install")
    sub.add_parser("migrate", help="create the database and apply every migration")
    sub.add_parser("seed", help="load the demo symbols, accounts and users")
    up = sub.add_parser("up", help="start the whole stack (Ctrl-C stops it)")
    up.add_argument("--detach", action="store_true", help="run in the background")
    up.add_argument("--no-infra", action="store_true", help="do not start infrastructure")
    up.add_argument("--no-migrate", action="store_true")
    up.add_argument("--no-seed", action="store_true")
    up.add_argument("--only", default="", help="comma-separated subset, e.g. lpsim,quotes,fixgw")
    up.add_argument("--timeout", type=float, default=60.0, help="seconds each service may take")
    add_topology_arguments(up)
    down = sub.add_parser("down", help="stop a stack started with --detach")
    down.add_argument("--infra", action="store_true", help="also stop servers fxmesh started")
    sub.add_parser("status", help="show which services answer their health checks")
    return parser


def add_topology_arguments(parser: argparse.ArgumentParser) -> None:
    """``--router-in-oms`` (the default) / ``--router-separate`` into ``args.router_in_oms``:
    where the router runs, for ``up`` and for the bench alike."""
    topology = parser.add_mutually_exclusive_group()
    topology.add_argument(
        "--router-in-oms",
        dest="router_in_oms",
        action="store_true",
        default=True,
        help="run the router in the oms process (FXMESH_OMS_ROUTER_IN_PROCESS; the default: "
        "no gRPC hop for B-book orders)",
    )
    topology.add_argument(
        "--router-separate",
        dest="router_in_oms",
        action="store_false",
        help="run the router in its own process, as the cluster deploy does",
    )


async def run(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides: dict[str, object] = {"run_dir": default_run_dir()}
    if getattr(args, "only", ""):
        overrides["services"] = tuple(s.strip() for s in args.only.split(",") if s.strip())
    if getattr(args, "timeout", None):
        overrides["ready_timeout"] = args.timeout
    if getattr(args, "router_in_oms", False):
        overrides["router_in_oms"] = True
    try:
        cfg = StackConfig.from_env(**overrides)
        if args.command == "infra":
            return await cmd_infra(cfg, False if args.no_install else None)
        if args.command == "migrate":
            applied = await migrate_all(cfg.postgres_dsn)
            _say(f"{len(applied)} migrations applied" + "".join(f"\n  {m}" for m in applied))
            return 0
        if args.command == "seed":
            for line in await seed_all(cfg.postgres_dsn):
                _say(line)
            return 0
        if args.command == "up":
            return await cmd_up(cfg, args)
        if args.command == "down":
            return await cmd_down(cfg, args)
        return await cmd_status(cfg)
    except (StackError, OSError) as exc:
        print(f"fxmesh: {exc}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> None:
    sys.exit(asyncio.run(run(argv)))
