"""Typed dependencies: the service, the authenticated admin and the role guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from admin.domain import Permission, Principal, authorize
from admin.service import AdminService
from fxmesh.auth import bearer_token


def get_service(request: Request) -> AdminService:
    service: AdminService = request.app.state.service
    return service


Service = Annotated[AdminService, Depends(get_service)]


def current_admin(request: Request, service: Service) -> Principal:
    """The admin the bearer token names (401 for a missing, bad or client token)."""
    return service.authenticate(bearer_token(request.headers.get("authorization")))


Admin = Annotated[Principal, Depends(current_admin)]


def require(permission: Permission) -> Callable[[Principal], Principal]:
    """Route dependency: the current admin, if their role grants ``permission`` (else 403)."""

    def guard(principal: Admin) -> Principal:
        authorize(principal, permission)
        return principal

    return guard


Reader = Annotated[Principal, Depends(require(Permission.READ))]
