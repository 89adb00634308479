"""Run every fxmesh service (and the LP simulator) as child processes, ready-checked, stopped in order.

``Stack`` is the programmatic API behind ``python -m devstack up`` and the end-to-end tests::

    stack = Stack(StackConfig.isolated(tmp_path))   # free ports, private database/Redis db/exchange
    await stack.start()                             # migrate, seed, spawn, wait for health
    ...                                             # stack.edge_url, stack.lpsim_control_url, ...
    await stack.stop()                              # SIGTERM in reverse start order, then SIGKILL

Each child is ``sys.executable -m <module>`` with every address in its environment and its output in
``<run dir>/logs/<service>.log``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.asyncio as aioredis

from devstack.probes import Probe, log_tail, port_in_use, probe_ok
from devstack.seeds import seed_all
from fxmesh.migrations import migrate_all

Say = Callable[[str], None]
# The LP simulators' names (and SenderCompIDs): fixgw's LP names in a two-LP stack.
FIRST_LP, SECOND_LP = "LPSIM", "LPSIM2"
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_run_dir() -> Path:
    """``$FXMESH_RUN_DIR`` or ``<project>/.run``."""
    return Path(os.environ.get("FXMESH_RUN_DIR") or PROJECT_ROOT / ".run")


class StackError(RuntimeError):
    """The stack could not start; the message names the service and shows its log tail."""


@dataclass(frozen=True, slots=True)
class StackPorts:
    """Every TCP port the stack listens on (defaults: the local profile)."""

    edge_http: int = 8080
    admin_http: int = 8081
    oms: int = 50051
    router: int = 50052
    fixgw: int = 50053
    quotes: int = 50054
    admin_grpc: int = 50055
    oms_metrics: int = 9101
    router_metrics: int = 9102
    fixgw_metrics: int = 9103
    quotes_metrics: int = 9104
    lpsim_fix: int = 9876
    lpsim_control: int = 9877
    # The second LP simulator (only with StackConfig.second_lp).
    lpsim2_fix: int = 9878
    lpsim2_control: int = 9879

    @classmethod
    def free(cls, host: str = "127.0.0.1") -> StackPorts:
        """Distinct ports that are free right now (all bound at once, then released)."""
        socks: list[socket.socket] = []
        try:
            for _ in fields(cls):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind((host, 0))
            return cls(*(s.getsockname()[1] for s in socks))
        finally:
            for s in socks:
                s.close()


@dataclass(frozen=True, slots=True)
class StackConfig:
    """Where the stack's processes listen and which infrastructure they use."""

    ports: StackPorts = field(default_factory=StackPorts)
    host: str = "127.0.0.1"
    postgres_dsn: str = "postgresql://postgres@127.0.0.1:5432/fxmesh"
    redis_url: str = "redis://127.0.0.1:6379/0"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    events_exchange: str = "fxmesh.events"
    run_dir: Path = field(default_factory=default_run_dir)
    profile: str = "local"
    # Extra environment for every child (wins over everything else).
    env: Mapping[str, str] = field(default_factory=dict)
    # Services to run (None: all), by name: lpsim, quotes, fixgw, router, oms, admin, edge.
    services: tuple[str, ...] | None = None
    ready_timeout: float = 60.0
    stop_grace: float = 15.0
    # Drop the database, the exchange and the Redis database's keys on stop (private test stacks).
    ephemeral: bool = False
    # Trade every symbol around the clock, whatever the weekday (private test and bench stacks).
    markets_always_open: bool = False
    # Run a second LP simulator ("LPSIM2", SenderCompID LPSIM2) and connect fixgw to both: the
    # A-book's failover and multi-LP paths (fixgw tries LPSIM first, then LPSIM2).
    second_lp: bool = False
    # Run the router in the oms process (FXMESH_OMS_ROUTER_IN_PROCESS) instead of its own: B-book
    # orders skip a gRPC hop (docs/performance.md). Its gRPC server keeps the router's port.
    # `python -m devstack up` and the bench default to it; off here, so the test stacks keep
    # exercising the router's own process and gRPC hop, as the cluster deploy runs it.
    router_in_oms: bool = False

    @classmethod
    def from_env(cls, **overrides: object) -> StackConfig:
        """The local profile, with FXMESH_POSTGRES_DSN / REDIS_URL / AMQP_URL / EVENTS_EXCHANGE."""
        env = os.environ
        base = cls()
        values: dict[str, object] = {
            "postgres_dsn": env.get("FXMESH_POSTGRES_DSN", base.postgres_dsn),
            "redis_url": env.get("FXMESH_REDIS_URL", base.redis_url),
            "amqp_url": env.get("FXMESH_AMQP_URL", base.amqp_url),
            "events_exchange": env.get("FXMESH_EVENTS_EXCHANGE", base.events_exchange),
        }
        values.update(overrides)
        return replace(base, **values)  # type: ignore[arg-type]

    @classmethod
    def isolated(
        cls,
        run_dir: Path,
        *,
        postgres_server: str = "postgresql://postgres@127.0.0.1:5432",
        redis_server: str = "redis://127.0.0.1:6379",
        redis_db: int = 13,
        amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/",
        **overrides: object,
    ) -> StackConfig:
        """A private stack: free ports, its own database, Redis database and exchange."""
        run_id = uuid.uuid4().hex[:8]
        values: dict[str, object] = {
            "ports": StackPorts.free(),
            "postgres_dsn": f"{postgres_server}/fxmesh_stack_{run_id}",
            "redis_url": f"{redis_server}/{redis_db}",
            "amqp_url": amqp_url,
            "events_exchange": f"fxmesh.events.stack.{run_id}",
            "run_dir": run_dir,
            "profile": "test",
            "ephemeral": True,
            "markets_always_open": True,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


async def claim_redis_db(
    redis_server: str, owner: str, candidates: Sequence[int] = range(1, 14)
) -> int:
    """Reserve an empty Redis logical database for a private stack (a claim key with a TTL)."""
    for db in candidates:
        client = aioredis.Redis.from_url(f"{redis_server}/{db}")
        try:
            if await client.dbsize() == 0 and await client.set(
                "fxmesh:stack:claim", owner, nx=True, ex=6 * 3600
            ):
                return db
        finally:
            await client.aclose()
    raise StackError(f"no empty Redis database among {list(candidates)} on {redis_server}")


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """One child process: what to run, how to tell it is ready, what to show the developer."""

    name: str
    module: str
    tier: int  # started tier by tier; a tier waits for the previous one to be ready
    probes: tuple[Probe, ...]
    address: str
    metrics: str
    metrics_port: int = 0
    # Command to run instead of ``python -m <module>`` (tests use stand-ins).
    argv: tuple[str, ...] | None = None
    # Environment of this child only (wins over the stack's).
    env: Mapping[str, str] = field(default_factory=dict)


def service_specs(cfg: StackConfig) -> list[ServiceSpec]:
    """The stack's processes in start order."""
    h, p = cfg.host, cfg.ports

    def grpc_svc(
        name: str, tier: int, port: int, metrics_port: int, health_service: str = ""
    ) -> ServiceSpec:
        return ServiceSpec(
            name,
            name,
            tier,
            (Probe("grpc", f"{h}:{port}", health_service),),
            f"{h}:{port} (gRPC)",
            f"http://{h}:{metrics_port}/metrics",
            metrics_port,
        )

    specs = [
        ServiceSpec(
            "lpsim",
            "devstack.lpsim",
            0,
            (Probe("http", f"{h}:{p.lpsim_control}"),),
            f"FIX {h}:{p.lpsim_fix}, control http://{h}:{p.lpsim_control}",
            f"http://{h}:{p.lpsim_control}/metrics",
        ),
        *(
            [
                ServiceSpec(
                    "lpsim2",
                    "devstack.lpsim",
                    0,
                    (Probe("http", f"{h}:{p.lpsim2_control}"),),
                    f"FIX {h}:{p.lpsim2_fix}, control http://{h}:{p.lpsim2_control}",
                    f"http://{h}:{p.lpsim2_control}/metrics",
                    env={
                        "FXMESH_LPSIM_FIX_PORT": str(p.lpsim2_fix),
                        "FXMESH_LPSIM_CONTROL_PORT": str(p.lpsim2_control),
                        "FXMESH_LPSIM_SENDER_COMP_ID": SECOND_LP,
                    },
                )
            ]
            if cfg.second_lp
            else []
        ),
        grpc_svc("quotes", 0, p.quotes, p.quotes_metrics),
        grpc_svc("fixgw", 1, p.fixgw, p.fixgw_metrics),
        *(
            []
            if cfg.router_in_oms
            else [grpc_svc("router", 1, p.router, p.router_metrics, "fxmesh.v1.RouterService")]
        ),
        (
            replace(
                grpc_svc("oms", 2, p.oms, p.oms_metrics),
                probes=(
                    Probe("grpc", f"{h}:{p.oms}", ""),
                    Probe("grpc", f"{h}:{p.router}", "fxmesh.v1.RouterService"),
                ),
                address=f"{h}:{p.oms} (gRPC), router {h}:{p.router} (gRPC)",
                env={"FXMESH_OMS_ROUTER_IN_PROCESS": "true"},
            )
            if cfg.router_in_oms
            else grpc_svc("oms", 2, p.oms, p.oms_metrics)
        ),
        ServiceSpec(
            "admin",
            "admin",
            3,
            (Probe("grpc", f"{h}:{p.admin_grpc}"), Probe("http", f"{h}:{p.admin_http}")),
            f"http://{h}:{p.admin_http}/admin, {h}:{p.admin_grpc} (gRPC)",
            f"http://{h}:{p.admin_http}/metrics",
        ),
        ServiceSpec(
            "edge",
            "edge",
            3,
            (Probe("http", f"{h}:{p.edge_http}"),),
            f"http://{h}:{p.edge_http}/api, ws://{h}:{p.edge_http}/ws",
            f"http://{h}:{p.edge_http}/metrics",
        ),
    ]
    if cfg.services is not None:
        unknown = set(cfg.services) - {s.name for s in specs}
        if cfg.router_in_oms and "router" in unknown:
            raise StackError(
                "the router runs in the oms process in this topology: name oms instead of "
                "router, or run the router in its own process (--router-separate)"
            )
        if unknown:
            raise StackError(f"unknown service(s): {', '.join(sorted(unknown))}")
        specs = [s for s in specs if s.name in cfg.services]
    return specs


def stack_env(cfg: StackConfig) -> dict[str, str]:
    """The environment every child shares (FXMESH_METRICS_PORT is added per child)."""
    h, p = cfg.host, cfg.ports
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "FXMESH_PROFILE": cfg.profile,
        "FXMESH_LOG_FORMAT": "json",
        "FXMESH_POSTGRES_DSN": cfg.postgres_dsn,
        "FXMESH_REDIS_URL": cfg.redis_url,
        "FXMESH_AMQP_URL": cfg.amqp_url,
        "FXMESH_EVENTS_EXCHANGE": cfg.events_exchange,
        "FXMESH_RUN_DIR": str(Path(cfg.run_dir).resolve()),
        "FXMESH_OMS_ADDR": f"{h}:{p.oms}",
        "FXMESH_ROUTER_ADDR": f"{h}:{p.router}",
        "FXMESH_FIXGW_ADDR": f"{h}:{p.fixgw}",
        "FXMESH_QUOTES_ADDR": f"{h}:{p.quotes}",
        "FXMESH_ADMIN_GRPC_ADDR": f"{h}:{p.admin_grpc}",
        "FXMESH_EDGE_HTTP_ADDR": f"{h}:{p.edge_http}",
        "FXMESH_ADMIN_HTTP_ADDR": f"{h}:{p.admin_http}",
        "FXMESH_LPSIM_FIX_PORT": str(p.lpsim_fix),
        "FXMESH_LPSIM_CONTROL_PORT": str(p.lpsim_control),
        "FXMESH_FIXGW_LP_HOST": h,
        "FXMESH_FIXGW_LP_PORT": str(p.lpsim_fix),
        # The router's computed rule inputs (docs/routing.md levels 3a to 3c) run in the stack.
        "FXMESH_ROUTER_FLOW_FEED": os.environ.get("FXMESH_ROUTER_FLOW_FEED", "true"),
    }
    if cfg.second_lp:
        env["FXMESH_FIXGW_LPS"] = json.dumps(
            [
                {"name": FIRST_LP, "host": h, "port": p.lpsim_fix, "target_comp_id": FIRST_LP},
                {"name": SECOND_LP, "host": h, "port": p.lpsim2_fix, "target_comp_id": SECOND_LP},
            ]
        )
    env.update(cfg.env)
    return env


# -- the stack ------------------------------------------------------------------------------------


@dataclass(slots=True)
class Child:
    spec: ServiceSpec
    proc: subprocess.Popen[bytes]
    log: Path


class Stack:
    """Start and stop a whole fxmesh stack from Python (the CLI and the e2e tests use this)."""

    def __init__(
        self,
        config: StackConfig | None = None,
        *,
        ports: StackPorts | None = None,
        env: Mapping[str, str] | None = None,
        specs: Sequence[ServiceSpec] | None = None,
    ) -> None:
        cfg = config or StackConfig.from_env()
        if ports is not None:
            cfg = replace(cfg, ports=ports)
        if env is not None:
            cfg = replace(cfg, env={**cfg.env, **env})
        self.config = cfg
        self.specs = list(specs) if specs is not None else service_specs(cfg)
        self.children: list[Child] = []
        self.log_dir = Path(cfg.run_dir) / "logs"

    # Addresses the tests and the banner use.
    @property
    def edge_url(self) -> str:
        return f"http://{self.config.host}:{self.config.ports.edge_http}"

    @property
    def edge_ws_url(self) -> str:
        return f"ws://{self.config.host}:{self.config.ports.edge_http}/ws"

    @property
    def admin_url(self) -> str:
        return f"http://{self.config.host}:{self.config.ports.admin_http}"

    @property
    def lpsim_control_url(self) -> str:
        return f"http://{self.config.host}:{self.config.ports.lpsim_control}"

    @property
    def lpsim2_control_url(self) -> str:
        """The second LP simulator's control API (StackConfig.second_lp)."""
        return f"http://{self.config.host}:{self.config.ports.lpsim2_control}"

    def log_file(self, service: str) -> Path:
        return self.log_dir / f"{service}.log"

    def check_ports_free(self) -> None:
        """Fail early, naming the service, when one of our ports is already taken."""
        owners = {
            "edge": ["edge_http"],
            "admin": ["admin_http", "admin_grpc"],
            "oms": ["oms", "oms_metrics"],
            "router": ["router", "router_metrics"],
            "fixgw": ["fixgw", "fixgw_metrics"],
            "quotes": ["quotes", "quotes_metrics"],
            "lpsim": ["lpsim_fix", "lpsim_control"],
            "lpsim2": ["lpsim2_fix", "lpsim2_control"],
        }
        busy = [
            f"  {spec.name}: port {getattr(self.config.ports, attr)} ({attr}) is in use"
            for spec in self.specs
            for attr in owners.get(spec.name, [])
            if port_in_use(self.config.host, getattr(self.config.ports, attr))
        ]
        if busy:
            raise StackError(
                "cannot start: ports are taken (another stack running? try deploy/local/down)\n"
                + "\n".join(busy)
            )

    async def prepare(self, say: Say = print, *, migrate: bool = True, seed: bool = True) -> None:
        """Migrate every schema and seed the demo data."""
        if migrate:
            applied = await migrate_all(self.config.postgres_dsn)
            say(
                f"migrations: {len(applied)} applied"
                + (f" ({', '.join(applied)})" if applied else "")
            )
        if seed:
            lines = await seed_all(
                self.config.postgres_dsn, markets_always_open=self.config.markets_always_open
            )
            for line in lines:
                say(f"seed  {line}")

    async def start(self, say: Say = print, *, migrate: bool = True, seed: bool = True) -> None:
        """Migrate, seed, then start every service tier by tier and wait until each is ready.

        On any failure (or cancellation) whatever was started is stopped before the error propagates.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.check_ports_free()
        try:
            if self.config.ephemeral:
                await self._flush_redis()
            await self.prepare(say, migrate=migrate, seed=seed)
            env = stack_env(self.config)
            for tier in sorted({s.tier for s in self.specs}):
                batch = [s for s in self.specs if s.tier == tier]
                for spec in batch:
                    self._spawn(spec, env)
                    say(f"started {spec.name} (pid {self.children[-1].proc.pid})")
                await asyncio.gather(*(self._wait_ready(c) for c in self.children[-len(batch) :]))
                for spec in batch:
                    say(f"ready   {spec.name}")
        except BaseException:
            await self.stop(say)
            raise

    def _spawn(self, spec: ServiceSpec, env: Mapping[str, str], *, append: bool = False) -> None:
        log = self.log_file(spec.name)
        with log.open("ab" if append else "wb") as out:
            proc = subprocess.Popen(
                list(spec.argv or (sys.executable, "-m", spec.module)),
                env={**env, "FXMESH_METRICS_PORT": str(spec.metrics_port), **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children in order
            )
        self.children.append(Child(spec, proc, log))

    async def _wait_ready(self, child: Child) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.ready_timeout
        pending = list(child.spec.probes)
        while True:
            rc = child.proc.poll()
            if rc is not None:
                raise StackError(
                    f"{child.spec.name} exited with status {rc} before it was ready "
                    f"(python -m {child.spec.module}).\n--- last lines of {child.log} ---\n"
                    f"{log_tail(child.log)}"
                )
            pending = [p for p in pending if not await probe_ok(p)]
            if not pending:
                return
            if loop.time() > deadline:
                waiting = ", ".join(p.describe() for p in pending)
                raise StackError(
                    f"{child.spec.name} was not ready after {self.config.ready_timeout:.0f} s "
                    f"(no answer from {waiting}).\n--- last lines of {child.log} ---\n"
                    f"{log_tail(child.log)}"
                )
            await asyncio.sleep(0.3)

    def _child(self, service: str) -> Child:
        for child in self.children:
            if child.spec.name == service:
                return child
        raise StackError(f"no running child named {service}")

    def kill(self, service: str) -> None:
        """SIGKILL one service, as a crash would (restart tests); ``restart`` brings it back."""
        child = self._child(service)
        with contextlib.suppress(ProcessLookupError):
            child.proc.kill()
        child.proc.wait()

    async def restart(self, service: str) -> None:
        """Start a killed or exited service again with the stack's environment; wait until ready.

        Its log is kept: the new process appends after a marker line.
        """
        child = self._child(service)
        if child.proc.poll() is None:
            raise StackError(f"{service} is still running; kill or stop it first")
        self.children.remove(child)
        with child.log.open("ab") as out:
            out.write(
                f"--- restarted by the supervisor (previous exit {child.proc.returncode})\n".encode()
            )
        self._spawn(child.spec, stack_env(self.config), append=True)
        await self._wait_ready(self.children[-1])

    def dead_children(self) -> list[Child]:
        """Children that exited on their own (for the supervisor's watch loop)."""
        return [c for c in self.children if c.proc.poll() is not None]

    async def stop(self, say: Say = print) -> None:
        """SIGTERM tier by tier in reverse start order, wait, SIGKILL stragglers; then clean up."""
        tiers = sorted({c.spec.tier for c in self.children}, reverse=True)
        for tier in tiers:
            batch = [c for c in reversed(self.children) if c.spec.tier == tier]
            for child in batch:
                if child.proc.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        child.proc.send_signal(signal.SIGTERM)
            await asyncio.gather(*(self._reap(c, say) for c in batch))
        self.children.clear()
        if self.config.ephemeral:
            await self._drop_private_state()

    async def _reap(self, child: Child, say: Say) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.stop_grace
        while child.proc.poll() is None:
            if loop.time() > deadline:
                break
            await asyncio.sleep(0.1)
        if child.proc.poll() is None:
            say(f"{child.spec.name} did not stop within {self.config.stop_grace:.0f} s; killing it")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            child.proc.wait()

    async def _flush_redis(self) -> None:
        client = aioredis.Redis.from_url(self.config.redis_url)
        try:
            claim = await client.get("fxmesh:stack:claim")
            await client.flushdb()
            if claim is not None:
                await client.set("fxmesh:stack:claim", claim, ex=6 * 3600)
        finally:
            await client.aclose()

    async def _drop_private_state(self) -> None:
        """Remove the private database, exchange (and the router's flow queue on it) and Redis
        keys of an ephemeral stack."""
        parts = urlsplit(self.config.postgres_dsn)
        dbname = parts.path.lstrip("/")
        with contextlib.suppress(OSError, asyncpg.PostgresError):
            conn = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
            finally:
                await conn.close()
        with contextlib.suppress(OSError, aioredis.RedisError):
            client = aioredis.Redis.from_url(self.config.redis_url)
            try:
                await client.flushdb()
            finally:
                await client.aclose()
        with contextlib.suppress(Exception):
            import aio_pika

            connection = await aio_pika.connect(self.config.amqp_url)
            async with connection:
                channel = await connection.channel()
                # The router's durable flow queue (router.flowfeed.queue_name) outlives it.
                await channel.queue_delete(f"{self.config.events_exchange}.router-flow")
                await channel.exchange_delete(self.config.events_exchange)
