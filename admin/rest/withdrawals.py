"""Withdrawals awaiting approval: GET /admin/withdrawals, POST /admin/withdrawals/{id}/approve and
/admin/withdrawals/{id}/reject (four eyes: the approver is not the requester)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import Field

from admin.documents import withdrawal_result_to_json, withdrawal_to_json
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, read_body

router = APIRouter(prefix="/admin/withdrawals", tags=["money"])


class ApproveBody(Body):
    request_id: str | None = Field(None, max_length=64)


class RejectBody(Body):
    reason: str = Field(max_length=500)
    request_id: str | None = Field(None, max_length=64)


@router.get("")
async def list_withdrawals(
    ctx: Ctx,
    service: Service,
    status: Annotated[str, Query(description="PENDING, APPROVED, REJECTED or FAILED")] = "",
    account_id: Annotated[str, Query(alias="accountId")] = "",
    page_size: Annotated[int, Query(alias="pageSize", ge=0, le=1000)] = 0,
    page_token: Annotated[str, Query(alias="pageToken")] = "",
) -> dict[str, Any]:
    """Withdrawals above the approval threshold, newest first."""
    withdrawals, token = await service.withdrawals.search(
        ctx, status=status, account_id=account_id, requested=page_size, page_token=page_token
    )
    return {
        "withdrawals": [withdrawal_to_json(w) for w in withdrawals],
        "nextPageToken": token or None,
    }


@router.post("/{withdrawal_id}/approve", openapi_extra=body_schema(ApproveBody))
async def approve(withdrawal_id: str, request: Request, ctx: Ctx, service: Service) -> Any:
    """Book a pending withdrawal from its held funds: ``{withdrawal, entry, replayed}``. 403
    FOUR_EYES_REQUIRED for its requester, 409 WITHDRAWAL_ALREADY_DECIDED, 404
    WITHDRAWAL_NOT_FOUND."""
    target = f"withdrawal:{withdrawal_id}"
    body = await read_body(request, service, ctx, Op.WITHDRAWAL_APPROVE, target, ApproveBody)
    result = await service.withdrawals.approve(
        ctx.with_request_id(body.request_id or ""), withdrawal_id
    )
    return withdrawal_result_to_json(result)


@router.post("/{withdrawal_id}/reject", openapi_extra=body_schema(RejectBody))
async def reject(withdrawal_id: str, request: Request, ctx: Ctx, service: Service) -> Any:
    """Refuse a pending withdrawal with a reason: its funds are released, nothing is booked."""
    target = f"withdrawal:{withdrawal_id}"
    body = await read_body(request, service, ctx, Op.WITHDRAWAL_REJECT, target, RejectBody)
    result = await service.withdrawals.reject(
        ctx.with_request_id(body.request_id or ""), withdrawal_id, body.reason
    )
    return withdrawal_result_to_json(result)
