"""How a route's call to oms fails: within which deadline, and as which error the client gets."""

from __future__ import annotations

from collections.abc import Coroutine
from types import SimpleNamespace
from typing import Any, cast

import grpc
import pytest

from edge.calls import ORDER_OUTCOME_UNKNOWN, call, call_json, call_order
from edge.config import EdgeSettings
from edge.deps import EdgeResources
from fxmesh.errors import FxError, InvalidArgument
from fxmesh.v1 import oms_pb2

RES = cast(EdgeResources, SimpleNamespace(settings=EdgeSettings()))


class FakeRpc:
    """A stub method that records its deadline and answers ``outcome`` (or raises it)."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome
        self.timeouts: list[float] = []

    # Not async itself, as a grpc.aio stub method: it returns the call to await.
    def __call__(self, request: Any, *, timeout: float) -> Coroutine[Any, Any, Any]:
        self.timeouts.append(timeout)
        return self._answer()

    async def _answer(self) -> Any:
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


def lost(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """A bare transport failure: no ErrorInfo, as when oms restarts mid-call."""
    return grpc.aio.AioRpcError(
        code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="ipv4:10.1.2.3:50051"
    )


def sent_by_oms(err: FxError) -> grpc.aio.AioRpcError:
    trailers = grpc.aio.Metadata(("grpc-status-details-bin", err.to_status().SerializeToString()))
    return grpc.aio.AioRpcError(err.code, grpc.aio.Metadata(), trailers, details=err.message)


async def test_call_json_when_answered_then_client_json_within_edge_deadline() -> None:
    rpc = FakeRpc(oms_pb2.GetAccountSummaryResponse(balance="100.00"))

    doc = await call_json(RES, cast(Any, rpc), oms_pb2.GetAccountSummaryRequest(account_id="1"))

    assert doc["balance"] == "100.00"
    assert rpc.timeouts == [RES.settings.grpc_deadline_seconds]


async def test_call_when_oms_refuses_then_its_reason_and_metadata_reach_the_client() -> None:
    refusal = InvalidArgument("bad", reason="INVALID_STOPS", metadata={"field": "stopLoss"})

    with pytest.raises(FxError) as raised:
        await call(RES, cast(Any, FakeRpc(sent_by_oms(refusal))), oms_pb2.GetOrderRequest())

    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert (raised.value.reason, raised.value.metadata) == ("INVALID_STOPS", {"field": "stopLoss"})


async def test_call_order_when_answer_lost_then_outcome_unknown_naming_the_retry_key() -> None:
    rpc = FakeRpc(lost(grpc.StatusCode.UNAVAILABLE))
    request = oms_pb2.CloseAllPositionsRequest(account_id="1", request_id="r-1")

    with pytest.raises(FxError) as raised:
        await call_order(
            RES, cast(Any, rpc), request, retry_with=("request_id", "r-1"), deadlines=4
        )

    assert raised.value.reason == ORDER_OUTCOME_UNKNOWN
    assert raised.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert raised.value.metadata == {"request_id": "r-1", "retry_after_seconds": "1"}
    assert rpc.timeouts == [4 * RES.settings.order_deadline_seconds]


async def test_call_order_when_oms_itself_answers_unavailable_then_its_error_not_unknown() -> None:
    busy = FxError("overloaded", reason="OVERLOADED", code=grpc.StatusCode.UNAVAILABLE)
    rpc = FakeRpc(sent_by_oms(busy))

    with pytest.raises(FxError) as raised:
        await call_order(
            RES, cast(Any, rpc), oms_pb2.PlaceOrderRequest(), retry_with=("client_order_id", "c")
        )

    assert raised.value.reason == "OVERLOADED"
    assert rpc.timeouts == [RES.settings.order_deadline_seconds]
