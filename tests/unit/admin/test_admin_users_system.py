"""Pure parts of admin users and system health: the password policy, token versions, and how
component statuses make the overall status."""

from __future__ import annotations

from datetime import timedelta

import pytest

from admin.system import ComponentHealth, Kind, LpHealth, Status, overall
from admin.tokens import issue_admin_token, token_version
from admin.users import check_password_policy
from fxmesh.auth import verify_token
from fxmesh.errors import InvalidArgument
from fxmesh.v1 import fixgw_pb2

SECRET = "unit-secret-0123456789abcdef"


@pytest.mark.parametrize(
    ("password", "rule"),
    [
        ("Sh0rt-pass", "LENGTH"),
        ("x" * 129 + "1", "LENGTH"),
        ("NoDigitsOrSigns", "LETTERS_AND_NON_LETTERS"),
        ("1234-5678-9012", "LETTERS_AND_NON_LETTERS"),
        ("my-Alice-password-1", "CONTAINS_USERNAME"),
        ("aaaa1111aaaa1111", "TOO_FEW_DISTINCT_CHARACTERS"),
    ],
)
def test_password_policy_when_weak_then_password_too_weak_naming_the_rule(password, rule):
    with pytest.raises(InvalidArgument) as err:
        check_password_policy(password, "alice")

    assert err.value.reason == "PASSWORD_TOO_WEAK"
    assert err.value.metadata["rule"] == rule


def test_password_policy_when_long_and_mixed_then_accepted():
    check_password_policy("Correct-horse-42", "alice")


def test_admin_token_when_issued_then_verifies_and_carries_its_version():
    token, claims = issue_admin_token(
        SECRET, username="alice", role="ADMIN", version=7, ttl=timedelta(minutes=30)
    )

    verified = verify_token(SECRET, token, expected_type="admin")

    assert (verified.subject, verified.role) == ("alice", "ADMIN")
    assert verified.expires_at == claims.expires_at
    assert token_version(token) == 7


def _component(name: str, status: Status, critical: bool) -> ComponentHealth:
    return ComponentHealth(name, Kind.SERVICE, status, critical, None)


UP_LP = [LpHealth(fixgw_pb2.LpSession(name="LP", healthy=True, logged_on=True), Status.UP)]


@pytest.mark.parametrize(
    ("components", "lps", "expected"),
    [
        ([_component("oms", Status.UP, True)], UP_LP, Status.UP),
        ([_component("oms", Status.DOWN, True)], UP_LP, Status.DOWN),
        ([_component("rabbitmq", Status.DOWN, False)], UP_LP, Status.DEGRADED),
        ([_component("oms", Status.UP, True)], [], Status.DEGRADED),
    ],
    ids=["all-up", "critical-down", "non-critical-down", "no-healthy-lp"],
)
def test_overall_when_components_vary_then_status_follows_the_rules(components, lps, expected):
    assert overall(components, lps) is expected
