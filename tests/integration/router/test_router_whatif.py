"""RouterService.WhatIf over recorded orders, with a real fixgw and two LP simulators: the replay
of a recorded sample through a proposed configuration gives the same decisions as re-running the
same orders live under it, and touches nothing live."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import grpc
import pytest
import test_router_abook as _abook
import test_router_routing as _routing
from google.protobuf.timestamp_pb2 import Timestamp
from router_harness import eventually
from test_router_abook import BUY, FILLED, SELL, Router, abook

from fxmesh.errors import from_rpc_error
from fxmesh.v1 import router_pb2, router_whatif_pb2, types_pb2

lps = _abook.lps
fixgw = _abook.fixgw
router = _abook.router
db = _abook.db
_lp_defaults = _abook._lp_defaults
make_group = _routing.make_group
lps_known = _routing.lps_known

D = Decimal
MakeGroup = Callable[..., Awaitable[str]]
SAMPLE = [(BUY, "1.00"), (SELL, "0.50"), (BUY, "0.30"), (BUY, "2.00"), (SELL, "0.07")]


def ts(at: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(at)
    return stamp


async def now(db: asyncpg.Connection) -> datetime:
    value: datetime = await db.fetchval("SELECT clock_timestamp()")
    return value


async def run_sample(router: Router, group: str) -> list[str]:
    ids = []
    for side, volume in SAMPLE:
        order = abook(group, side, volume)
        response = await router[1].Execute(order, timeout=10)
        assert response.status == FILLED
        ids.append(order.order.order_id)
    return ids


async def live_rules(db: asyncpg.Connection) -> list[router_whatif_pb2.WhatIfRoutingRule]:
    rows = await db.fetch(
        "SELECT rule_id, priority, client_group, symbol, book, c_book_hedge_ratio, reason, enabled "
        "FROM router.routing_rules ORDER BY rule_id"
    )
    books = {"A": types_pb2.BOOK_A, "B": types_pb2.BOOK_B, "C": types_pb2.BOOK_C}
    return [
        router_whatif_pb2.WhatIfRoutingRule(
            rule_id=r["rule_id"],
            priority=r["priority"],
            client_group=r["client_group"] or "",
            symbol=r["symbol"] or "",
            book=books[r["book"]],
            c_book_hedge_ratio=str(r["c_book_hedge_ratio"]),
            reason=r["reason"],
            enabled=r["enabled"],
        )
        for r in rows
    ]


def mix(outcome: router_whatif_pb2.WhatIfOutcome) -> list[tuple[str, int, Decimal, Decimal]]:
    return [
        (types_pb2.Book.Name(m.book), m.orders, D(m.a_volume), D(m.b_volume))
        for m in outcome.venue_mix
    ]


@pytest.fixture
def group_rule(db: asyncpg.Connection) -> Callable[[str], Awaitable[int]]:
    async def find(group: str) -> int:
        rule_id: int = await db.fetchval(
            "SELECT rule_id FROM router.routing_rules WHERE client_group = $1", group
        )
        return rule_id

    return find


async def test_what_if_on_a_recorded_sample_then_same_answer_as_rerunning_it_live(
    router: Router,
    make_group: MakeGroup,
    lps_known: None,
    db: asyncpg.Connection,
    group_rule: Callable[[str], Awaitable[int]],
) -> None:
    app, stub = router
    group = await make_group("B")
    rule_id = await group_rule(group)
    began = await now(db)
    recorded_ids = await run_sample(router, group)
    ended = await now(db)

    # The proposal: the group's rule becomes C-book with a 0.5 hedge ratio.
    rules = await live_rules(db)
    for r in rules:
        if r.rule_id == rule_id:
            r.book, r.c_book_hedge_ratio, r.reason = types_pb2.BOOK_C, "0.5", "GROUP_C_BOOK"
    version_before = await db.fetchval("SELECT max(version) FROM router.config_versions")
    what_if = await stub.WhatIf(
        router_whatif_pb2.WhatIfRequest(
            start_time=ts(began),
            end_time=ts(ended),
            config=router_whatif_pb2.WhatIfConfig(
                routing_rules=router_whatif_pb2.WhatIfRoutingRules(rows=rules)
            ),
        ),
        timeout=30,
    )

    # Nothing live changed: no version, the rule still B, the router still on its config.
    assert await db.fetchval("SELECT max(version) FROM router.config_versions") == version_before
    assert (
        await db.fetchval("SELECT book FROM router.routing_rules WHERE rule_id = $1", rule_id)
        == "B"
    )
    mine = [c for c in what_if.changed_orders if c.order_id in recorded_ids]
    assert [c.order_id for c in mine] == recorded_ids  # every order of the sample changed
    total = sum(D(v) for _, v in SAMPLE)
    assert mix(what_if.recorded) == [("BOOK_B", len(SAMPLE), D(0), total)]
    assert [(book, n) for book, n, _, _ in mix(what_if.proposed)] == [("BOOK_C", len(SAMPLE))]

    # Now the same orders live under the proposed configuration.
    await db.execute(
        "UPDATE router.routing_rules SET book = 'C', c_book_hedge_ratio = 0.5, "
        "reason = 'GROUP_C_BOOK' WHERE rule_id = $1",
        rule_id,
    )
    await eventually(
        lambda: any(r.rule_id == rule_id and r.book.value == "C" for r in app.service.rules)
    )
    rerun_began = await now(db)
    rerun_ids = await run_sample(router, group)
    rerun_ended = await now(db)

    live = []
    for order_id in rerun_ids:
        explained = await stub.Explain(router_pb2.ExplainRequest(order_id=order_id), timeout=10)
        live.append(
            (
                explained.book,
                explained.routing_reason,
                explained.level,
                D(explained.a_volume),
                D(explained.b_volume),
            )
        )
    assert [
        (
            c.proposed_book,
            c.proposed_reason,
            c.proposed_level,
            D(c.proposed_a_volume),
            D(c.proposed_b_volume),
        )
        for c in mine
    ] == live

    # The venue mix of the live re-run (replayed with no change) is the proposal's.
    rerun = await stub.WhatIf(
        router_whatif_pb2.WhatIfRequest(start_time=ts(rerun_began), end_time=ts(rerun_ended)),
        timeout=30,
    )
    sample_only = await stub.WhatIf(
        router_whatif_pb2.WhatIfRequest(
            start_time=ts(began),
            end_time=ts(ended),
            config=router_whatif_pb2.WhatIfConfig(
                routing_rules=router_whatif_pb2.WhatIfRoutingRules(rows=rules)
            ),
        ),
        timeout=30,
    )
    assert rerun.changed_count == 0
    assert (rerun.orders, mix(rerun.recorded)) == (sample_only.orders, mix(sample_only.proposed))
    assert D(rerun.recorded.hedge_volume) == D(sample_only.proposed.hedge_volume)


async def test_what_if_when_proposal_is_refused_or_period_empty_then_errors_or_nothing(
    router: Router, db: asyncpg.Connection
) -> None:
    _, stub = router
    started = await now(db)
    bad = router_whatif_pb2.WhatIfConfig(
        routing_rules=router_whatif_pb2.WhatIfRoutingRules(
            rows=[
                router_whatif_pb2.WhatIfRoutingRule(
                    priority=1, book=types_pb2.BOOK_C, c_book_hedge_ratio="1.5", reason="TOO_MUCH"
                )
            ]
        )
    )

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.WhatIf(
            router_whatif_pb2.WhatIfRequest(
                start_time=ts(started), end_time=ts(datetime.now(UTC)), config=bad
            ),
            timeout=30,
        )
    with pytest.raises(grpc.aio.AioRpcError) as backwards:
        await stub.WhatIf(
            router_whatif_pb2.WhatIfRequest(start_time=ts(started), end_time=ts(started)),
            timeout=30,
        )
    empty = await stub.WhatIf(
        router_whatif_pb2.WhatIfRequest(
            start_time=ts(datetime(2000, 1, 1, tzinfo=UTC)),
            end_time=ts(datetime(2000, 1, 2, tzinfo=UTC)),
        ),
        timeout=30,
    )

    error = from_rpc_error(refused.value)
    assert (error.code, error.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "WHATIF_INVALID")
    assert from_rpc_error(backwards.value).reason == "INVALID_TIME_RANGE"
    assert (empty.orders, empty.changed_count, len(empty.proposed.venue_mix)) == (0, 0, 0)
