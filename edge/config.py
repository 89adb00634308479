"""edge settings (``FXMESH_EDGE_*``): token, login, rate-limit, WebSocket and admission policy.

Its listener, ``FXMESH_EDGE_HTTP_ADDR``, is a shared setting: admin dials it too.
"""

from __future__ import annotations

from pydantic import Field, model_validator

from fxmesh.admission import AdmissionPolicy
from fxmesh.config import Settings, service_config

# Added to the two router deadlines when edge derives its order deadline: it covers oms's queue
# timeout (at most 2 s) and its database work (``oms.config.DB_WORK_ALLOWANCE_SECONDS``).
ORDER_DEADLINE_MARGIN_SECONDS = 4.0


class EdgeSettings(Settings):
    """Settings of the edge process (``FXMESH_EDGE_*`` environment variables)."""

    model_config = service_config("edge")

    metrics_port: int = Field(
        0, ge=0, le=65535, description="edge serves /metrics on its HTTP port; no extra port."
    )
    client_token_ttl_seconds: int = Field(
        24 * 3600, gt=0, description="Lifetime of a client access token (the design's 24 h)."
    )
    client_refresh_ttl_seconds: int = Field(
        30 * 24 * 3600,
        gt=0,
        description="Lifetime of a refresh token; each use rotates it and starts a new lifetime.",
    )
    login_max_failures: int = Field(
        5, gt=0, description="Failed logins of one login within the window that lock it."
    )
    login_max_failures_per_ip: int = Field(
        50, gt=0, description="Failed logins from one source address within the window."
    )
    login_window_seconds: int = Field(
        900, gt=0, description="Window in which failed logins are counted."
    )
    login_lockout_seconds: int = Field(
        900, gt=0, description="How long a login (or address) stays locked (429 LOGIN_THROTTLED)."
    )
    rate_limit_window_seconds: int = Field(
        10, gt=0, description="Window of the per-account request limits (RateLimit-Reset)."
    )
    rate_limit_orders: int = Field(
        100,
        gt=0,
        description="Order requests (place, modify, cancel, close) per account per window.",
    )
    rate_limit_reads: int = Field(
        500, gt=0, description="Other authenticated requests per account per window."
    )
    max_body_bytes: int = Field(
        64 * 1024, gt=0, description="Largest request body; a larger one is 413 PAYLOAD_TOO_LARGE."
    )
    ws_messages_per_second: float = Field(
        20.0, gt=0, description="Client messages per socket per second (token bucket refill)."
    )
    ws_message_burst: int = Field(
        40, gt=0, description="Client messages a socket may send at once (token bucket size)."
    )
    ws_max_symbols: int = Field(200, gt=0, description="Quote subscriptions per socket.")
    ws_max_sockets_per_account: int = Field(
        20, gt=0, description="Open sockets per account across every edge replica."
    )
    ws_heartbeat_seconds: float = Field(
        20.0, gt=0, description="Interval of WebSocket heartbeats (and protocol pings)."
    )
    ws_auth_timeout_seconds: float = Field(
        10.0, gt=0, description="How long a socket may stay open without authenticating."
    )
    ws_max_pending_events: int = Field(
        1000, gt=0, description="Unsent account events per socket before it is closed as too slow."
    )
    # The ceiling of the adaptive limit (below): what edge admits before it has measured the
    # service's pace, and the most it admits on a fast one.
    edge_max_in_flight: int = Field(
        16,
        ge=1,
        description="Requests to oms's routes (orders, positions, account, risk) in flight at "
        "once, at most; closes count but are never refused, reads are refused from three "
        "quarters of the limit. The limit adapts below this to FXMESH_EDGE_TARGET_LATENCY_SECONDS "
        "once oms's pace is measured.",
    )
    edge_target_latency_seconds: float = Field(
        0.05,
        ge=0,
        description="Time an admitted order should spend in flight once oms is saturated: edge "
        "keeps its in-flight limit at this / the measured interval between completions (Little's "
        "law), between 2 and FXMESH_EDGE_MAX_IN_FLIGHT, so overload costs accepted orders about "
        "this much and the excess is refused. Keep it several times the light-load latency (too "
        "few in flight batch less in oms and finish fewer orders). 0: the limit is "
        "FXMESH_EDGE_MAX_IN_FLIGHT.",
    )
    edge_admission_queue: int = Field(
        32,
        ge=0,
        description="Orders that may wait for a slot at edge; beyond it: 503 OVERLOADED at once.",
    )
    edge_admission_queue_timeout_seconds: float = Field(
        0.005,
        ge=0,
        description="How long an order may wait for a slot at edge before a 503: a queue "
        "absorbs a burst, it must not become the wait of a sustained overload. Orders that the "
        "measured pace says would not enter within it are refused at once. A refusal after the "
        "wait takes the wait and then some, so keep it under the time a refusal may take.",
    )
    edge_admission_retry_queue_timeout_seconds: float = Field(
        1.0,
        ge=0,
        description="How long an order refused before and retried with the same "
        "Idempotency-Key header may wait for a slot: retries rank ahead of first attempts and "
        "wait longer, so a burst's refused orders get in instead of being refused again and "
        "again. Retry-After is whole seconds, so the retries of one moment come back together: "
        "a second's wait lets the queue hold (up to FXMESH_EDGE_ADMISSION_QUEUE) what the "
        "service finishes in that second instead of refusing it again while the service idles.",
    )
    edge_retry_after_seconds: int = Field(
        1, ge=1, description="Shortest Retry-After (seconds) of edge's own 503 OVERLOADED."
    )
    edge_retry_after_max_seconds: int = Field(
        5,
        ge=1,
        description="Longest retry hint of a refusal without an Idempotency-Key header: "
        "within a second, the first as many refused as are "
        "served per second are told the shortest hint, the next one second more, up to this "
        "(fxmesh.admission.RetrySpreader). Longer spreads a burst's retries thinner but lets a "
        "client wait past the moment the service could have taken it.",
    )
    edge_retry_after_in_line_max_seconds: int = Field(
        60,
        ge=1,
        description="Longest Retry-After of an order refused with an Idempotency-Key header: "
        "such an order keeps its place in line, and its hint is when its turn comes (those "
        "refused before it over the measured completion rate, a fifth early), so a burst is "
        "served in the order it was refused instead of by whoever retries at the right moment.",
    )
    edge_order_deadline_seconds: float | None = Field(
        None,
        gt=0,
        description="Deadline of the calls that place or close orders (PlaceOrder, "
        "ClosePosition). Unset: 2 x FXMESH_GRPC_DEADLINE_SECONDS + 4 s, longer than oms's own "
        "budget (its queue timeout + Execute + ReconcileExecution + database work), so oms "
        "answers every order itself (FILLING at worst) before edge gives up.",
    )

    @model_validator(mode="after")
    def _order_deadline_outlasts_oms(self) -> EdgeSettings:
        explicit = self.edge_order_deadline_seconds
        if explicit is not None and explicit <= 2 * self.grpc_deadline_seconds:
            raise ValueError(
                "FXMESH_EDGE_ORDER_DEADLINE_SECONDS must exceed oms's Execute + "
                "ReconcileExecution (2 x FXMESH_GRPC_DEADLINE_SECONDS)"
            )
        return self

    @property
    def order_deadline_seconds(self) -> float:
        """Deadline of PlaceOrder / ClosePosition calls to oms (see the field)."""
        if self.edge_order_deadline_seconds is not None:
            return self.edge_order_deadline_seconds
        return 2 * self.grpc_deadline_seconds + ORDER_DEADLINE_MARGIN_SECONDS

    def admission_policy(self) -> AdmissionPolicy:
        """The admission limits of edge's oms routes."""
        return AdmissionPolicy(
            limit=self.edge_max_in_flight,
            queue_size=self.edge_admission_queue,
            queue_timeout_seconds=self.edge_admission_queue_timeout_seconds,
            retry_queue_timeout_seconds=self.edge_admission_retry_queue_timeout_seconds,
            retry_after_seconds=self.edge_retry_after_seconds,
            retry_after_max_seconds=self.edge_retry_after_max_seconds,
            retry_after_in_line_max_seconds=self.edge_retry_after_in_line_max_seconds,
            target_latency_seconds=self.edge_target_latency_seconds or None,
        )
