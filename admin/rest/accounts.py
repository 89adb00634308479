"""Client accounts: search, detail, create, update, leverage, suspend / activate, close."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import Field

from admin.accounts import AccountChanges, AccountSearch, NewAccount
from admin.documents import account_to_json, position_to_json, summary_to_json
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, read_body

router = APIRouter(prefix="/admin/accounts", tags=["accounts"])
PageSize = Annotated[int, Query(alias="pageSize", ge=0, le=1000)]
Amount = Decimal | str


class CreateAccountBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=8, max_length=128)
    account_type: Literal["DEMO", "LIVE"]
    currency: str = Field(min_length=3, max_length=3)
    leverage: int
    margin_mode: Literal["HEDGING", "NETTING"] | None = None
    group: str | None = Field(None, max_length=64)
    initial_deposit: Amount | None = None
    request_id: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=254)
    name: str | None = Field(None, max_length=128)


class UpdateAccountBody(Body):
    group: str | None = Field(None, max_length=64)
    margin_call_level: Amount | None = None
    stop_out_level: Amount | None = None
    negative_balance_protection: bool | None = None
    max_open_positions: int | None = None
    max_daily_volume: Amount | None = None
    request_id: str | None = Field(None, max_length=64)


class LeverageBody(Body):
    leverage: int
    request_id: str | None = Field(None, max_length=64)


class StatusBody(Body):
    reason: str | None = Field(None, max_length=500)
    request_id: str | None = Field(None, max_length=64)


@router.get("")
async def list_accounts(
    ctx: Ctx,
    service: Service,
    q: str = "",
    type: Annotated[str, Query(description="DEMO or LIVE")] = "",
    status: Annotated[str, Query(description="ACTIVE, SUSPENDED or CLOSED")] = "",
    group: str = "",
    page_size: PageSize = 0,
    page_token: Annotated[str, Query(alias="pageToken")] = "",
) -> dict[str, Any]:
    """Search client accounts: ``q`` matches a login substring or an account id."""
    accounts, token = await service.accounts.search(
        ctx, AccountSearch(q, type, status, group, page_size, page_token)
    )
    return {"accounts": [account_to_json(a) for a in accounts], "nextPageToken": token or None}


@router.get("/{account_id}")
async def get_account(account_id: str, ctx: Ctx, service: Service) -> dict[str, Any]:
    """One account with its live balance, equity, margin level and open positions."""
    summary, positions = await service.accounts.get(ctx, account_id)
    return {
        "account": summary_to_json(summary),
        "positions": [position_to_json(p) for p in positions],
    }


@router.post("", status_code=201, openapi_extra=body_schema(CreateAccountBody))
async def create_account(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Open a client account (password to oms only, never to the audit log)."""
    body = await read_body(request, service, ctx, Op.ACCOUNT_CREATE, "", CreateAccountBody)
    account = await service.accounts.create(
        ctx.with_request_id(body.request_id or ""),
        NewAccount(
            username=body.username,
            password=body.password,
            account_type=body.account_type,
            currency=body.currency,
            leverage=body.leverage,
            margin_mode=body.margin_mode or "",
            client_group=body.group or "",
            initial_deposit=body.initial_deposit,
            email=body.email or "",
            name=body.name or "",
        ),
    )
    return {"account": account_to_json(account)}


@router.put("/{account_id}", openapi_extra=body_schema(UpdateAccountBody))
async def update_account(
    account_id: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    """Change group, margin call / stop-out levels, negative balance protection and limits."""
    target = f"account:{account_id}"
    body = await read_body(request, service, ctx, Op.ACCOUNT_UPDATE, target, UpdateAccountBody)
    account = await service.accounts.update(
        ctx.with_request_id(body.request_id or ""),
        account_id,
        AccountChanges(
            client_group=body.group,
            margin_call_level=body.margin_call_level,
            stop_out_level=body.stop_out_level,
            negative_balance_protection=body.negative_balance_protection,
            max_open_positions=body.max_open_positions,
            max_daily_volume=body.max_daily_volume,
        ),
    )
    return {"account": account_to_json(account)}


@router.put("/{account_id}/leverage", openapi_extra=body_schema(LeverageBody))
async def set_leverage(
    account_id: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    """Change the leverage (1..500; else 400 INVALID_LEVERAGE)."""
    target = f"account:{account_id}"
    body = await read_body(request, service, ctx, Op.ACCOUNT_SET_LEVERAGE, target, LeverageBody)
    account = await service.accounts.set_leverage(
        ctx.with_request_id(body.request_id or ""), account_id, body.leverage
    )
    return {"account": account_to_json(account)}


async def _status(
    op: Op, account_id: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    body = await read_body(request, service, ctx, op, f"account:{account_id}", StatusBody)
    account = await service.accounts.set_status(
        ctx.with_request_id(body.request_id or ""), op, account_id, body.reason or ""
    )
    return {"account": account_to_json(account)}


_STATUS_DOC = {"description": "Optional body: {reason, requestId}.", **body_schema(StatusBody)}


@router.post("/{account_id}/suspend", openapi_extra=_STATUS_DOC)
async def suspend(account_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Suspend an active account (409 ACCOUNT_ALREADY_SUSPENDED when it is)."""
    return await _status(Op.ACCOUNT_SUSPEND, account_id, request, ctx, service)


@router.post("/{account_id}/activate", openapi_extra=_STATUS_DOC)
async def activate(account_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Activate a suspended account (409 ACCOUNT_ALREADY_ACTIVE when it is active)."""
    return await _status(Op.ACCOUNT_ACTIVATE, account_id, request, ctx, service)


@router.put("/{account_id}/activate", openapi_extra=_STATUS_DOC)
async def activate_put(
    account_id: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    """The same as POST /admin/accounts/{account_id}/activate."""
    return await _status(Op.ACCOUNT_ACTIVATE, account_id, request, ctx, service)


@router.delete("/{account_id}", openapi_extra=_STATUS_DOC)
async def close(account_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Close the account; 409 ACCOUNT_NOT_FLAT with open positions or orders, 409
    BALANCE_NOT_ZERO with money on it."""
    return await _status(Op.ACCOUNT_CLOSE, account_id, request, ctx, service)
