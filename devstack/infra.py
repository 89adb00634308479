"""Make PostgreSQL, Redis and RabbitMQ reachable on loopback for the local stack and the tests.

For each server, in order: use it when it already answers; otherwise start the installed server
with its data under the run directory; otherwise install it with apt-get (root only); otherwise
stop with a message saying exactly what is missing and how to install it. Only what is missing is
started, and nothing we did not start is ever stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg

Say = Callable[[str], None]

T = TypeVar("T")

APT_PACKAGES = {"postgresql": "postgresql", "redis": "redis-server", "rabbitmq": "rabbitmq-server"}
INSTALL_HINTS = {
    "postgresql": "sudo apt-get install -y postgresql   (macOS: brew install postgresql@16)",
    "redis": "sudo apt-get install -y redis-server   (macOS: brew install redis)",
    "rabbitmq": "sudo apt-get install -y rabbitmq-server   (macOS: brew install rabbitmq)",
}


class InfraError(RuntimeError):
    """A server is neither reachable nor startable here; the message says what to do."""


@dataclass(frozen=True, slots=True)
class InfraTarget:
    """Where the servers must answer, and how to find and start them."""

    host: str = "127.0.0.1"
    postgres_port: int = 5432
    redis_port: int = 6379
    amqp_port: int = 5672
    postgres_user: str = "postgres"
    amqp_user: str = "guest"
    amqp_password: str = "guest"
    run_dir: Path = Path(".run")
    # PATH used to find redis-server, rabbitmq-server, initdb, pg_ctl (None: the process's PATH).
    path: str | None = None
    # Glob of PostgreSQL server bin directories (Debian keeps initdb/pg_ctl off the PATH).
    postgres_bin_glob: str = "/usr/lib/postgresql/*/bin"
    # Install missing servers with apt-get when running as root (None: unless FXMESH_INFRA_INSTALL=0).
    allow_install: bool | None = None
    ready_timeout: float = 90.0

    @property
    def postgres_dsn(self) -> str:
        return f"postgresql://{self.postgres_user}@{self.host}:{self.postgres_port}/postgres"

    @property
    def redis_url(self) -> str:
        return f"redis://{self.host}:{self.redis_port}"

    @property
    def amqp_url(self) -> str:
        return f"amqp://{self.amqp_user}:{self.amqp_password}@{self.host}:{self.amqp_port}/"


@dataclass(slots=True)
class InfraReport:
    """What ensure_infra found or did, per server ("running", "started" or "installed+started")."""

    status: dict[str, str] = field(default_factory=dict)
    # How to stop what we started (never anything found running), recorded in <run>/infra.json.
    stop_commands: dict[str, list[str]] = field(default_factory=dict)


# -- probes ---------------------------------------------------------------------------------------


async def tcp_open(host: str, port: int, connect_timeout: float = 1.0) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), connect_timeout)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def _postgres_answers(target: InfraTarget) -> str | None:
    """None when we can log in; else why not."""
    try:
        conn = await asyncpg.connect(target.postgres_dsn, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


async def _wait_until(probe: Callable[[], object], within: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if loop.time() > deadline:
            raise InfraError(f"{what} did not become reachable within {within:.0f} s")
        await asyncio.sleep(0.5)


# -- helpers --------------------------------------------------------------------------------------


def _which(name: str, target: InfraTarget) -> str | None:
    return shutil.which(name, path=target.path)


def _postgres_bins(target: InfraTarget) -> tuple[str, str] | None:
    """initdb and pg_ctl of the newest installed PostgreSQL server."""

    def version(d: str) -> tuple[int, ...]:
        parts = Path(d).parent.name.split(".")
        return tuple(int(p) for p in parts if p.isdigit())

    for bindir in sorted(glob.glob(target.postgres_bin_glob), key=version, reverse=True):
        initdb, pg_ctl = Path(bindir, "initdb"), Path(bindir, "pg_ctl")
        if initdb.is_file() and pg_ctl.is_file():
            return str(initdb), str(pg_ctl)
    initdb_p, pg_ctl_p = _which("initdb", target), _which("pg_ctl", target)
    if initdb_p and pg_ctl_p:
        return initdb_p, pg_ctl_p
    return None


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _system_user(name: str) -> bool:
    try:
        import pwd

        pwd.getpwnam(name)
    except (ImportError, KeyError):
        return False
    return True


def _chown(path: Path, user: str) -> None:
    for p in [path, *path.rglob("*")]:
        shutil.chown(p, user, user)


async def _run(cmd: Sequence[str], say: Say, env: Mapping[str, str] | None = None) -> None:
    say("  $ " + " ".join(cmd))
    proc = await asyncio.to_thread(
        subprocess.run,
        list(cmd),
        env=dict(env) if env is not None else None,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
        raise InfraError(
            f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n" + "\n".join(out)
        )


def _install_allowed(target: InfraTarget) -> bool:
    if target.allow_install is not None:
        return target.allow_install
    return os.environ.get("FXMESH_INFRA_INSTALL", "1") != "0"


async def _apt_install(packages: list[str], target: InfraTarget, say: Say) -> bool:
    """Install with apt-get when root; False when that is not possible here."""
    if not packages or not _install_allowed(target) or not _is_root():
        return False
    if shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say(f"installing {' '.join(packages)} with apt-get (this takes a minute)...")
    await _run(["apt-get", "update"], say, env)
    await _run(["apt-get", "install", "-y", "--no-install-recommends", *packages], say, env)
    return True


def _missing(server: str, what: str) -> InfraError:
    return InfraError(
        f"{server} is not reachable and cannot be started here: {what}.\n"
        f"  Install it:  {INSTALL_HINTS[server.lower()]}\n"
        "  then run this command again (it starts the server with its data under .run/)."
    )


async def _find_or_install(
    server: str,
    find: Callable[[], T | None],
    absent: str,
    still_absent: str,
    target: InfraTarget,
    say: Say,
) -> tuple[T, str]:
    """Locate a server's programs, installing its Debian package first when they are missing.

    Returns what ``find`` found and the status to report: "started", or "installed+started" when
    apt-get had to install it.
    """
    found = find()
    if found is not None:
        return found, "started"
    if not await _apt_install([APT_PACKAGES[server.lower()]], target, say):
        raise _missing(server, absent)
    found = find()
    if found is None:
        raise _missing(server, still_absent)
    return found, "installed+started"


# -- PostgreSQL -----------------------------------------------------------------------------------


async def ensure_postgres(target: InfraTarget, say: Say = print) -> tuple[str, list[str]]:
    """Make PostgreSQL answer on target; returns (status, stop command or [])."""
    where = f"{target.host}:{target.postgres_port}"
    if await tcp_open(target.host, target.postgres_port):
        why = await _postgres_answers(target)
        if why is None:
            return "running", []
        raise InfraError(
            f"something listens on {where} but fxmesh cannot log in as "
            f"{target.postgres_user!r} without a password ({why}).\n"
            "  Allow trust/peer login for local development, or point FXMESH_POSTGRES_DSN elsewhere."
        )
    bins, status = await _find_or_install(
        "PostgreSQL",
        lambda: _postgres_bins(target),
        "initdb/pg_ctl not found (no PostgreSQL server installed)",
        "initdb/pg_ctl still not found after apt-get install",
        target,
        say,
    )
    # Debian's package may have started its own cluster on the default port.
    if (
        status == "installed+started"
        and await tcp_open(target.host, target.postgres_port)
        and not await _postgres_answers(target)
    ):
        return "installed", []
    initdb, pg_ctl = bins
    base = (target.run_dir / "postgres").resolve()
    data, sock, logfile = base / "data", base / "socket", base / "postgres.log"
    prefix: list[str] = []
    if _is_root():
        if not _system_user("postgres") or shutil.which("runuser") is None:
            raise InfraError(
                "PostgreSQL refuses to run as root and there is no 'postgres' user (or runuser) "
                "to run it as; run as a normal user or create the user"
            )
        prefix = ["runuser", "-u", "postgres", "--"]
    base.mkdir(parents=True, exist_ok=True)
    sock.mkdir(exist_ok=True)
    if prefix:
        _chown(base, "postgres")
    say(f"starting PostgreSQL on {where} (data in {data})")
    if not (data / "PG_VERSION").exists():
        await _run(
            [
                *prefix,
                initdb,
                "-D",
                str(data),
                "-U",
                target.postgres_user,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-locale",
            ],
            say,
        )
    options = (
        f"-c listen_addresses={target.host} -c port={target.postgres_port} "
        f"-c unix_socket_directories={sock}"
    )
    await _run(
        [
            *prefix,
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(logfile),
            "-w",
            "-t",
            "60",
            "-o",
            options,
            "start",
        ],
        say,
    )
    await _wait_until(lambda: _pg_ok(target), target.ready_timeout, f"PostgreSQL on {where}")
    return status, [*prefix, pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]


async def _pg_ok(target: InfraTarget) -> bool:
    return await _postgres_answers(target) is None


# -- Redis ----------------------------------------------------------------------------------------


async def ensure_redis(target: InfraTarget, say: Say = print) -> tuple[str, list[str]]:
    """Make Redis answer on target; returns (status, stop command or [])."""
    where = f"{target.host}:{target.redis_port}"
    if await tcp_open(target.host, target.redis_port):
        return "running", []
    server, status = await _find_or_install(
        "Redis",
        lambda: _which("redis-server", target),
        "redis-server not found on PATH",
        "redis-server still not found after apt-get install",
        target,
        say,
    )
    if status == "installed+started" and await tcp_open(target.host, target.redis_port):
        return "installed", []  # Debian's package started its own
    base = (target.run_dir / "redis").resolve()
    base.mkdir(parents=True, exist_ok=True)
    say(f"starting Redis on {where} (data in {base})")
    await _run(
        [
            server,
            "--port",
            str(target.redis_port),
            "--bind",
            target.host,
            "--dir",
            str(base),
            "--daemonize",
            "yes",
            "--save",
            "",
            "--appendonly",
            "no",
            "--pidfile",
            str(base / "redis.pid"),
            "--logfile",
            str(base / "redis.log"),
        ],
        say,
    )
    await _wait_until(
        lambda: tcp_open(target.host, target.redis_port), target.ready_timeout, f"Redis on {where}"
    )
    cli = _which("redis-cli", target)
    stop = (
        [cli, "-h", target.host, "-p", str(target.redis_port), "shutdown", "nosave"]
        if cli
        else ["sh", "-c", f"kill $(cat {base / 'redis.pid'})"]
    )
    return status, stop


# -- RabbitMQ -------------------------------------------------------------------------------------


async def ensure_rabbitmq(target: InfraTarget, say: Say = print) -> tuple[str, list[str]]:
    """Make RabbitMQ answer on target; returns (status, stop command or [])."""
    where = f"{target.host}:{target.amqp_port}"
    if await tcp_open(target.host, target.amqp_port):
        return "running", []
    server, status = await _find_or_install(
        "RabbitMQ",
        lambda: _which("rabbitmq-server", target),
        "rabbitmq-server not found on PATH",
        "rabbitmq-server still not found after apt-get install",
        target,
        say,
    )
    if status == "installed+started" and await tcp_open(target.host, target.amqp_port):
        return "installed", []  # Debian's package started its own
    base = (target.run_dir / "rabbitmq").resolve()
    base.mkdir(parents=True, exist_ok=True)
    if _is_root() and _system_user("rabbitmq"):
        # Debian's wrapper re-executes the broker as the rabbitmq user.
        _chown(base, "rabbitmq")
    env = {
        **os.environ,
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
        "RABBITMQ_NODE_IP_ADDRESS": target.host,
        "RABBITMQ_NODE_PORT": str(target.amqp_port),
    }
    say(f"starting RabbitMQ on {where} (data in {base}; this takes 10-20 s)")
    await _run([server, "-detached"], say, env)
    await _wait_until(
        lambda: tcp_open(target.host, target.amqp_port),
        max(target.ready_timeout, 120.0),
        f"RabbitMQ on {where} (logs in {base / 'log'})",
    )
    ctl = _which("rabbitmqctl", target)
    return status, ([ctl, "stop"] if ctl else [])


# -- all three ------------------------------------------------------------------------------------


async def ensure_infra(target: InfraTarget, say: Say = print) -> InfraReport:
    """Make all three servers reachable; raises InfraError listing every one that is not."""
    report = InfraReport()
    errors: list[str] = []
    steps = (
        ("postgresql", ensure_postgres),
        ("redis", ensure_redis),
        ("rabbitmq", ensure_rabbitmq),
    )
    for name, ensure in steps:
        try:
            status, stop = await ensure(target, say)
        except InfraError as exc:
            errors.append(str(exc))
            continue
        report.status[name] = status
        if stop:
            report.stop_commands[name] = stop
    if report.stop_commands:
        _record_started(target.run_dir, report.stop_commands)
    if errors:
        raise InfraError("\n\n".join(errors))
    return report


def _record_started(run_dir: Path, stops: dict[str, list[str]]) -> None:
    path = run_dir / "infra.json"
    known: dict[str, list[str]] = {}
    if path.exists():
        try:
            known = json.loads(path.read_text())
        except ValueError:
            known = {}
    known.update(stops)
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(known, indent=2) + "\n")


async def stop_started_infra(run_dir: Path, say: Say = print) -> None:
    """Stop only the servers that ensure_infra started (recorded in <run>/infra.json)."""
    path = run_dir / "infra.json"
    if not path.exists():
        say("no infrastructure was started by fxmesh; nothing to stop")
        return
    stops: dict[str, list[str]] = json.loads(path.read_text())
    for name, cmd in stops.items():
        say(f"stopping {name}")
        try:
            await _run(cmd, say)
        except (InfraError, OSError) as exc:
            print(f"  {name}: {exc}", file=sys.stderr)
    path.unlink()
