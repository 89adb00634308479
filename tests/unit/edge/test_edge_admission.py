"""edge's lanes per route, and how an overload refusal or a lost order answer reads over HTTP."""

from __future__ import annotations

import json

import grpc
import pytest

from edge.admission import lane_of
from fxmesh.admission import Cause, Lane, Overloaded
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
