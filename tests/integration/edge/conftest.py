"""edge against a small in-test OmsService (real grpc.aio server on port 0) and a real uvicorn.

Redis and RabbitMQ are the real ones from tests/conftest.py (test Redis db, private exchange).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider

from edge.app import create_app
from edge.config import EdgeSettings
from fxmesh.errors import InvalidArgument, NotFound, Unauthenticated
from fxmesh.grpcserver import GrpcServer
from fxmesh.http import http_server
from fxmesh.v1 import oms_pb2, oms_pb2_grpc, types_pb2

JWT_SECRET = "edge-test-secret-0123456789"
CLIENTS = {"alice": ("alice-pw", "1001"), "bob": ("bob-pw", "1002")}
REJECTED_VOLUME = "99"


@dataclass
class FakeOms(oms_pb2_grpc.OmsServiceServicer):
    """Just enough of oms to exercise edge: records what it was asked."""

    placed: list[oms_pb2.PlaceOrderRequest] = field(default_factory=list)
    traceparents: list[str] = field(default_factory=list)
    orders: dict[str, types_pb2.Order] = field(default_factory=dict)

    def _record_trace(self, context: grpc.aio.ServicerContext) -> None:
        for key, value in context.invocation_metadata() or ():
            if key == "traceparent":
                self.traceparents.append(str(value))

    async def AuthenticateClient(
        self, request: oms_pb2.AuthenticateClientRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.AuthenticateClientResponse:
        known = CLIENTS.get(request.login)
        if known is None or known[0] != request.password:
            raise Unauthenticated("login or password is wrong", reason="INVALID_CREDENTIALS")
        return oms_pb2.AuthenticateClientResponse(account_id=known[1], login=request.login)

    async def PlaceOrder(
        self, request: oms_pb2.PlaceOrderRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.PlaceOrderResponse:
        self._record_trace(context)
        self.placed.append(request)
        if request.symbol == "NOPE":
            raise InvalidArgument(
                "unknown symbol NOPE", reason="UNKNOWN_SYMBOL", metadata={"symbol": "NOPE"}
            )
        now = Timestamp()
        now.GetCurrentTime()
        order = types_pb2.Order(
            order_id=f"ord-{len(self.placed)}",
            account_id=request.account_id,
            client_order_id=request.client_order_id,
            symbol=request.symbol,
            side=request.side,
            type=request.type,
            volume=request.volume,
            create_time=now,
            update_time=now,
        )
        if request.volume == REJECTED_VOLUME:
            order.status = types_pb2.ORDER_STATUS_REJECTED
            order.reject_reason = "NOT_ENOUGH_MONEY"
            order.reject_message = "free margin is too low"
            order.filled_volume = "0"
            self.orders[order.order_id] = order
            return oms_pb2.PlaceOrderResponse(order=order)
        order.status = types_pb2.ORDER_STATUS_FILLED
        order.filled_volume = request.volume
        order.average_fill_price = "1.08452"
        order.book = types_pb2.BOOK_B
        self.orders[order.order_id] = order
        fill = types_pb2.Fill(
            fill_id="f-1", price="1.08452", volume=request.volume, book=types_pb2.BOOK_B
        )
        position = types_pb2.Position(
            position_id="p-1",
            account_id=request.account_id,
            symbol=request.symbol,
            side=request.side,
            volume=request.volume,
            open_price="1.08452",
        )
        return oms_pb2.PlaceOrderResponse(order=order, fills=[fill], positions=[position])

    async def GetOrder(
        self, request: oms_pb2.GetOrderRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.GetOrderResponse:
        order = self.orders.get(request.order_id)
        if order is None or order.account_id != request.account_id:
            raise NotFound(f"no order {request.order_id}", reason="ORDER_NOT_FOUND")
        return oms_pb2.GetOrderResponse(order=order)

    async def GetAccountSummary(
        self, request: oms_pb2.GetAccountSummaryRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.GetAccountSummaryResponse:
        return oms_pb2.GetAccountSummaryResponse(
            account_id=request.account_id,
            login="alice",
            currency="USD",
            leverage=100,
            balance="10000.00",
            equity="10012.50",
            margin="108.45",
            free_margin="9904.05",
            margin_level="9232.37",
            unrealized_pnl="12.50",
            type=types_pb2.ACCOUNT_TYPE_DEMO,
            status=types_pb2.ACCOUNT_STATUS_ACTIVE,
            margin_mode=types_pb2.MARGIN_MODE_HEDGING,
        )

    async def ListPositions(
        self, request: oms_pb2.ListPositionsRequest, context: grpc.aio.ServicerContext
    ) -> oms_pb2.ListPositionsResponse:
        return oms_pb2.ListPositionsResponse(
            positions=[
                types_pb2.Position(
                    position_id="p-1",
                    account_id=request.account_id,
                    symbol="EURUSD",
                    side=types_pb2.SIDE_BUY,
                    volume="0.10",
                    open_price="1.08452",
                    profit="1.25",
                )
            ]
        )


@dataclass
class EdgeUnderTest:
    base_url: str
    ws_url: str
    oms: FakeOms
    settings: EdgeSettings

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, timeout=30)


def _ensure_tracer_provider() -> None:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


@pytest.fixture(scope="session")
async def edge(redis_url: str, amqp_url: str, events_exchange: str) -> AsyncIterator[EdgeUnderTest]:
    _ensure_tracer_provider()
    oms = FakeOms()
    grpc_server = GrpcServer("edgetestoms", "127.0.0.1:0")
    grpc_server.add(oms_pb2_grpc.add_OmsServiceServicer_to_server, oms, "fxmesh.v1.OmsService")
    oms_port = await grpc_server.start()
    settings = EdgeSettings(
        oms_addr=f"127.0.0.1:{oms_port}",
        redis_url=redis_url,
        amqp_url=amqp_url,
        events_exchange=events_exchange,
        jwt_secret=JWT_SECRET,
        edge_http_addr="127.0.0.1:0",
    )
    server = http_server(create_app(settings), settings.edge_http_addr)
    serving = asyncio.create_task(server.serve())
    async with asyncio.timeout(60):
        while not server.started:
            if serving.done():
                serving.result()
            await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    under_test = EdgeUnderTest(
        f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", oms, settings
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
