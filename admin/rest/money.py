"""Money: POST /admin/deposit, /admin/withdraw, /admin/adjust, /admin/bonus.

Amounts are JSON strings or numbers, read as Decimal (never float), with at most the account
currency's minor units. Every call needs a request id (``requestId``, or the Idempotency-Key /
X-Request-Id header): a retry returns the first booking with ``replayed: true``. A withdrawal above
the approval threshold answers 202 and waits (``admin.rest.withdrawals``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import Field

from admin.accounts import MoneyRequest
from admin.documents import ledger_to_json, withdrawal_result_to_json
from admin.domain import Booking
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, read_body

router = APIRouter(prefix="/admin", tags=["money"])
Method = Literal["BANK_TRANSFER", "CRYPTO", "CARD"]


class MoneyBody(Body):
    account_id: str = Field(max_length=20)
    amount: Decimal | str
    method: Method | None = None
    reference: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=400)
    request_id: str | None = Field(None, max_length=64)


class AdjustBody(Body):
    account_id: str = Field(max_length=20)
    amount: Decimal | str
    type: Literal["MANUAL", "BONUS", "CORRECTION"]
    reason: str = Field(max_length=400)
    reference: str | None = Field(None, max_length=200)
    request_id: str | None = Field(None, max_length=64)


async def _book(op: Op, request: Request, ctx: Ctx, service: Service) -> Any:
    model: type[MoneyBody] | type[AdjustBody] = AdjustBody if op is Op.MONEY_ADJUST else MoneyBody
    body = await read_body(request, service, ctx, op, "", model)
    if isinstance(body, AdjustBody):
        req = MoneyRequest(
            body.account_id,
            body.amount,
            reference=body.reference or "",
            adjustment_type=body.type,
            reason=body.reason,
        )
    else:
        req = MoneyRequest(
            body.account_id, body.amount, body.method or "", body.reference or "", body.note or ""
        )
    booked = await service.accounts.book(ctx.with_request_id(body.request_id or ""), op, req)
    if isinstance(booked, Booking):
        return {"entry": ledger_to_json(booked.entry), "replayed": booked.replayed}
    # Above the approval threshold: accepted, not booked; it waits for another admin.
    return JSONResponse(withdrawal_result_to_json(booked), status_code=202)


@router.post("/deposit", openapi_extra=body_schema(MoneyBody))
async def deposit(request: Request, ctx: Ctx, service: Service) -> Any:
    """Book a deposit (method required)."""
    return await _book(Op.MONEY_DEPOSIT, request, ctx, service)


@router.post(
    "/withdraw",
    openapi_extra=body_schema(MoneyBody),
    responses={202: {"description": "Above the approval threshold: held, PENDING approval"}},
)
async def withdraw(request: Request, ctx: Ctx, service: Service) -> Any:
    """Book a withdrawal (method required; 409 NOT_ENOUGH_FREE_MARGIN above what free margin
    allows). Above the approval threshold it is not booked: 202 with ``{withdrawal, entry: null,
    replayed}``, its funds held until another admin approves or rejects it."""
    return await _book(Op.MONEY_WITHDRAW, request, ctx, service)


@router.post("/bonus", openapi_extra=body_schema(MoneyBody))
async def bonus(request: Request, ctx: Ctx, service: Service) -> Any:
    """Book a bonus."""
    return await _book(Op.MONEY_BONUS, request, ctx, service)


@router.post("/adjust", openapi_extra=body_schema(AdjustBody))
async def adjust(request: Request, ctx: Ctx, service: Service) -> Any:
    """Book a signed adjustment with its type and reason."""
    return await _book(Op.MONEY_ADJUST, request, ctx, service)
