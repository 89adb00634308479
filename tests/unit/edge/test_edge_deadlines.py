"""The deadline chain edge > oms > router > fixgw: edge waits for an order longer than oms takes
to answer it, so a client is answered by oms (FILLING at worst), not by edge's timeout."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.config import EdgeSettings
from oms.config import OmsSettings


@pytest.mark.parametrize("grpc_deadline", [0.5, 1.0, 5.0, 10.0, 30.0])
@pytest.mark.parametrize("oms_queue_timeout", [0.0, 0.25, 2.0])
def test_order_deadline_when_derived_then_longer_than_oms_place_order_budget(
    grpc_deadline: float, oms_queue_timeout: float
) -> None:
    edge = EdgeSettings(grpc_deadline_seconds=grpc_deadline)
    oms = OmsSettings(
        grpc_deadline_seconds=grpc_deadline,
        oms_admission_queue_timeout_seconds=oms_queue_timeout,
    )

    assert edge.order_deadline_seconds > oms.place_order_budget_seconds


def test_order_deadline_when_defaults_then_edge_outlasts_oms_which_outlasts_two_router_calls() -> (
    None
):
    edge, oms = EdgeSettings(), OmsSettings()

    assert oms.place_order_budget_seconds > 2 * oms.grpc_deadline_seconds
    assert edge.order_deadline_seconds > oms.place_order_budget_seconds


def test_order_deadline_when_set_shorter_than_oms_router_calls_then_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="FXMESH_EDGE_ORDER_DEADLINE_SECONDS"):
        EdgeSettings(grpc_deadline_seconds=5.0, edge_order_deadline_seconds=10.0)


def test_oms_queue_timeout_when_over_two_seconds_then_refused_as_edge_margin_would_not_cover_it() -> (
    None
):
    with pytest.raises(ValidationError):
        OmsSettings(oms_admission_queue_timeout_seconds=2.5)
