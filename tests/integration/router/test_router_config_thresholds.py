"""ChangeRoutingConfig / GetRoutingConfig for the flow (levels 3b, 3c) and volatility (level 3a)
threshold rows: set, read back, replaced, removed, bad bounds refused with the field named, and
a change applying to the very next order (its Explain shows the level evaluated against it)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import asyncpg
import grpc
import pytest
from router_harness import Stub, quote, request, symbol

from fxmesh.errors import from_rpc_error
from fxmesh.v1 import router_pb2, types_pb2

D = Decimal


def change(*edits: router_pb2.RoutingConfigEdit) -> router_pb2.ChangeRoutingConfigRequest:
    return router_pb2.ChangeRoutingConfigRequest(edits=list(edits), actor="risk", note="test")


def set_flow(group: str, **fields: object) -> router_pb2.RoutingConfigEdit:
    return router_pb2.RoutingConfigEdit(
        set_flow_threshold=router_pb2.FlowThresholdConfig(client_group=group, **fields)  # type: ignore[arg-type]
    )


def set_vol(sym: str, max_bps: str, book: int, ratio: str = "") -> router_pb2.RoutingConfigEdit:
    return router_pb2.RoutingConfigEdit(
        set_volatility_threshold=router_pb2.VolatilityThresholdConfig(
            symbol=sym,
            max_bps=max_bps,
            book=book,
            hedge_ratio=ratio,  # type: ignore[arg-type]
        )
    )


def remove_flow(group: str) -> router_pb2.RoutingConfigEdit:
    return router_pb2.RoutingConfigEdit(
        remove_flow_threshold=router_pb2.RemoveFlowThreshold(client_group=group)
    )


def remove_vol(sym: str) -> router_pb2.RoutingConfigEdit:
    return router_pb2.RoutingConfigEdit(
        remove_volatility_threshold=router_pb2.RemoveVolatilityThreshold(symbol=sym)
    )


async def test_thresholds_when_set_then_read_back_replaced_and_removed_each_a_version(
    stub: Stub, db: asyncpg.Connection
) -> None:
    grp, sym = f"thr-{uuid.uuid4().hex[:8]}", symbol()

    first = await stub.ChangeRoutingConfig(
        change(
            set_flow(grp, min_closed_deals=5, net_profit_min="1000", win_rate_min="0.6"),
            set_vol(sym, "12.5", types_pb2.BOOK_C, "0.4"),
        ),
        timeout=10,
    )
    try:
        got = (await stub.GetRoutingConfig(router_pb2.GetRoutingConfigRequest(), timeout=10)).config
        [flow] = [t for t in got.flow_thresholds if t.client_group == grp]
        [vol] = [v for v in got.volatility_thresholds if v.symbol == sym]
        assert (flow.min_closed_deals, flow.net_profit_min, flow.win_rate_min) == (5, "1000", "0.6")
        assert (flow.toxicity_min_bps, flow.latency_arb_share_min) == ("", "")  # not checked
        assert (vol.max_bps, vol.book, vol.hedge_ratio) == ("12.5", types_pb2.BOOK_C, "0.4")
        assert not any(t.client_group == grp for t in first.before.flow_thresholds)
        assert got.version == first.version

        replaced = await stub.ChangeRoutingConfig(
            change(set_flow(grp, min_markout_fills=20, toxicity_min_bps="3")), timeout=10
        )
        [after] = [t for t in replaced.after.flow_thresholds if t.client_group == grp]
        assert (after.net_profit_min, after.min_markout_fills, after.toxicity_min_bps) == (
            "",
            20,
            "3",
        )
        assert after.threshold_id == flow.threshold_id  # one row per scope, replaced whole
        assert replaced.version > first.version
    finally:
        removed = await stub.ChangeRoutingConfig(
            change(remove_flow(grp), remove_vol(sym)), timeout=10
        )
    assert not any(t.client_group == grp for t in removed.after.flow_thresholds)
    assert not any(v.symbol == sym for v in removed.after.volatility_thresholds)
    assert (
        await db.fetchval(
            "SELECT count(*) FROM router.flow_thresholds WHERE client_group = $1", grp
        )
        == 0
    )


@pytest.mark.parametrize(
    ("edit", "reason", "field"),
    [
        (set_flow("g", win_rate_min="1.5"), "INVALID_THRESHOLD", "win_rate_min"),
        (set_flow("g", latency_arb_share_min="-0.1"), "INVALID_THRESHOLD", "latency_arb_share_min"),
        (set_flow("g", min_closed_deals=-1), "INVALID_THRESHOLD", "min_closed_deals"),
        (set_flow("g", net_profit_min="lots"), "INVALID_DECIMAL", "net_profit_min"),
        (set_vol("EURUSD", "-1", types_pb2.BOOK_A), "INVALID_THRESHOLD", "max_bps"),
        (set_vol("EURUSD", "", types_pb2.BOOK_A), "MISSING_FIELD", "max_bps"),
        (set_vol("EURUSD", "5", types_pb2.BOOK_A, "0.5"), "INVALID_HEDGE_RATIO", "hedge_ratio"),
        (set_vol("EURUSD", "5", types_pb2.BOOK_C, "1"), "INVALID_HEDGE_RATIO", "hedge_ratio"),
        (set_vol("bad symbol!", "5", types_pb2.BOOK_A), "INVALID_SYMBOL", "symbol"),
    ],
)
async def test_threshold_when_bound_is_bad_then_invalid_argument_names_field_and_nothing_written(
    stub: Stub, db: asyncpg.Connection, edit: router_pb2.RoutingConfigEdit, reason: str, field: str
) -> None:
    version = await db.fetchval("SELECT max(version) FROM router.config_versions")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ChangeRoutingConfig(change(edit), timeout=10)

    error = from_rpc_error(caught.value)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (error.reason, error.metadata.get("field")) == (reason, field)
    assert await db.fetchval("SELECT max(version) FROM router.config_versions") == version


async def test_remove_threshold_when_scope_has_no_row_then_not_found_and_nothing_written(
    stub: Stub, db: asyncpg.Connection
) -> None:
    version = await db.fetchval("SELECT max(version) FROM router.config_versions")

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ChangeRoutingConfig(
            change(remove_flow(f"none-{uuid.uuid4().hex[:6]}")), timeout=10
        )

    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert from_rpc_error(caught.value).reason == "THRESHOLD_NOT_FOUND"
    assert await db.fetchval("SELECT max(version) FROM router.config_versions") == version


async def test_volatility_threshold_change_then_the_very_next_order_is_decided_against_it(
    stub: Stub, redis_client: object
) -> None:
    sym = symbol()
    await quote(redis_client, sym, "1.08440", "1.08460")
    before = request(sym, types_pb2.SIDE_BUY)
    await stub.Execute(before, timeout=10)

    changed = await stub.ChangeRoutingConfig(
        change(set_vol(sym, "7", types_pb2.BOOK_A)), timeout=10
    )
    try:
        after = request(sym, types_pb2.SIDE_BUY)
        await stub.Execute(after, timeout=10)
        explained = [
            await stub.Explain(router_pb2.ExplainRequest(order_id=o.order.order_id), timeout=10)
            for o in (before, after)
        ]
    finally:
        await stub.ChangeRoutingConfig(change(remove_vol(sym)), timeout=10)

    levels = [[s.level for s in e.steps] for e in explained]
    assert "VOLATILITY" not in levels[0]
    # The router here samples no quotes: the level is evaluated (a row exists) and says unknown.
    [step] = [s for s in explained[1].steps if s.level == "VOLATILITY"]
    assert (step.outcome, step.detail) == ("unknown", "max 7")
    assert explained[1].config_version == changed.version
