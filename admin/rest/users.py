"""Admin users: list, create, change role / status, passwords (SUPER_ADMIN, but one's own)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import Field

from admin.documents import iso, user_to_json
from admin.domain import Role
from admin.permissions import Op
from admin.rest.deps import Body, Ctx, Service, body_schema, read_body
from admin.users import PASSWORD_MAX, UserChanges

router = APIRouter(prefix="/admin/users", tags=["admin users"])


class NewUserBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    role: Role
    request_id: str | None = Field(None, max_length=64)


class UserChangeBody(Body):
    role: Role | None = None
    disabled: bool | None = None
    request_id: str | None = Field(None, max_length=64)


class ResetPasswordBody(Body):
    new_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    request_id: str | None = Field(None, max_length=64)


class OwnPasswordBody(Body):
    current_password: str = Field(min_length=1, max_length=256)
    new_password: str = Field(min_length=1, max_length=PASSWORD_MAX)
    request_id: str | None = Field(None, max_length=64)


@router.get("")
async def list_users(ctx: Ctx, service: Service) -> dict[str, Any]:
    """Every admin user with role and status (SUPER_ADMIN only)."""
    return {"users": [user_to_json(u) for u in await service.users.list(ctx)]}


@router.post(
    "",
    status_code=201,
    openapi_extra=body_schema(NewUserBody),
    responses={
        400: {"description": "PASSWORD_TOO_WEAK, INVALID_USERNAME, USERNAME_RESERVED"},
        409: {"description": "USERNAME_TAKEN"},
    },
)
async def create_user(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Create an admin user. The password needs 12..128 characters with letters and non-letters
    and must not contain the username."""
    body = await read_body(request, service, ctx, Op.USER_CREATE, "admin_user:", NewUserBody)
    user = await service.users.create(
        ctx.with_request_id(body.request_id or ""), body.username, body.password, body.role
    )
    return {"user": user_to_json(user)}


@router.post(
    "/me/password",
    openapi_extra=body_schema(OwnPasswordBody),
    responses={
        400: {"description": "CURRENT_PASSWORD_WRONG, PASSWORD_TOO_WEAK, PASSWORD_UNCHANGED"},
        429: {"description": "LOGIN_THROTTLED: too many wrong current passwords"},
    },
)
async def change_own_password(request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Change your own password (any role). Your other tokens stop working; the answer carries
    a new one."""
    target = f"admin_user:{ctx.principal.username}"
    body = await read_body(
        request, service, ctx, Op.USER_CHANGE_OWN_PASSWORD, target, OwnPasswordBody
    )
    user, result = await service.change_own_password(
        ctx.with_request_id(body.request_id or ""), body.current_password, body.new_password
    )
    return {
        "user": user_to_json(user),
        "accessToken": result.access_token,
        "tokenType": "Bearer",
        "expiresAt": iso(result.expires_at),
        "role": result.role.value,
    }


@router.put(
    "/{user_id}",
    openapi_extra=body_schema(UserChangeBody),
    responses={
        404: {"description": "ADMIN_USER_NOT_FOUND"},
        409: {"description": "LAST_SUPER_ADMIN: no enabled SUPER_ADMIN would remain"},
    },
)
async def update_user(user_id: str, request: Request, ctx: Ctx, service: Service) -> dict[str, Any]:
    """Change an admin user's role and / or disable or enable them; a change revokes their
    tokens. The id is the username."""
    body = await read_body(
        request, service, ctx, Op.USER_UPDATE, f"admin_user:{user_id[:64]}", UserChangeBody
    )
    user, revoked = await service.users.update(
        ctx.with_request_id(body.request_id or ""),
        user_id,
        UserChanges(role=body.role, disabled=body.disabled),
    )
    return {"user": user_to_json(user), "tokensRevoked": revoked}


@router.post(
    "/{user_id}/password",
    openapi_extra=body_schema(ResetPasswordBody),
    responses={
        400: {"description": "PASSWORD_TOO_WEAK, OWN_PASSWORD_NEEDS_CURRENT"},
        404: {"description": "ADMIN_USER_NOT_FOUND"},
    },
)
async def reset_password(
    user_id: str, request: Request, ctx: Ctx, service: Service
) -> dict[str, Any]:
    """Set another admin user's password (SUPER_ADMIN); their tokens stop working and their
    login lock is lifted. Your own: POST /admin/users/me/password."""
    body = await read_body(
        request,
        service,
        ctx,
        Op.USER_RESET_PASSWORD,
        f"admin_user:{user_id[:64]}",
        ResetPasswordBody,
    )
    user = await service.users.reset_password(
        ctx.with_request_id(body.request_id or ""), user_id, body.new_password
    )
    return {"user": user_to_json(user)}
