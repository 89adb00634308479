"""The one place where admin operations are authorized and audited (gRPC and REST alike).

    async with gate.guard(ctx, Op.MONEY_DEPOSIT, f"account:{account_id}") as audit:
        audit.before = {...}
        ...                       # the operation
        audit.after = {...}

``guard`` checks the role against ``admin.permissions.PERMISSIONS``; a refusal writes a DENIED row
and raises PermissionDenied. When the body raises, a FAILED row with the error's reason is written
for operations that change something (reads are audited only when denied) and the error goes on
unchanged; when it returns, a change writes its ALLOWED row with before and after. Each call
writes exactly one row (or none, for an allowed read).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import Counter

from admin import audit
from admin.domain import AuditRecord, Outcome, RequestContext
from admin.permissions import PERMISSIONS, Op, authorize
from fxmesh.errors import FxError, PermissionDenied
from fxmesh.tracing import current_trace_id

log = structlog.stdlib.get_logger(__name__)
OPERATIONS = Counter(
    "fxmesh_admin_operations_total",
    "Admin operations, by operation and outcome.",
    ["op", "outcome"],
)


@dataclass(slots=True)
class AuditDraft:
    """What the operation tells the gate about the resource it acted on."""

    target: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    """Kept in ``after`` of a FAILED row (what was asked, never secrets)."""


class Gate:
    def __init__(self, db: Any) -> None:
        self._db = db

    @asynccontextmanager
    async def guard(
        self, ctx: RequestContext, op: Op, target: str = ""
    ) -> AsyncIterator[AuditDraft]:
        draft = AuditDraft(target)
        try:
            authorize(ctx.principal, op)
        except PermissionDenied as exc:
            await self._write(ctx, op, draft, Outcome.DENIED, exc.reason)
            raise
        try:
            yield draft
        except FxError as exc:
            if PERMISSIONS[op].changes:
                await self._write(ctx, op, draft, Outcome.FAILED, exc.reason)
            else:
                OPERATIONS.labels(op.value, Outcome.FAILED.value).inc()
            raise
        except Exception:
            if PERMISSIONS[op].changes:
                await self._write(ctx, op, draft, Outcome.FAILED, "INTERNAL")
            raise
        if PERMISSIONS[op].changes:
            await self._write(ctx, op, draft, Outcome.ALLOWED, "")
        else:
            OPERATIONS.labels(op.value, Outcome.ALLOWED.value).inc()

    async def _write(
        self, ctx: RequestContext, op: Op, draft: AuditDraft, outcome: Outcome, error: str
    ) -> None:
        OPERATIONS.labels(op.value, outcome.value).inc()
        after = draft.after
        if outcome is not Outcome.ALLOWED and draft.details:
            after = {"requested": draft.details}
        await audit.append(
            self._db,
            AuditRecord(
                actor=ctx.principal.username,
                role=ctx.principal.role.value,
                action=op.value,
                target=draft.target,
                before=draft.before,
                after=after if outcome is not Outcome.DENIED else None,
                trace_id=current_trace_id(),
                source_ip=ctx.source_ip,
                user_agent=ctx.user_agent[:512],
                request_id=ctx.request_id,
                outcome=outcome,
                error_code=error,
            ),
        )
        if outcome is not Outcome.ALLOWED:
            log.info("admin_operation_refused", op=op.value, outcome=outcome.value, reason=error)
