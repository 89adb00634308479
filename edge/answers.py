"""What edge answers when oms's answer to an order never came.

Edge waits longer for PlaceOrder / ClosePosition than oms takes to answer them
(``EdgeSettings.order_deadline_seconds`` > ``OmsSettings.place_order_budget_seconds``): oms answers
every admitted order itself, FILLING at worst, and recovery settles it. Only a lost answer (oms
restarted, the connection broke, a deadline reached anyway) leaves edge without one. Then the order
may or may not exist, so the client is told so, never a plain failure: 504 (or 503)
``ORDER_OUTCOME_UNKNOWN`` with ``Retry-After``, naming its ``client_order_id``. Sending the same
request again with the same clientOrderId is safe and returns the order if it was placed
(``replayed: true``, its fills included), else places it once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import grpc

from fxmesh.admission import RETRY_AFTER_KEY
from fxmesh.errors import FxError, from_rpc_error

ORDER_OUTCOME_UNKNOWN = "ORDER_OUTCOME_UNKNOWN"
RETRY_AFTER_SECONDS = "1"
_LOST = (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)


@contextlib.contextmanager
def answer_may_be_lost(key: str, value: str) -> Iterator[None]:
    """Turn a lost answer inside the block into ``ORDER_OUTCOME_UNKNOWN`` naming ``key=value``
    (the idempotency key the client retries with: ``client_order_id`` or ``request_id``)."""
    try:
        yield
    except grpc.aio.AioRpcError as exc:
        err = from_rpc_error(exc)
        # A bare transport status (no ErrorInfo) is a lost answer; oms's own errors pass through.
        if err.code not in _LOST or err.reason != err.code.name:
            raise err from exc
        raise FxError(
            "the order's outcome is unknown: send the same request again with the same "
            f"{key} to get it (it is placed at most once)",
            reason=ORDER_OUTCOME_UNKNOWN,
            code=grpc.StatusCode.DEADLINE_EXCEEDED,
            metadata={key: value, RETRY_AFTER_KEY: RETRY_AFTER_SECONDS},
        ) from exc
