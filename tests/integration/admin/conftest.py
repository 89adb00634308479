"""admin against real servers: the real admin (REST app + gRPC AdminService), a real in-process
oms (accounts, ledger) on the test PostgreSQL and Redis, and small real gRPC stand-ins for fixgw
(LP sessions) and router (house exposure), the test doubles of those process boundaries. System
health asks real gRPC health servers (oms's own, the stand-ins', a bare one for quotes), a small
real HTTP server standing in for edge's /readyz, and the test PostgreSQL, Redis and RabbitMQ."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from admin import repository
from admin.config import AdminSettings
from admin.domain import Role
from admin.rest.app import create_app
from admin.service import AdminService
from admin.servicer import AdminServicer
from admin.system import AmqpCheck, default_probes
from fxmesh import passwords
from fxmesh.auth import issue_token
from fxmesh.db import create_pool
from fxmesh.errors import AlreadyExists, InvalidArgument, NotFound
from fxmesh.grpcclient import open_channel
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import (
    admin_pb2_grpc,
    fixgw_pb2,
    fixgw_pb2_grpc,
    oms_pb2,
    oms_pb2_grpc,
    quotes_pb2,
    quotes_pb2_grpc,
    router_pb2,
    router_pb2_grpc,
    router_whatif_pb2,
    types_pb2,
)
from oms import OmsApp, OmsSettings
from quotes.markups import GroupMarkups
from quotes.servicer import QuotesServicer
from router import config_convert, configuration

JWT_SECRET = "admin-test-secret-0123456789"
USERS = {
    "root": ("root-password", Role.SUPER_ADMIN),
    "boss": ("boss-password", Role.ADMIN),
    "risky": ("risky-password", Role.RISK_MANAGER),
    "dealer": ("dealer-password", Role.DEALER),
    "helpdesk": ("helpdesk-password", Role.SUPPORT),
}
BY_ROLE = {role: name for name, (_, role) in USERS.items()}
LOCK_AFTER = 3
APPROVAL_ABOVE = Decimal("1000")
"""Withdrawals above this wait for a second admin (test_admin_withdrawals.py)."""


class StandInFixgw(fixgw_pb2_grpc.FixGatewayServiceServicer):
    """LP sessions LPSIM and LP2 that connect and disconnect on request."""

    def __init__(self) -> None:
        self.states = {
            "LPSIM": fixgw_pb2.SESSION_STATE_LOGGED_ON,
            "LP2": fixgw_pb2.SESSION_STATE_LOGGED_ON,
        }
        # Orders held for reconciliation per LP: a logged-on session with any is not healthy.
        self.unresolved: dict[str, int] = {}

    def _session(self, name: str) -> fixgw_pb2.LpSession:
        if name not in self.states:
            raise NotFound(f"unknown LP {name!r}", reason="LP_NOT_FOUND", metadata={"lp": name})
        state = self.states[name]
        logged_on = state == fixgw_pb2.SESSION_STATE_LOGGED_ON
        unresolved = self.unresolved.get(name, 0)
        session = fixgw_pb2.LpSession(
            name=name,
            session_id=f"FIX.4.4:FXMESH->{name}",
            logged_on=logged_on,
            healthy=logged_on and not unresolved,
            orders_unresolved=unresolved,
            ticks_received=100,
            state=state,
            subscribed_symbols=["EURUSD", "GBPUSD"],
            next_sender_seq_num=7,
            next_target_seq_num=9,
            enabled=True,
            source=fixgw_pb2.LP_SOURCE_SETTINGS,
            lp_type="FIX",
            definition=fixgw_pb2.LpDefinition(
                name=name, host="127.0.0.1", port=9876, target_comp_id=name
            ),
        )
        if logged_on:
            session.heartbeat_rtt.FromMilliseconds(12)
        return session

    async def ListSessions(self, request: Any, context: Any) -> fixgw_pb2.ListSessionsResponse:
        return fixgw_pb2.ListSessionsResponse(sessions=[self._session(n) for n in self.states])

    async def GetSession(self, request: Any, context: Any) -> fixgw_pb2.GetSessionResponse:
        return fixgw_pb2.GetSessionResponse(session=self._session(request.name))

    async def Connect(self, request: Any, context: Any) -> fixgw_pb2.ConnectResponse:
        self._session(request.name)
        self.states[request.name] = fixgw_pb2.SESSION_STATE_LOGGED_ON
        return fixgw_pb2.ConnectResponse(session=self._session(request.name))

    async def Disconnect(self, request: Any, context: Any) -> fixgw_pb2.DisconnectResponse:
        self._session(request.name)
        self.states[request.name] = fixgw_pb2.SESSION_STATE_DISCONNECTED
        return fixgw_pb2.DisconnectResponse(session=self._session(request.name))

    async def Reconnect(self, request: Any, context: Any) -> fixgw_pb2.ReconnectResponse:
        self._session(request.name)
        self.states[request.name] = fixgw_pb2.SESSION_STATE_CONNECTING
        return fixgw_pb2.ReconnectResponse(session=self._session(request.name))

    # LP administration: only the refusals the role matrix provokes (the real behaviour is tested
    # against a real fixgw in test_admin_lps.py).

    async def CreateLp(self, request: Any, context: Any) -> fixgw_pb2.CreateLpResponse:
        if request.lp.name in self.states:
            raise AlreadyExists(
                f"LP {request.lp.name} exists", reason="LP_EXISTS", metadata={"lp": request.lp.name}
            )
        raise InvalidArgument("not in the stand-in", reason="INVALID_LP_CONFIG")

    async def UpdateLp(self, request: Any, context: Any) -> fixgw_pb2.UpdateLpResponse:
        return fixgw_pb2.UpdateLpResponse(session=self._session(request.lp.name))

    async def DeleteLp(self, request: Any, context: Any) -> fixgw_pb2.DeleteLpResponse:
        return fixgw_pb2.DeleteLpResponse(session=self._session(request.name))

    async def SetLpEnabled(self, request: Any, context: Any) -> fixgw_pb2.SetLpEnabledResponse:
        return fixgw_pb2.SetLpEnabledResponse(session=self._session(request.name))


class StandInQuotes(quotes_pb2_grpc.QuotesServiceServicer):
    """quotes' LP board: LP1 streams EURUSD (one crossed tick dropped), LP2 is silent. Group
    markups are quotes's real servicer on the test database (``quotes.markups``)."""

    def __init__(self, pool: Any = None) -> None:
        self._markups = QuotesServicer(None, None, GroupMarkups(pool))  # type: ignore[arg-type]

    async def ListGroupMarkups(self, request: Any, context: Any) -> Any:
        return await self._markups.ListGroupMarkups(request, context)

    async def SetGroupMarkup(self, request: Any, context: Any) -> Any:
        return await self._markups.SetGroupMarkup(request, context)

    async def DeleteGroupMarkup(self, request: Any, context: Any) -> Any:
        return await self._markups.DeleteGroupMarkup(request, context)

    async def ListLpStatistics(self, request: Any, context: Any) -> Any:
        seen = Timestamp()
        seen.FromSeconds(1_767_323_045)
        feeds = [
            quotes_pb2.LpFeedStatistics(
                lp="LP1",
                symbol="EURUSD",
                ticks_last_minute=600,
                ticks_total=12_000,
                dropped_by_reason={"crossed": 1},
                dropped_total=1,
                latency_p50_ms=3,
                latency_p99_ms=12,
                last_tick_time=seen,
                streaming_since=seen,
            ),
            quotes_pb2.LpFeedStatistics(
                lp="LP2", symbol="EURUSD", ticks_total=40, last_tick_time=seen
            ),
        ]
        return quotes_pb2.ListLpStatisticsResponse(
            feeds=[
                f
                for f in feeds
                if (not request.lp or f.lp == request.lp)
                and (not request.symbol or f.symbol == request.symbol)
            ]
        )


ROUTED_ORDER = "4242"
"""The one order the stand-in router has a routing decision of (a C-book split)."""


class StandInRouter(router_pb2_grpc.RouterServiceServicer):
    pool: Any = None
    """The test database: the routing configuration RPCs run router's own code on it."""

    async def GetRoutingConfig(
        self, request: Any, context: Any
    ) -> router_pb2.GetRoutingConfigResponse:
        async with self.pool.acquire() as conn:
            config = await configuration.read(conn)
        return router_pb2.GetRoutingConfigResponse(config=config_convert.config_message(config))

    async def ChangeRoutingConfig(
        self, request: Any, context: Any
    ) -> router_pb2.ChangeRoutingConfigResponse:
        async with self.pool.acquire() as conn:
            result = await configuration.change(conn, config_convert.change_request(request))
        return config_convert.change_response(result)

    async def Explain(self, request: Any, context: Any) -> router_pb2.ExplainResponse:
        if request.order_id != ROUTED_ORDER:
            raise NotFound(f"order {request.order_id} was never routed", reason="ORDER_NOT_ROUTED")
        decided = Timestamp()
        decided.FromSeconds(1_767_323_045)
        return router_pb2.ExplainResponse(
            order_id=ROUTED_ORDER,
            account_id="7",
            symbol="EURUSD",
            side=types_pb2.SIDE_BUY,
            volume="3.00",
            book=types_pb2.BOOK_C,
            routing_reason="EXPOSURE_LIMIT_HEDGE",
            level="EXPOSURE_LIMIT",
            rule_id=12,
            config_version=9,
            a_volume="1.00",
            b_volume="2.00",
            hedge_ratio="0",
            status=router_pb2.EXECUTION_STATUS_FILLED,
            decide_time=decided,
            legs=[
                router_pb2.RoutingLeg(
                    book=types_pb2.BOOK_A, venue="LP1", volume="1.00", price="1.08461"
                ),
                router_pb2.RoutingLeg(
                    book=types_pb2.BOOK_B, venue="BBOOK", volume="2.00", price="1.08460"
                ),
            ],
            inputs=[
                router_pb2.RoutingInput(name="house_net_lots", value="-49.00"),
                router_pb2.RoutingInput(name="toxicity", value=""),
            ],
            steps=[
                router_pb2.RoutingStep(level="RULE", outcome="B", detail="rule 12"),
                router_pb2.RoutingStep(level="EXPOSURE_LIMIT", outcome="C 1.00/2.00"),
            ],
        )

    async def WhatIf(self, request: Any, context: Any) -> router_whatif_pb2.WhatIfResponse:
        """Three recorded orders, one of them routed differently by any proposed rules."""
        if request.start_time.seconds >= request.end_time.seconds:
            raise InvalidArgument("start_time must be before end_time", reason="INVALID_TIME_RANGE")
        changed = 1 if request.config.HasField("routing_rules") else 0
        outcome = router_whatif_pb2.WhatIfOutcome(
            venue_mix=[
                router_whatif_pb2.WhatIfVenueMix(
                    book=types_pb2.BOOK_B, orders=3, a_volume="0", b_volume="3.00"
                )
            ],
            house_pnl_usd="12.50",
            hedge_volume="0",
        )
        return router_whatif_pb2.WhatIfResponse(
            orders=3,
            base_config_version=9,
            recorded=outcome,
            proposed=outcome,
            changed_count=changed,
            changed_orders=[
                router_whatif_pb2.WhatIfChangedOrder(
                    order_id=ROUTED_ORDER,
                    symbol="EURUSD",
                    volume="1.00",
                    recorded_book=types_pb2.BOOK_B,
                    proposed_book=types_pb2.BOOK_A,
                    proposed_reason="GROUP_A_BOOK",
                )
            ][:changed],
        )

    async def GetHouseExposure(
        self, request: Any, context: Any
    ) -> router_pb2.GetHouseExposureResponse:
        return router_pb2.GetHouseExposureResponse(
            exposures=[
                router_pb2.SymbolExposure(
                    symbol="EURUSD",
                    net_volume="-1.50",
                    notional_usd="162675.00",
                    avg_price="1.08450",
                    realized_pnl_usd="12.30",
                    unrealized_pnl_usd="-4.10",
                    client_net_volume="-3.50",
                    hedge_net_volume="2.00",
                )
            ]
        )


class StandInEdge:
    """A real HTTP server answering GET /readyz like edge: 200, or 503 while ``ready`` is off."""

    def __init__(self) -> None:
        self.ready = True
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        status = "200 OK" if self.ready else "503 Service Unavailable"
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@dataclass
class AdminUnderTest:
    pool: Any
    service: AdminService
    settings: AdminSettings
    grpc_target: str
    oms: oms_pb2_grpc.OmsServiceStub
    fixgw: StandInFixgw
    edge: StandInEdge
    tokens: dict[str, str] = field(default_factory=dict)

    def http(self, token: str | None = None, **headers: str) -> httpx.AsyncClient:
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(self.service)),
            base_url="http://admin",
            headers=headers,
        )

    async def login(self, username: str) -> str:
        if username not in self.tokens:
            result = await self.service.login(username, USERS[username][0])
            self.tokens[username] = result.access_token
        return self.tokens[username]

    async def token_of(self, role: Role) -> str:
        return await self.login(BY_ROLE[role])

    async def audit_rows(self, action: str, actor: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT * FROM admin.audit_log WHERE action = $1 AND actor = $2 ORDER BY audit_id",
            action,
            actor,
        )
        return [dict(r) for r in rows]

    async def last_audit(self, action: str) -> dict[str, Any]:
        row = await self.pool.fetchrow(
            "SELECT * FROM admin.audit_log WHERE action = $1 ORDER BY audit_id DESC LIMIT 1",
            action,
        )
        assert row is not None, f"no audit row for {action}"
        return dict(row)

    async def new_account(self, deposit: str = "1000.00", currency: str = "USD") -> str:
        """A fresh client account opened through oms's CreateAccount."""
        reply = await self.oms.CreateAccount(
            oms_pb2.CreateAccountRequest(
                login=f"adm-{uuid.uuid4().hex[:10]}",
                password="correct-horse",
                type=types_pb2.ACCOUNT_TYPE_DEMO,
                currency=currency,
                leverage=100,
                initial_deposit=deposit,
            ),
            timeout=10,
        )
        return reply.account.account_id

    async def ledger(self, account_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT type, amount, balance_after, reference, note, request_id, method FROM oms.ledger "
            "WHERE account_id = $1 ORDER BY ledger_id",
            int(account_id),
        )
        return [dict(r) for r in rows]


@pytest.fixture(scope="session")
async def admin(
    pg_dsn: str, redis_url: str, amqp_url: str, events_exchange: str
) -> AsyncIterator[AdminUnderTest]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())
    pool = await create_pool(pg_dsn, "admin-test")
    for username, (password, role) in USERS.items():
        await repository.upsert_user(pool, username, passwords.hash_password(password), role)

    fixgw, router = StandInFixgw(), StandInRouter()
    router.pool = pool
    stand_ins = GrpcServer("adminteststandins", "127.0.0.1:0")
    stand_ins.add(
        fixgw_pb2_grpc.add_FixGatewayServiceServicer_to_server, fixgw, "fxmesh.v1.FixGatewayService"
    )
    stand_ins.add(
        router_pb2_grpc.add_RouterServiceServicer_to_server, router, "fxmesh.v1.RouterService"
    )
    stand_ins.add(
        quotes_pb2_grpc.add_QuotesServiceServicer_to_server,
        StandInQuotes(pool),
        "fxmesh.v1.QuotesService",
    )
    stand_in_port = await stand_ins.start()
    oms_app = OmsApp(
        OmsSettings(
            profile="test",
            postgres_dsn=pg_dsn,
            redis_url=redis_url,
            amqp_url=amqp_url,
            events_exchange=events_exchange,
            oms_addr="127.0.0.1:0",
            router_addr=f"127.0.0.1:{stand_in_port}",
            metrics_port=0,
            grpc_deadline_seconds=10.0,
            shutdown_grace_seconds=1.0,
            symbols_cache_seconds=0.0,
        ),
        run_relay=False,
    )
    oms_port = await oms_app.start()
    settings = AdminSettings(
        jwt_secret=JWT_SECRET,
        oms_addr=f"127.0.0.1:{oms_port}",
        fixgw_addr=f"127.0.0.1:{stand_in_port}",
        router_addr=f"127.0.0.1:{stand_in_port}",
        admin_login_max_failures=LOCK_AFTER,
        admin_login_max_failures_per_ip=10_000,
        admin_withdrawal_approval_above=APPROVAL_ABOVE,
    )
    quotes = GrpcServer("adminteststandinquotes", "127.0.0.1:0")  # gRPC health alone
    quotes_port = await quotes.start()
    edge = StandInEdge()
    edge_addr = await edge.start()
    channels = [
        open_channel(a)
        for a in (settings.oms_addr, settings.fixgw_addr, f"127.0.0.1:{quotes_port}")
    ]
    redis = aioredis.Redis.from_url(redis_url)
    amqp = AmqpCheck(amqp_url)
    service = AdminService(
        settings,
        pool,
        oms_pb2_grpc.OmsServiceStub(channels[0]),
        fixgw_pb2_grpc.FixGatewayServiceStub(channels[1]),
        router_pb2_grpc.RouterServiceStub(channels[1]),
        quotes=quotes_pb2_grpc.QuotesServiceStub(channels[1]),
        probes=default_probes(
            timeout=settings.admin_health_timeout_seconds,
            pool=pool,
            redis=redis,
            amqp=amqp,
            channels={
                "oms": channels[0],
                "router": channels[1],
                "fixgw": channels[1],
                "quotes": channels[2],
            },
            edge_http_addr=edge_addr,
        ),
    )
    admin_server = GrpcServer("admintest", "127.0.0.1:0")
    admin_server.add(
        admin_pb2_grpc.add_AdminServiceServicer_to_server,
        AdminServicer(service),
        "fxmesh.v1.AdminService",
    )
    admin_port = await admin_server.start()
    yield AdminUnderTest(
        pool,
        service,
        settings,
        f"127.0.0.1:{admin_port}",
        oms_pb2_grpc.OmsServiceStub(channels[0]),
        fixgw,
        edge,
    )
    await admin_server.stop(0)
    for channel in channels:
        await channel.close()
    await amqp.close()
    await redis.aclose()
    await edge.stop()
    await quotes.stop(0)
    await oms_app.stop()
    await stand_ins.stop(0)
    await pool.close()


@pytest.fixture
async def admin_stub(admin: AdminUnderTest) -> AsyncIterator[admin_pb2_grpc.AdminServiceStub]:
    channel = open_channel(admin.grpc_target)
    yield admin_pb2_grpc.AdminServiceStub(channel)
    await channel.close()


def bearer(token: str, request_id: str | None = None) -> list[tuple[str, str]]:
    metadata = [("authorization", f"Bearer {token}")]
    if request_id:
        metadata.append(("x-request-id", request_id))
    return metadata


@pytest.fixture
def client_token(admin: AdminUnderTest) -> str:
    token, _ = issue_token(
        JWT_SECRET, subject="1001", token_type="client", ttl=timedelta(hours=1), login="demo"
    )
    return token
