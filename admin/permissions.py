"""THE permission table: which roles may run which admin operation (docs/admin.md shows it).

Every admin operation, gRPC and REST alike, names one ``Op``; ``admin.gate.Gate`` is the one place
that checks it against this table (and audits the outcome). Adding an operation means adding a row
here, a row in docs/admin.md and a case in the role-matrix tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from admin.domain import Principal, Role
from fxmesh.errors import PermissionDenied


class Op(StrEnum):
    """An admin operation; the value is the audit log's ``action``."""

    ACCOUNTS_LIST = "accounts.list"
    ACCOUNT_GET = "accounts.get"
    ACCOUNT_CREATE = "accounts.create"
    ACCOUNT_UPDATE = "accounts.update"
    ACCOUNT_SET_LEVERAGE = "accounts.set_leverage"
    ACCOUNT_SUSPEND = "accounts.suspend"
    ACCOUNT_ACTIVATE = "accounts.activate"
    ACCOUNT_CLOSE = "accounts.close"
    MONEY_DEPOSIT = "money.deposit"
    MONEY_WITHDRAW = "money.withdraw"
    MONEY_ADJUST = "money.adjust"
    MONEY_BONUS = "money.bonus"
    WITHDRAWALS_LIST = "withdrawals.list"
    WITHDRAWAL_APPROVE = "withdrawals.approve"
    WITHDRAWAL_REJECT = "withdrawals.reject"
    LPS_LIST = "lps.list"
    LP_CONNECT = "lps.connect"
    LP_DISCONNECT = "lps.disconnect"
    LP_RECONNECT = "lps.reconnect"
    FIX_STATUS = "fix.status"
    FIX_CONNECT = "fix.connect"
    FIX_DISCONNECT = "fix.disconnect"
    EXPOSURE_GET = "exposure.get"
    ORDER_ROUTING_GET = "orders.routing"
    SUMMARY_GET = "summary.get"
    LP_BOARD = "lps.board"
    RISK_TOP_TRADERS = "risk.top_traders"
    RISK_MARGIN_WATCH = "risk.margin_watch"
    AUDIT_LIST = "audit.list"
    AUDIT_EXPORT = "audit.export"
    AUDIT_VERIFY = "audit.verify"
    USERS_LIST = "users.list"
    USER_CREATE = "users.create"
    USER_UPDATE = "users.update"
    USER_RESET_PASSWORD = "users.reset_password"
    USER_CHANGE_OWN_PASSWORD = "users.change_own_password"
    SYSTEM_HEALTH = "system.health"
    SYSTEM_METRICS = "system.metrics"
    SYSTEM_RESTART = "system.restart"
    SYMBOLS_LIST = "symbols.list"
    SYMBOL_CREATE = "symbols.create"
    SYMBOL_UPDATE = "symbols.update"
    SYMBOL_ENABLE = "symbols.enable"
    SYMBOL_DISABLE = "symbols.disable"
    RISK_SETTINGS_LIST = "risk_settings.list"
    RISK_SETTINGS_UPDATE = "risk_settings.update"
    EXECUTION_MODE_GET = "execution.mode_get"
    EXECUTION_MODE_SET = "execution.mode_set"
    EXECUTION_MODE_REMOVE = "execution.mode_remove"
    CLIENT_OVERRIDES_LIST = "execution.overrides_list"
    CLIENT_OVERRIDE_SET = "execution.override_set"
    CLIENT_OVERRIDE_DELETE = "execution.override_delete"
    ROUTING_RULES_LIST = "routing.rules_list"
    ROUTING_RULE_CREATE = "routing.rule_create"
    ROUTING_RULE_UPDATE = "routing.rule_update"
    ROUTING_RULE_DELETE = "routing.rule_delete"
    ROUTING_THRESHOLDS_GET = "routing.thresholds_get"
    ROUTING_THRESHOLDS_SET = "routing.thresholds_set"
    RISK_BOOK_SPLIT = "risk.book_split"
    ROUTING_WHAT_IF = "routing.what_if"
    LP_CREATE = "lps.create"
    LP_UPDATE = "lps.update"
    LP_DELETE = "lps.delete"
    LP_ENABLE = "lps.enable"
    LP_DISABLE = "lps.disable"
    MARKUPS_LIST = "markups.list"
    MARKUP_SET = "markups.set"
    MARKUP_DELETE = "markups.delete"


@dataclass(frozen=True, slots=True)
class Rule:
    """Who may run an operation, and whether an allowed run is audited (changes always are)."""

    roles: frozenset[Role]
    changes: bool


_ALL = frozenset(Role)
_BACK_OFFICE = frozenset({Role.SUPER_ADMIN, Role.ADMIN})
_RISK = frozenset({Role.SUPER_ADMIN, Role.ADMIN, Role.RISK_MANAGER})
# The dealing desk: the risk desk's execution switches that act on flow now (an LP session, one
# client's book, a rehearsal), none of the standing policy (modes, rules, thresholds, settings).
_DEALING = _RISK | {Role.DEALER}
# Admin users are what separates SUPER_ADMIN from ADMIN; even the list of them is theirs alone.
_SUPER = frozenset({Role.SUPER_ADMIN})


def _read(roles: frozenset[Role] = _ALL) -> Rule:
    return Rule(roles, changes=False)


def _change(roles: frozenset[Role]) -> Rule:
    return Rule(roles, changes=True)


PERMISSIONS: Mapping[Op, Rule] = {
    Op.ACCOUNTS_LIST: _read(),
    Op.ACCOUNT_GET: _read(),
    Op.ACCOUNT_CREATE: _change(_BACK_OFFICE),
    Op.ACCOUNT_UPDATE: _change(_RISK),
    Op.ACCOUNT_SET_LEVERAGE: _change(_RISK),
    Op.ACCOUNT_SUSPEND: _change(_RISK),
    Op.ACCOUNT_ACTIVATE: _change(_RISK),
    Op.ACCOUNT_CLOSE: _change(_BACK_OFFICE),
    Op.MONEY_DEPOSIT: _change(_BACK_OFFICE),
    Op.MONEY_WITHDRAW: _change(_BACK_OFFICE),
    Op.MONEY_ADJUST: _change(_BACK_OFFICE),
    Op.MONEY_BONUS: _change(_BACK_OFFICE),
    # Four eyes: the approver is another back-office admin than the requester (admin.withdrawals).
    Op.WITHDRAWALS_LIST: _read(),
    Op.WITHDRAWAL_APPROVE: _change(_BACK_OFFICE),
    Op.WITHDRAWAL_REJECT: _change(_BACK_OFFICE),
    Op.LPS_LIST: _read(),
    Op.LP_CONNECT: _change(_DEALING),
    Op.LP_DISCONNECT: _change(_DEALING),
    Op.LP_RECONNECT: _change(_DEALING),
    Op.FIX_STATUS: _read(),
    Op.FIX_CONNECT: _change(_DEALING),
    Op.FIX_DISCONNECT: _change(_DEALING),
    Op.EXPOSURE_GET: _read(),
    Op.ORDER_ROUTING_GET: _read(),
    Op.SUMMARY_GET: _read(),
    Op.LP_BOARD: _read(),
    Op.RISK_TOP_TRADERS: _read(),
    Op.RISK_MARGIN_WATCH: _read(),
    Op.AUDIT_LIST: _read(),
    Op.AUDIT_EXPORT: _read(),
    Op.AUDIT_VERIFY: _read(),
    Op.USERS_LIST: _read(_SUPER),
    Op.USER_CREATE: _change(_SUPER),
    Op.USER_UPDATE: _change(_SUPER),
    Op.USER_RESET_PASSWORD: _change(_SUPER),
    # Every admin changes their own password (with the current one).
    Op.USER_CHANGE_OWN_PASSWORD: _change(_ALL),
    Op.SYSTEM_HEALTH: _read(),
    Op.SYSTEM_METRICS: _read(),
    Op.SYSTEM_RESTART: _change(_BACK_OFFICE),
    # Symbol and risk settings: dealing configuration, the risk desk's (oms applies it at once).
    Op.SYMBOLS_LIST: _read(),
    Op.SYMBOL_CREATE: _change(_RISK),
    Op.SYMBOL_UPDATE: _change(_RISK),
    Op.SYMBOL_ENABLE: _change(_RISK),
    Op.SYMBOL_DISABLE: _change(_RISK),
    Op.RISK_SETTINGS_LIST: _read(),
    Op.RISK_SETTINGS_UPDATE: _change(_RISK),
    # Execution: who takes a client's risk is the risk desk's call (router's configuration).
    Op.EXECUTION_MODE_GET: _read(),
    Op.EXECUTION_MODE_SET: _change(_RISK),
    Op.EXECUTION_MODE_REMOVE: _change(_RISK),
    Op.CLIENT_OVERRIDES_LIST: _read(),
    Op.CLIENT_OVERRIDE_SET: _change(_DEALING),
    Op.CLIENT_OVERRIDE_DELETE: _change(_DEALING),
    Op.ROUTING_RULES_LIST: _read(),
    Op.ROUTING_RULE_CREATE: _change(_RISK),
    Op.ROUTING_RULE_UPDATE: _change(_RISK),
    Op.ROUTING_RULE_DELETE: _change(_RISK),
    Op.ROUTING_THRESHOLDS_GET: _read(),
    Op.ROUTING_THRESHOLDS_SET: _change(_RISK),
    Op.RISK_BOOK_SPLIT: _read(),
    # Changes nothing live, but audited like a change: who rehearsed which configuration when.
    Op.ROUTING_WHAT_IF: _change(_DEALING),
    # Which LPs exist and how they are reached is back office's; switching one on or off is also
    # the risk desk's, as connect / disconnect are.
    Op.LP_CREATE: _change(_BACK_OFFICE),
    Op.LP_UPDATE: _change(_BACK_OFFICE),
    Op.LP_DELETE: _change(_BACK_OFFICE),
    Op.LP_ENABLE: _change(_RISK),
    Op.LP_DISABLE: _change(_RISK),
    Op.MARKUPS_LIST: _read(),
    Op.MARKUP_SET: _change(_RISK),
    Op.MARKUP_DELETE: _change(_RISK),
}
assert set(PERMISSIONS) == set(Op), "every operation has exactly one row"


def allowed(role: Role, op: Op) -> bool:
    return role in PERMISSIONS[op].roles


def authorize(principal: Principal, op: Op) -> None:
    """Raise PermissionDenied (ROLE_NOT_PERMITTED) unless the principal's role may run ``op``."""
    if not allowed(principal.role, op):
        raise PermissionDenied(
            f"role {principal.role} may not {op.value}",
            reason="ROLE_NOT_PERMITTED",
            metadata={"role": principal.role.value, "operation": op.value},
        )


def markdown_table() -> str:
    """The table as docs/admin.md shows it (a unit test keeps the two equal)."""
    roles = list(Role)
    lines = [
        "| operation | " + " | ".join(r.value for r in roles) + " | audited when allowed |",
        "|---|" + "---|" * len(roles) + "---|",
    ]
    for op, rule in PERMISSIONS.items():
        cells = ["yes" if r in rule.roles else "-" for r in roles]
        lines.append(
            f"| `{op.value}` | " + " | ".join(cells) + f" | {'yes' if rule.changes else 'no'} |"
        )
    return "\n".join(lines)
