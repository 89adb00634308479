"""oms settings: the shared ones plus what only the account of record needs."""

from __future__ import annotations

from datetime import time

from pydantic import Field

from fxmesh.admission import AdmissionPolicy
from fxmesh.config import Settings, service_config

# What PlaceOrder spends besides waiting for a slot and for the router: its transactions and
# Redis reads (a few ms at rest, more under load). Edge's order deadline must cover it too.
DB_WORK_ALLOWANCE_SECONDS = 1.0


class OmsSettings(Settings):
    """Environment ``FXMESH_OMS_*``; addresses of every service come from the shared Settings."""

    model_config = service_config("oms")

    metrics_port: int = Field(9101, ge=0, le=65535, description="Port of oms's /metrics.")
    router_in_process: bool = Field(
        False,
        description=(
            "Run a router replica in the oms process (with the router's FXMESH_ROUTER_* settings, "
            "serving gRPC on FXMESH_ROUTER_ADDR): while it leads, orders reach it without a gRPC "
            "hop; while it stands by, they go over gRPC to FXMESH_ROUTER_ADDR. docs/performance.md."
        ),
    )
    group_commit_max: int = Field(
        32,
        ge=1,
        le=256,
        description="Order-path transactions (an order's acceptance, a fill's booking) that may "
        "share one database transaction when they queue under load (group commit: one lock "
        "statement, one outbox insert, one COMMIT for all). 1 turns grouping off: each in a "
        "transaction of its own, as many at once as the pool gives (FXMESH_OMS_GROUP_COMMITTERS "
        "then does not apply). docs/performance.md, 'Group commit'.",
    )
    group_committers: int = Field(
        2,
        ge=1,
        le=8,
        description="Order-path transactions under way at once; a new one waits (and joins the "
        "next group) only when this many are. Fewer groups more and saves more database CPU per "
        "order, but one committer's round trips are sequential: 1 cut PostgreSQL's CPU per order "
        "at overload by half yet left CPU idle, 2 was the best throughput, 4 rarely grouped at "
        "all (docs/performance.md). Each uses a pooled connection of the 10.",
    )
    outbox_poll_seconds: float = Field(
        1.0,
        gt=0,
        description="How often the outbox relay runs a pass unwoken (a commit wakes it at once): the "
        "safety net for rows written by another process, and when the last pass's events are "
        "marked published if no commit follows.",
    )
    outbox_execution_wait_seconds: float = Field(
        0.05,
        ge=0,
        description="How long the events of an order sent for execution (its FILLING update) wait "
        "for the commit of its execution before the relay publishes them alone: a B-book fill "
        "through a router across gRPC commits within a few ms, and one relay pass and one message "
        "then carry both (with the router in oms, a house fill commits with its acceptance and "
        "nothing waits). Passes "
        "woken meanwhile by other accounts' commits publish theirs and leave that account's for "
        "later. 0 publishes each commit's events at once.",
    )
    outbox_retention_hours: float = Field(
        24.0,
        ge=0,
        description="How long published outbox rows are kept before they are deleted (0 keeps "
        "them forever). Unpublished rows are never deleted.",
    )
    outbox_prune_seconds: float = Field(
        60.0, gt=0, description="How often published outbox rows past retention are deleted."
    )
    symbols_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="How long symbol settings are cached at most (a change's oms_settings NOTIFY drops the cache at once; this is the safety net).",
    )
    rollover_time: time = Field(
        time(0), description="UTC wall-clock time of the daily rollover (swaps are charged then)."
    )
    recovery_interval_seconds: float = Field(
        5.0, gt=0, description="How often orders left in flight are reconciled with the router."
    )
    run_watcher: bool = Field(
        True, description="Run the tick watcher (pending orders, SL/TP, trailing, stop-out)."
    )
    marks_interval_seconds: float = Field(
        0.25,
        gt=0,
        description="How often WatchAccount re-marks watched accounts to the current quotes (at "
        "most one message per stream per interval).",
    )
    marks_max_accounts: int = Field(
        10_000, ge=1, description="Accounts WatchAccount may watch at once (one oms process)."
    )
    run_rollover: bool = Field(True, description="Charge swaps at each rollover.")
    oms_max_in_flight: int = Field(
        32,
        ge=1,
        description="Client RPCs in flight at once (admission control); closes count but are "
        "never refused, reads are refused from three quarters of this.",
    )
    oms_admission_queue: int = Field(
        64,
        ge=0,
        description="Orders and other writes that may wait for a slot when "
        "FXMESH_OMS_MAX_IN_FLIGHT is reached; beyond it they are refused at once "
        "(RESOURCE_EXHAUSTED OVERLOADED).",
    )
    oms_admission_queue_timeout_seconds: float = Field(
        0.25,
        ge=0,
        le=2.0,
        description="How long an order may wait for a slot before it is refused; part of "
        "PlaceOrder's budget, so edge's order deadline must cover it.",
    )
    oms_retry_after_seconds: int = Field(
        1,
        ge=1,
        description="Shortest retry hint sent with a refusal (ErrorInfo retry_after_seconds).",
    )
    oms_retry_after_max_seconds: int = Field(
        5,
        ge=1,
        description="Longest retry hint: within a second, the first as many refused as are "
        "served per second are told the shortest hint, the next one second more, up to this "
        "(fxmesh.admission.RetrySpreader). Longer spreads a burst's retries thinner but lets a "
        "client wait past the moment the service could have taken it.",
    )

    def admission_policy(self) -> AdmissionPolicy:
        """The admission limits of oms's client RPCs."""
        return AdmissionPolicy(
            limit=self.oms_max_in_flight,
            queue_size=self.oms_admission_queue,
            queue_timeout_seconds=self.oms_admission_queue_timeout_seconds,
            retry_after_seconds=self.oms_retry_after_seconds,
            retry_after_max_seconds=self.oms_retry_after_max_seconds,
        )

    @property
    def place_order_budget_seconds(self) -> float:
        """The longest oms takes to answer a PlaceOrder or ClosePosition it admitted.

        A slot (the queue timeout), Execute at the router (``grpc_deadline_seconds``), and when
        its answer is lost ReconcileExecution (the same deadline), plus the database work. When
        both router calls fail oms still answers: the order in FILLING, settled later by recovery.
        Edge's order deadline is longer than this, so a client is answered by oms, not by a timeout.
        """
        return (
            self.oms_admission_queue_timeout_seconds
            + 2 * self.grpc_deadline_seconds
            + DB_WORK_ALLOWANCE_SECONDS
        )
