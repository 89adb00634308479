"""edge's admission control: a pure ASGI middleware in front of the routes that call oms.

It classifies a request by method and path before the body is read or the token checked, so a
refusal costs next to nothing: 503 ``OVERLOADED`` with ``Retry-After`` in the house error shape.
It is the outermost middleware: a refusal opens no span and writes no log line (it is counted by
``fxmesh_edge_admission_refused_total``), and its response is built once per cause and hint. At
twenty times capacity the span, log line and JSON encoding of each refusal were what took edge's
CPU from the orders it had admitted.
Closing a position (close, partial close, close-all, close-by) and cancelling an order are never
refused; new orders and other changes may queue briefly; reads are shed first (``fxmesh.admission``).
Other routes (login, market history from quotes, WebSocket, health, metrics) are not admitted
here. A request with an ``Idempotency-Key`` header keeps, when refused, its place in line for
its retries with the same key (``fxmesh.admission.RetryLine``): its Retry-After is when its turn
comes, and its retries are served before later first attempts and wait longer for a slot, so no
order is refused again and again.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from fxmesh.admission import Admission, AdmissionPolicy, Lane, Overloaded
from fxmesh.http import fx_error_response

SERVICE = "edge"
_CLOSES = ("/close", "/close-partial", "/close-by", "/close-all")
_READS_ONLY = ("/api/account/", "/api/risk/", "/api/symbols")


def lane_of(method: str, path: str) -> Lane | None:
    """The lane of a request to oms's routes; None for routes edge does not admit."""
    if path.startswith("/api/positions/"):
        if method == "POST" and path.endswith(_CLOSES):
            return Lane.CLOSE
        return Lane.READ if method == "GET" else Lane.ORDER
    if path.startswith("/api/orders/"):
        if method == "DELETE":  # cancelling a pending order only ever reduces risk
            return Lane.CLOSE
        return Lane.READ if method == "GET" else Lane.ORDER
    if path == "/api/trade/check":  # MetaTrader's order_check changes nothing
        return Lane.READ
    if path == "/api/trade":
        # MetaTrader's order_send: the lane cannot depend on the body (read after admission), so
        # its closes and removes queue as orders do (the /api/positions routes are never refused).
        return Lane.ORDER
    if path.startswith(_READS_ONLY):
        # The risk calculators are POSTs that change nothing.
        return Lane.READ
    return None


def _retry_key_of(scope: Scope) -> int | None:
    """The request's place in the retry line: the hash of its ``Idempotency-Key`` header, which a
    client sends unchanged on every retry of one order (its clientOrderId is a good value). A
    header, not the body, because admission decides before the body is read; the key only ranks
    the request in edge's queue, it changes nothing about what is done with it."""
    for name, value in scope["headers"]:
        if name == b"idempotency-key":
            return hash(value)
    return None


class AdmissionMiddleware:
    """Hold an admission slot for the whole of each admitted request."""

    def __init__(self, app: ASGIApp, *, policy: AdmissionPolicy) -> None:
        self.app = app
        self.admission = Admission(SERVICE, policy)
        self._refusals: dict[tuple[str, str], Response] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        lane = lane_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if lane is None:
            await self.app(scope, receive, send)
            return
        try:
            await self.admission.acquire(lane, _retry_key_of(scope))
        except Overloaded as exc:
            await self._refusal(exc)(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.admission.release(lane)

    def _refusal(self, exc: Overloaded) -> Response:
        """The response of a refusal: the same for every refusal of one cause and hint (a
        response sends its stored headers and body, so one instance serves every request)."""
        key = (exc.metadata.get("cause", ""), exc.metadata.get("retry_after_seconds", ""))
        response = self._refusals.get(key)
        if response is None:
            response = self._refusals[key] = fx_error_response(exc)
        return response
