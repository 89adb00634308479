"""System health, the operator's key figures, and service restarts.

Health asks every service and dependency at once, each bounded by a timeout: the gRPC services
(oms, router, fixgw, quotes) over ``grpc.health.v1``, edge over its HTTP ``/readyz``, PostgreSQL,
Redis and RabbitMQ with a round trip; and every LP session from fixgw's ``ListSessions``. The
overall status is DOWN when a critical component (one the trading path cannot do without) is down,
DEGRADED when anything else is not up or no LP session is healthy, UP otherwise.

Metrics are what the existing RPCs tell (router's house exposure, fixgw's sessions, oms's
accounts) plus admin's own login locks; a source that does not answer is listed in
``unavailable`` and its figures are left out, so one service down never hides the others.

Restart answers 501 ``RESTART_NOT_SUPPORTED``: this deployment has no process supervisor admin
could ask (``python -m devstack`` is a developer launcher, not a control channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import aio_pika
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from admin.accounts import OMS_LIST_LIMIT
from admin.clients import FixgwClient, OmsClient, RouterClient
from admin.domain import (
    AccountsSummary,
    ClientAccount,
    ComponentHealth,
    ExposureSummary,
    Kind,
    LpHealth,
    LpSession,
    LpSummary,
    MarginWatchEntry,
    RequestContext,
    Status,
    SymbolExposure,
    SystemHealth,
    SystemMetrics,
    TopTraders,
    TradingSummary,
)
from admin.gate import Gate
from admin.permissions import Op
from fxmesh.db import Pool
from fxmesh.errors import FxError, InvalidArgument

RESTARTABLE = ("oms", "router", "fixgw", "quotes", "edge", "admin")
CRITICAL = frozenset({"postgresql", "redis", "oms", "router", "quotes", "edge"})
"""Without any of these no client order is taken or priced."""


class NotSupported(FxError):
    """An operation this deployment cannot carry out (HTTP 501, gRPC UNIMPLEMENTED)."""

    code = grpc.StatusCode.UNIMPLEMENTED
    default_reason = "NOT_SUPPORTED"


class ProbeFailed(Exception):
    """A component answered, but not as healthy; the message says how."""


Check = Callable[[], Awaitable[str]]
"""Ask a component once; return a short detail when it is up, raise when it is not."""


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    kind: Kind
    check: Check

    @property
    def critical(self) -> bool:
        return self.name in CRITICAL


# --- probes --------------------------------------------------------------------------------------


def grpc_health_check(channel: grpc.aio.Channel, timeout: float) -> Check:
    """``grpc.health.v1.Health/Check`` of the whole server ('' service) over ``channel``."""
    stub: Any = health_pb2_grpc.HealthStub(channel)

    async def check() -> str:
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=timeout)
        name = str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))
        if reply.status != health_pb2.HealthCheckResponse.SERVING:
            raise ProbeFailed(name)
        return name

    return check


def http_ready_check(addr: str, path: str = "/readyz") -> Check:
    """GET http://addr/path must answer 200 (a tiny HTTP/1.1 client: no extra dependency)."""

    async def check() -> str:
        host, _, port = addr.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status_line = (await reader.readline()).decode("latin-1").split()
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        code = status_line[1] if len(status_line) >= 2 else "?"
        if code != "200":
            raise ProbeFailed(f"{path} answered {code}")
        return f"{path} 200"

    return check


def postgres_check(pool: Pool) -> Check:
    async def check() -> str:
        if await pool.fetchval("SELECT 1") != 1:
            raise ProbeFailed("SELECT 1 did not answer 1")
        return "SELECT 1"

    return check


def redis_check(redis: Redis) -> Check:
    async def check() -> str:
        if not await cast(Awaitable[bool], redis.ping()):
            raise ProbeFailed("PING refused")
        return "PING"

    return check


class AmqpCheck:
    """A RabbitMQ round trip (a channel opened and closed) on one kept connection, reconnected
    when it was lost."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._connection: Any = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        async with self._lock:
            detail = "channel round trip"
            if self._connection is None or self._connection.is_closed:
                self._connection = await aio_pika.connect(self._url)
                detail = "connected; channel round trip"
            channel = await self._connection.channel()
            await channel.close()
            return detail

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed:
            await self._connection.close()


def lp_status(s: LpSession) -> Status:
    if s.healthy:
        # Takes orders, but fixgw's recent outcomes put it last in line (rejects, slow fills).
        return Status.DEGRADED if s.health is not None and s.health.degraded else Status.UP
    return Status.DEGRADED if s.logged_on else Status.DOWN


def overall(components: Sequence[ComponentHealth], lps: Sequence[LpHealth]) -> Status:
    if any(c.critical and c.status is Status.DOWN for c in components):
        return Status.DOWN
    if any(c.status is not Status.UP for c in components):
        return Status.DEGRADED
    if not any(lp.status is Status.UP for lp in lps):
        return Status.DEGRADED
    return Status.UP


class SystemDesk:
    def __init__(
        self,
        gate: Gate,
        db: Any,
        oms: OmsClient,
        fixgw: FixgwClient,
        router: RouterClient,
        probes: Sequence[Probe],
        *,
        probe_timeout: float,
        now: Callable[[], datetime],
    ) -> None:
        self._gate = gate
        self._db = db
        self._oms = oms
        self._fixgw = fixgw
        self._router = router
        self._probes = list(probes)
        self._probe_timeout = probe_timeout
        self._now = now

    async def _run(self, probe: Probe) -> ComponentHealth:
        started = time.perf_counter()
        try:
            detail = await asyncio.wait_for(probe.check(), self._probe_timeout)
            status = Status.UP
        except TimeoutError:
            detail, status = f"no answer within {self._probe_timeout:g} s", Status.DOWN
        except ProbeFailed as exc:
            detail, status = str(exc), Status.DOWN
        except grpc.aio.AioRpcError as exc:
            detail, status = exc.code().name, Status.DOWN
        except Exception as exc:  # any failure of a probe is that component down
            detail, status = type(exc).__name__, Status.DOWN
        latency = timedelta(seconds=time.perf_counter() - started)
        return ComponentHealth(
            probe.name,
            probe.kind,
            status,
            probe.critical,
            latency if status is Status.UP else None,
            detail,
        )

    async def _lp_sessions(self) -> list[LpSession]:
        return await self._fixgw.sessions(within=self._probe_timeout)

    async def health(self, ctx: RequestContext) -> SystemHealth:
        async with self._gate.guard(ctx, Op.SYSTEM_HEALTH):
            checked_at = self._now()
            sessions_call = asyncio.ensure_future(self._lp_sessions())
            components = list(await asyncio.gather(*(self._run(p) for p in self._probes)))
            lp_error = ""
            try:
                sessions = await sessions_call
            except FxError as exc:
                sessions, lp_error = [], exc.reason
            lps = [LpHealth(s, lp_status(s)) for s in sessions]
            return SystemHealth(overall(components, lps), checked_at, components, lps, lp_error)

    async def metrics(self, ctx: RequestContext) -> SystemMetrics:
        async with self._gate.guard(ctx, Op.SYSTEM_METRICS):
            collected_at = self._now()
            exposure, sessions, accounts = await asyncio.gather(
                self._router.house_exposure(),
                self._lp_sessions(),
                self._oms.list_accounts(OMS_LIST_LIMIT),
                return_exceptions=True,
            )
            unavailable = [
                name
                for name, got in (("router", exposure), ("fixgw", sessions), ("oms", accounts))
                if isinstance(got, BaseException)
            ]
            for got in (exposure, sessions, accounts):
                if isinstance(got, BaseException) and not isinstance(got, FxError):
                    raise got
            locked: int = await self._db.fetchval(
                "SELECT count(*) FROM admin.login_failures WHERE locked_until > $1", collected_at
            )
            return SystemMetrics(
                collected_at,
                None if isinstance(exposure, BaseException) else _exposure(exposure),
                None if isinstance(sessions, BaseException) else _lps(sessions),
                None if isinstance(accounts, BaseException) else _accounts(accounts),
                locked,
                unavailable,
            )

    async def today(self, ctx: RequestContext, since: datetime | None = None) -> TradingSummary:
        """Orders, deals, lots and active clients since ``since`` (default the start of the UTC
        day); open positions and pending orders now."""
        async with self._gate.guard(ctx, Op.SUMMARY_GET):
            return await self._oms.trading_summary(since)

    async def top_traders(
        self, ctx: RequestContext, since: datetime | None = None, limit: int = 0
    ) -> TopTraders:
        """The best and worst net results since ``since`` (default the start of the UTC day)."""
        async with self._gate.guard(ctx, Op.RISK_TOP_TRADERS):
            return await self._oms.top_traders(since, limit)

    async def margin_watch(self, ctx: RequestContext, within: str = "") -> list[MarginWatchEntry]:
        """Accounts at most ``within`` percentage points above their margin-call level."""
        async with self._gate.guard(ctx, Op.RISK_MARGIN_WATCH):
            return await self._oms.margin_watch(within.strip())

    async def restart(self, ctx: RequestContext, service: str) -> None:
        """Always refused: 400 UNKNOWN_SERVICE, else 501 RESTART_NOT_SUPPORTED (audited)."""
        name = service.strip().lower()
        async with self._gate.guard(ctx, Op.SYSTEM_RESTART, f"service:{name[:32]}") as audit:
            audit.details = {"service": name[:32]}
            if name not in RESTARTABLE:
                raise InvalidArgument(
                    f"unknown service {service!r}; one of {', '.join(RESTARTABLE)}",
                    reason="UNKNOWN_SERVICE",
                    metadata={"field": "service", "allowed": ",".join(RESTARTABLE)},
                )
            raise NotSupported(
                f"cannot restart {name}: this deployment has no process supervisor admin can "
                "drive; restart it with your orchestrator (systemd, Kubernetes, ...)",
                reason="RESTART_NOT_SUPPORTED",
                metadata={"service": name, "cause": "NO_SUPERVISOR"},
            )


def _exposure(rows: list[SymbolExposure]) -> ExposureSummary:
    return ExposureSummary(
        symbols=sum(1 for e in rows if e.net_volume != 0),
        gross_notional_usd=sum((e.notional_usd for e in rows), Decimal(0)),
        unrealized_pnl_usd=sum((_or_zero(e.unrealized_pnl_usd) for e in rows), Decimal(0)),
        realized_pnl_usd=sum((_or_zero(e.realized_pnl_usd) for e in rows), Decimal(0)),
    )


def _or_zero(value: Decimal | None) -> Decimal:
    # Not ``value or 0``: a Decimal("0.00") must keep its places in the sum ("0.00", not "0").
    return Decimal(0) if value is None else value


def _lps(sessions: list[LpSession]) -> LpSummary:
    return LpSummary(
        total=len(sessions),
        logged_on=sum(1 for s in sessions if s.logged_on),
        healthy=sum(1 for s in sessions if s.healthy),
        orders_unresolved=sum(s.orders_unresolved for s in sessions),
        ticks_received=sum(s.ticks_received for s in sessions),
    )


def _accounts(accounts: list[ClientAccount]) -> AccountsSummary:
    by_status: dict[str, int] = {}
    for a in accounts:
        name = a.status or "UNSPECIFIED"
        by_status[name] = by_status.get(name, 0) + 1
    return AccountsSummary(
        counted=len(accounts),
        by_status=dict(sorted(by_status.items())),
        truncated=len(accounts) >= OMS_LIST_LIMIT,
    )


def default_probes(
    *,
    timeout: float,
    pool: Pool,
    redis: Redis,
    amqp: Check,
    channels: dict[str, grpc.aio.Channel],
    edge_http_addr: str,
) -> list[Probe]:
    """The components of one deployment: ``channels`` by service name (oms, router, fixgw,
    quotes), edge's HTTP address, and the dependencies' clients."""
    probes = [
        Probe(name, Kind.SERVICE, grpc_health_check(channel, timeout))
        for name, channel in channels.items()
    ]
    probes.append(Probe("edge", Kind.SERVICE, http_ready_check(edge_http_addr)))
    probes += [
        Probe("postgresql", Kind.DEPENDENCY, postgres_check(pool)),
        Probe("redis", Kind.DEPENDENCY, redis_check(redis)),
        Probe("rabbitmq", Kind.DEPENDENCY, amqp),
    ]
    return probes
