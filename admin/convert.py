"""admin domain/proto -> protobuf replies and REST JSON (camelCase, decimals as strings)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from admin.domain import AuditEntry, Role
from fxmesh.v1 import admin_pb2, types_pb2


def role_to_proto(role: Role) -> admin_pb2.AdminRole.ValueType:
    return admin_pb2.AdminRole.Value(f"ADMIN_ROLE_{role.value}")


def timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def audit_to_proto(entry: AuditEntry) -> admin_pb2.AuditEntry:
    return admin_pb2.AuditEntry(
        audit_id=entry.audit_id,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        before_json=entry.before_json,
        after_json=entry.after_json,
        create_time=timestamp(entry.created_at),
    )


def audit_to_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "auditId": str(entry.audit_id),
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "before": json.loads(entry.before_json) if entry.before_json else None,
        "after": json.loads(entry.after_json) if entry.after_json else None,
        "traceId": entry.trace_id or None,
        "createdAt": iso(entry.created_at),
    }


def _short(enum_name: str, prefix: str) -> str | None:
    if enum_name.endswith("_UNSPECIFIED"):
        return None
    return enum_name.removeprefix(prefix)


def account_to_json(account: types_pb2.AccountInfo) -> dict[str, Any]:
    return {
        "accountId": account.account_id,
        "login": account.login,
        "currency": account.currency,
        "leverage": account.leverage,
        "type": _short(types_pb2.AccountType.Name(account.type), "ACCOUNT_TYPE_"),
        "status": _short(types_pb2.AccountStatus.Name(account.status), "ACCOUNT_STATUS_"),
        "marginMode": _short(types_pb2.MarginMode.Name(account.margin_mode), "MARGIN_MODE_"),
        "clientGroup": account.client_group or None,
        "balance": account.balance or None,
    }
