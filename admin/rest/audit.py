"""The audit log: search, CSV export, chain verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from admin.audit import AuditFilter
from admin.documents import audit_to_json, verification_to_json
from admin.rest.deps import Ctx, Service, query_time

router = APIRouter(prefix="/admin/audit", tags=["audit"])
PageSize = Annotated[int, Query(alias="pageSize", ge=0, le=1000)]


def _filter(actor: str, action: str, resource: str, start: str, end: str) -> AuditFilter:
    return AuditFilter(actor, action, resource, query_time(start, "from"), query_time(end, "to"))


From = Annotated[str, Query(alias="from", description="ISO-8601, inclusive")]
To = Annotated[str, Query(alias="to", description="ISO-8601, exclusive")]


@router.get("")
async def list_audit(
    ctx: Ctx,
    service: Service,
    actor: str = "",
    action: str = "",
    resource: str = "",
    start: From = "",
    end: To = "",
    page_size: PageSize = 0,
    page_token: Annotated[str, Query(alias="pageToken")] = "",
) -> dict[str, Any]:
    """Audit entries, newest first; exact matches on actor, action and resource."""
    entries, token = await service.list_audit(
        ctx, _filter(actor, action, resource, start, end), page_size, page_token
    )
    return {"entries": [audit_to_json(e) for e in entries], "nextPageToken": token or None}


@router.get("/export", response_class=Response, responses={200: {"content": {"text/csv": {}}}})
async def export_audit(
    ctx: Ctx,
    service: Service,
    actor: str = "",
    action: str = "",
    resource: str = "",
    start: From = "",
    end: To = "",
) -> Response:
    """The matching entries as CSV, oldest first (at most 100 000; else 409 EXPORT_TOO_LARGE)."""
    text, _ = await service.export_audit(ctx, _filter(actor, action, resource, start, end))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="audit.csv"'},
    )


@router.get("/verify")
async def verify_audit(ctx: Ctx, service: Service) -> dict[str, Any]:
    """Recompute the hash chain; ``firstBrokenAuditId`` names the first entry that fails."""
    return verification_to_json(await service.verify_audit(ctx))
