"""How a route asks oms (or quotes) on a client's behalf: one call within edge's deadline, a
refusal raised as the error the callee sent, the reply as client JSON.

A handler reads: parse the input, build the request, one call, maybe a field of its own::

    return await call_json(res, res.oms.GetOrder, oms_pb2.GetOrderRequest(...))

``call`` waits ``EdgeSettings.grpc_deadline_seconds`` and raises a failed call as the ``FxError``
it carries (oms's reason and metadata included), which ``fxmesh.http`` answers as
``{code, message, details}`` with its HTTP status. ``call_json`` adds ``edge.convert.to_json``;
routes that answer a shape of their own (market data, symbols, login, MetaTrader's retcodes) take
the reply from ``call``.

Orders go through ``call_order``. Edge waits longer for PlaceOrder / ClosePosition than oms
takes to answer them (``EdgeSettings.order_deadline_seconds`` >
``OmsSettings.place_order_budget_seconds``): oms answers every admitted order itself, FILLING at
worst, and recovery settles it. Only a lost answer (oms restarted, the connection broke, a
deadline reached anyway) leaves edge without one. Then the order may or may not exist, so the
client is told so, never a plain failure: 504 ``ORDER_OUTCOME_UNKNOWN`` with
``Retry-After``, naming its ``client_order_id`` (close-all: its ``request_id``). Sending the same
request again with the same clientOrderId is safe and returns the order if it was placed
(``replayed: true``, its fills included), else places it once.
"""

from __future__ import annotations

from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from edge.convert import to_json
from edge.deps import EdgeResources
from fxmesh.admission import RETRY_AFTER_KEY
from fxmesh.errors import FxError, from_rpc_error

ORDER_OUTCOME_UNKNOWN = "ORDER_OUTCOME_UNKNOWN"
RETRY_AFTER_SECONDS = "1"
_LOST = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)

RequestT = TypeVar("RequestT", bound=Message)
ReplyT = TypeVar("ReplyT", bound=Message)


async def call(
    res: EdgeResources,
    rpc: grpc.aio.UnaryUnaryMultiCallable[RequestT, ReplyT],
    request: RequestT,
) -> ReplyT:
    """``rpc(request)`` (a method of ``res.oms`` or ``res.quotes``) within edge's deadline; a
    failure is raised as the ``FxError`` it carries."""
    try:
        return await rpc(request, timeout=res.settings.grpc_deadline_seconds)
    except grpc.aio.AioRpcError as exc:
        raise from_rpc_error(exc) from exc


async def call_json(
    res: EdgeResources,
    rpc: grpc.aio.UnaryUnaryMultiCallable[RequestT, ReplyT],
    request: RequestT,
) -> dict[str, Any]:
    """``call``, its reply as client JSON."""
    reply = await call(res, rpc, request)
    return to_json(reply)


async def call_order(
    res: EdgeResources,
    rpc: grpc.aio.UnaryUnaryMultiCallable[RequestT, ReplyT],
    request: RequestT,
    *,
    retry_with: tuple[str, str],
    deadlines: int = 1,
) -> ReplyT:
    """An order RPC (PlaceOrder, ClosePosition, CloseAllPositions) within ``deadlines`` of edge's
    order deadline; a lost answer is ``ORDER_OUTCOME_UNKNOWN`` naming ``retry_with``, the
    idempotency key and value the client retries with (``client_order_id`` or ``request_id``)."""
    try:
        return await rpc(request, timeout=res.settings.order_deadline_seconds * deadlines)
    except grpc.aio.AioRpcError as exc:
        err = from_rpc_error(exc)
        # A bare transport status (no ErrorInfo) is a lost answer; oms's own errors pass through.
        if err.code not in _LOST or err.reason != err.code.name:
            raise err from exc
        key, value = retry_with
        raise FxError(
            "the order's outcome is unknown: send the same request again with the same "
            f"{key} to get it (it is placed at most once)",
            reason=ORDER_OUTCOME_UNKNOWN,
            code=grpc.StatusCode.DEADLINE_EXCEEDED,
            metadata={key: value, RETRY_AFTER_KEY: RETRY_AFTER_SECONDS},
        ) from exc
