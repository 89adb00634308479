"""The permission table: its shape, the guard, and docs/admin.md showing exactly it."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from admin.domain import Principal, Role
from admin.permissions import PERMISSIONS, Op, allowed, authorize, markdown_table
from fxmesh.errors import PermissionDenied

DOC = Path(__file__).resolve().parents[3] / "docs" / "admin.md"


USER_MANAGEMENT = [Op.USERS_LIST, Op.USER_CREATE, Op.USER_UPDATE, Op.USER_RESET_PASSWORD]
READS = [op for op, rule in PERMISSIONS.items() if not rule.changes and op not in USER_MANAGEMENT]
SUPPORT_MAY_CHANGE = {Op.USER_CHANGE_OWN_PASSWORD}


@pytest.mark.parametrize("op", READS)
@pytest.mark.parametrize("role", list(Role))
def test_authorize_when_any_role_reads_then_allowed(role, op):
    authorize(Principal("u", role), op)


@pytest.mark.parametrize("op", USER_MANAGEMENT)
def test_table_when_admin_users_managed_then_super_admin_alone(op):
    assert {r for r in Role if allowed(r, op)} == {Role.SUPER_ADMIN}


def test_table_when_super_admin_and_admin_compared_then_only_user_management_differs():
    differ = {op for op in Op if allowed(Role.SUPER_ADMIN, op) != allowed(Role.ADMIN, op)}

    assert differ == set(USER_MANAGEMENT)


@pytest.mark.parametrize("role", list(Role))
def test_authorize_when_any_role_changes_own_password_then_allowed(role):
    authorize(Principal("u", role), Op.USER_CHANGE_OWN_PASSWORD)


@pytest.mark.parametrize(
    "op", [op for op, rule in PERMISSIONS.items() if rule.changes and op not in SUPPORT_MAY_CHANGE]
)
def test_authorize_when_support_changes_anything_then_role_not_permitted(op):
    with pytest.raises(PermissionDenied) as err:
        authorize(Principal("s", Role.SUPPORT), op)

    assert err.value.reason == "ROLE_NOT_PERMITTED"
    assert err.value.metadata == {"role": "SUPPORT", "operation": op.value}


def test_table_when_roles_compared_then_each_role_may_do_what_the_next_may():
    ordered = [Role.SUPER_ADMIN, Role.ADMIN, Role.RISK_MANAGER, Role.DEALER, Role.SUPPORT]
    for stronger, weaker in itertools.pairwise(ordered):
        assert {op for op in Op if allowed(weaker, op)} <= {
            op for op in Op if allowed(stronger, op)
        }
    assert not allowed(Role.RISK_MANAGER, Op.MONEY_DEPOSIT)
    assert allowed(Role.RISK_MANAGER, Op.ACCOUNT_SUSPEND)


def test_docs_when_read_then_show_the_permission_table_of_the_code():
    assert markdown_table() in DOC.read_text()


def test_table_when_dealer_compared_then_flow_switches_only_no_money_policy_or_users():
    changes = {op for op, rule in PERMISSIONS.items() if rule.changes and allowed(Role.DEALER, op)}
    assert changes == {
        Op.LP_CONNECT,
        Op.LP_DISCONNECT,
        Op.LP_RECONNECT,
        Op.FIX_CONNECT,
        Op.FIX_DISCONNECT,
        Op.CLIENT_OVERRIDE_SET,
        Op.CLIENT_OVERRIDE_DELETE,
        Op.ROUTING_WHAT_IF,
        Op.USER_CHANGE_OWN_PASSWORD,
    }
    reads = {op for op, rule in PERMISSIONS.items() if not rule.changes}
    assert {op for op in reads if allowed(Role.DEALER, op)} == {
        op for op in reads if allowed(Role.SUPPORT, op)
    }
