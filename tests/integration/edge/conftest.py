"""edge against a small in-test OmsService (real grpc.aio server on port 0) and a real uvicorn.

The fake oms (edge_fake_oms.py) stands at the gRPC boundary: it records each request and answers
with fixed protos. quotes is the real service (market history routes), on the test database with
a clock the tests set (``EdgeUnderTest.quotes_clock``). Redis and RabbitMQ are the real ones from
tests/conftest.py (test Redis db, private exchange).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from edge_fake_oms import CLIENTS, FakeOms
from edge_quotes import QuotesClock, start_quotes_for_edge
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from edge.app import create_app
from edge.config import EdgeSettings
from edge.deps import EdgeResources
from edge.wsserver import edge_http_server
from fxmesh.grpcserver import GrpcServer
from fxmesh.v1 import oms_pb2_grpc
from quotes.server import QuotesApp

JWT_SECRET = "edge-test-secret-0123456789"


@dataclass
class EdgeUnderTest:
    base_url: str
    ws_url: str
    oms: FakeOms
    settings: EdgeSettings
    app: Any
    quotes: QuotesApp
    quotes_clock: QuotesClock

    @property
    def resources(self) -> EdgeResources:
        """What edge's lifespan opened (its hub, feeds, Redis)."""
        resources: EdgeResources = self.app.state.resources
        return resources

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


def _ensure_tracer_provider() -> None:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


@pytest.fixture(scope="session")
async def edge(
    pg_dsn: str, redis_url: str, amqp_url: str, events_exchange: str
) -> AsyncIterator[EdgeUnderTest]:
    _ensure_tracer_provider()
    oms = FakeOms()
    grpc_server = GrpcServer("edgetestoms", "127.0.0.1:0")
    grpc_server.add(oms_pb2_grpc.add_OmsServiceServicer_to_server, oms, "fxmesh.v1.OmsService")
    oms_port = await grpc_server.start()
    quotes_clock = QuotesClock()
    quotes, quotes_pool = await start_quotes_for_edge(pg_dsn, redis_url, quotes_clock)
    settings = EdgeSettings(
        oms_addr=f"127.0.0.1:{oms_port}",
        quotes_addr=f"127.0.0.1:{quotes.port}",
        redis_url=redis_url,
        amqp_url=amqp_url,
        events_exchange=events_exchange,
        jwt_secret=JWT_SECRET,
        edge_http_addr="127.0.0.1:0",
    )
    app = create_app(settings)
    # As python -m edge serves it: edge's WebSocket protocol (frames straight to the socket).
    server = edge_http_server(app, settings.edge_http_addr, ws_ping_interval=20.0)
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    under_test = EdgeUnderTest(
        f"http://127.0.0.1:{port}",
        f"ws://127.0.0.1:{port}/ws",
        oms,
        settings,
        app,
        quotes,
        quotes_clock,
    )
    async with under_test.client() as http, asyncio.timeout(60):
        while True:
            if (await http.get("/readyz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
    yield under_test
    server.should_exit = True
    await serving
    await grpc_server.stop(0)
    await quotes.stop(grace=0)
    await quotes_pool.close()


async def login(edge: EdgeUnderTest, user: str) -> dict[str, Any]:
    async with edge.client() as http:
        response = await http.post("/api/login", json={"login": user, "password": CLIENTS[user][0]})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
async def alice_token(edge: EdgeUnderTest) -> str:
    return str((await login(edge, "alice"))["accessToken"])


@pytest.fixture
async def bob_token(edge: EdgeUnderTest) -> str:
    return str((await login(edge, "bob"))["accessToken"])
