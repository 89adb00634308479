"""An LP's status in the system health: UP, DEGRADED (held orders, or fixgw's health window says
it rejects / fills slowly) or DOWN."""

from __future__ import annotations

from admin.convert import lp_session_from_proto
from admin.system import Status, lp_status
from fxmesh.v1 import fixgw_pb2


def session(healthy: bool, logged_on: bool, degraded: bool) -> fixgw_pb2.LpSession:
    return fixgw_pb2.LpSession(
        name="LP1",
        healthy=healthy,
        logged_on=logged_on,
        enabled=True,
        health=fixgw_pb2.LpHealth(degraded=degraded),
    )


def test_lp_status_when_healthy_degraded_or_down_then_up_degraded_down() -> None:
    assert lp_status(lp_session_from_proto(session(True, True, False))) is Status.UP
    assert lp_status(lp_session_from_proto(session(True, True, True))) is Status.DEGRADED
    assert lp_status(lp_session_from_proto(session(False, True, False))) is Status.DEGRADED
    assert lp_status(lp_session_from_proto(session(False, False, False))) is Status.DOWN
