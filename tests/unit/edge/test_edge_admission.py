"""edge's lanes per route, and how an overload refusal or a lost order answer reads over HTTP."""

from __future__ import annotations

import json

import grpc
import pytest
from starlette.types import Message, Receive, Scope, Send

from edge.admission import AdmissionMiddleware, lane_of
from edge.app import create_app
from edge.config import EdgeSettings
from fxmesh.admission import AdmissionPolicy, Cause, Lane, Overloaded
from fxmesh.errors import FxError
from fxmesh.http import fx_error_response


@pytest.mark.parametrize(
    ("method", "path", "lane"),
    [
        ("POST", "/api/orders/market", Lane.ORDER),
        ("POST", "/api/orders/stop-limit", Lane.ORDER),
        ("PUT", "/api/orders/12/modify", Lane.ORDER),
        ("DELETE", "/api/orders/12", Lane.CLOSE),
        ("GET", "/api/orders/12", Lane.READ),
        ("POST", "/api/positions/7/close", Lane.CLOSE),
        ("POST", "/api/positions/7/close-partial", Lane.CLOSE),
        ("POST", "/api/positions/7/close-by", Lane.CLOSE),
        ("POST", "/api/positions/close-all", Lane.CLOSE),
        ("PUT", "/api/positions/7/modify", Lane.ORDER),
        ("GET", "/api/account/summary", Lane.READ),
        ("POST", "/api/risk/margin-preview", Lane.READ),
        ("POST", "/api/login", None),
        ("GET", "/api/ohlc", None),
        ("GET", "/api/symbols", Lane.READ),
        ("GET", "/api/symbols/EURUSD", Lane.READ),
        ("POST", "/api/trade", Lane.ORDER),
        ("POST", "/api/trade/check", Lane.READ),
        ("GET", "/metrics", None),
    ],
)
def test_lane_of_when_route_then_closes_never_shed_and_reads_first(
    method: str, path: str, lane: Lane | None
) -> None:
    assert lane_of(method, path) is lane


def test_fx_error_response_when_overloaded_then_503_with_retry_after_and_house_shape() -> None:
    response = fx_error_response(Overloaded.because("oms", Cause.QUEUE_FULL, 2))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    body = json.loads(response.body)
    assert body["code"] == "OVERLOADED"
    assert body["details"] == {"retry_after_seconds": "2", "cause": "QUEUE_FULL"}


def test_fx_error_response_when_order_outcome_unknown_then_504_keeps_the_retry_advice() -> None:
    err = FxError(
        "send the same request again with the same client_order_id",
        reason="ORDER_OUTCOME_UNKNOWN",
        code=grpc.StatusCode.DEADLINE_EXCEEDED,
        metadata={"client_order_id": "c-1", "retry_after_seconds": "1"},
    )

    response = fx_error_response(err)

    assert response.status_code == 504
    assert response.headers["retry-after"] == "1"
    assert json.loads(response.body)["message"] == err.message


async def test_middleware_when_refusing_then_503_before_any_inner_layer_and_no_trace_header() -> (
    None
):
    reached: list[str] = []

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(scope["path"])  # what the request observability would see
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = AdmissionMiddleware(inner, policy=AdmissionPolicy(1, 0, 0.0))
    await middleware.admission.acquire(Lane.ORDER)  # the one slot is taken
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "method": "POST", "path": "/api/orders/market", "headers": []}
    for _ in range(2):
        await middleware(scope, receive, send)

    assert reached == []
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert [m["status"] for m in starts] == [503, 503]
    headers = dict(starts[0]["headers"])
    assert headers[b"retry-after"] == b"1"
    assert b"x-trace-id" not in headers
    body = json.loads(next(m for m in sent if m["type"] == "http.response.body")["body"])
    assert body["code"] == "OVERLOADED"


def test_edge_app_when_built_then_admission_is_the_outermost_middleware() -> None:
    app = create_app(EdgeSettings())

    assert app.user_middleware[0].cls is AdmissionMiddleware
