"""Admin users: list, create, change role or status, reset and change passwords (SUPER_ADMIN only,
except each admin's own password).

The username is the user's id. Passwords are argon2id hashes (``fxmesh.passwords``), checked
against a minimum policy, and never reach the audit log. Disabling a user, or changing their role
or password, bumps their token version, so their live tokens are refused on the next request. No
change may leave the system without an enabled SUPER_ADMIN (409 ``LAST_SUPER_ADMIN``): the check
and the change run in one transaction holding the row locks of every enabled SUPER_ADMIN.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from admin import repository
from admin.domain import AdminUser, RequestContext, Role
from admin.gate import Gate
from admin.logins import LoginThrottle, user_key
from admin.permissions import Op
from fxmesh import passwords
from fxmesh.errors import FailedPrecondition, InvalidArgument, NotFound
from fxmesh.reasons import Reason

USERNAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
RESERVED_USERNAMES = frozenset({"me"})
"""``/admin/users/me/password`` names the caller."""
PASSWORD_MIN, PASSWORD_MAX = 12, 128


def invalid(message: str, reason: str, field_name: str, **meta: str) -> InvalidArgument:
    return InvalidArgument(message, reason=reason, metadata={"field": field_name, **meta})


def username_of(value: str) -> str:
    """A valid username (same rule as the table's CHECK), or 400 INVALID_USERNAME."""
    text = value.strip()
    if not USERNAME.fullmatch(text):
        raise invalid(
            "username must be 1..64 of letters, digits and . _ @ -", "INVALID_USERNAME", "username"
        )
    return text


def check_password_policy(password: str, username: str, field_name: str = "password") -> None:
    """The minimum policy: 12..128 characters, a letter and a non-letter, not the username, not
    one character repeated. 400 ``PASSWORD_TOO_WEAK`` naming the broken rule otherwise."""
    rule = ""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        rule = "LENGTH"
    elif not any(c.isalpha() for c in password) or all(c.isalpha() for c in password):
        rule = "LETTERS_AND_NON_LETTERS"
    elif username and username.lower() in password.lower():
        rule = "CONTAINS_USERNAME"
    elif len(set(password)) < 4:
        rule = "TOO_FEW_DISTINCT_CHARACTERS"
    if rule:
        raise invalid(
            f"password does not meet the policy ({rule}): {PASSWORD_MIN}..{PASSWORD_MAX} "
            "characters with letters and non-letters, not containing the username",
            "PASSWORD_TOO_WEAK",
            field_name,
            rule=rule,
            min_length=str(PASSWORD_MIN),
        )


def role_of(value: str) -> Role:
    try:
        return Role(value.strip().upper())
    except ValueError:
        raise invalid(f"unknown role {value!r}", "INVALID_ROLE", "role") from None


async def _hash(password: str) -> str:
    return await asyncio.to_thread(passwords.hash_password, password)


def _not_found(username: str) -> NotFound:
    return NotFound(
        f"no admin user {username!r}",
        reason="ADMIN_USER_NOT_FOUND",
        metadata={"username": username},
    )


def _state(user: AdminUser, version_before: int | None = None) -> dict[str, Any]:
    state = user.public()
    if version_before is not None:
        state["tokensRevoked"] = user.token_version != version_before
    return state


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A change of one user; None keeps the value."""

    role: Role | None = None
    disabled: bool | None = None


class UsersDesk:
    def __init__(self, gate: Gate, db: Any, throttle: LoginThrottle, now: Callable[[], datetime]):
        self._gate = gate
        self._db = db
        self._throttle = throttle
        self._now = now

    async def list(self, ctx: RequestContext) -> list[AdminUser]:
        async with self._gate.guard(ctx, Op.USERS_LIST):
            return await repository.list_users(self._db)

    async def create(
        self, ctx: RequestContext, username: str, password: str, role: Role | str
    ) -> AdminUser:
        async with self._gate.guard(ctx, Op.USER_CREATE, f"admin_user:{username[:64]}") as audit:
            audit.details = {"username": username[:64], "role": str(role)}
            name = username_of(username)
            if name.lower() in RESERVED_USERNAMES:
                raise invalid(f"{name!r} is reserved", "USERNAME_RESERVED", "username")
            new_role = role if isinstance(role, Role) else role_of(role)
            check_password_policy(password, name)
            user = await repository.insert_user(self._db, name, await _hash(password), new_role)
            audit.after = _state(user)
            return user

    async def update(
        self, ctx: RequestContext, username: str, changes: UserChanges
    ) -> tuple[AdminUser, bool]:
        """Change role and / or status; answer the user and whether their tokens were revoked.
        409 LAST_SUPER_ADMIN when no enabled SUPER_ADMIN would remain."""
        async with self._gate.guard(ctx, Op.USER_UPDATE, f"admin_user:{username[:64]}") as audit:
            audit.details = {
                "role": changes.role.value if changes.role else None,
                "disabled": changes.disabled,
            }
            if changes.role is None and changes.disabled is None:
                raise invalid(
                    "nothing to change: give role and / or disabled", Reason.NO_CHANGES, ""
                )
            async with self._db.acquire() as conn, conn.transaction():
                supers = await repository.lock_active_super_admins(conn)
                user = await repository.fetch_user(conn, username, for_update=True)
                if user is None:
                    raise _not_found(username)
                audit.before = _state(user)
                role = changes.role or user.role
                disabled = user.disabled if changes.disabled is None else changes.disabled
                stays_super = role is Role.SUPER_ADMIN and not disabled
                if supers == [user.username] and not stays_super:
                    raise FailedPrecondition(
                        f"{user.username} is the last enabled SUPER_ADMIN; enable or create "
                        "another SUPER_ADMIN first",
                        reason="LAST_SUPER_ADMIN",
                        metadata={"username": user.username},
                    )
                updated = await repository.change_user(conn, user.username, role, disabled)
            audit.after = _state(updated, user.token_version)
            return updated, updated.token_version != user.token_version

    async def reset_password(
        self, ctx: RequestContext, username: str, new_password: str
    ) -> AdminUser:
        """Set another admin's password (their tokens stop; their login lock is lifted)."""
        target = f"admin_user:{username[:64]}"
        async with self._gate.guard(ctx, Op.USER_RESET_PASSWORD, target) as audit:
            if username == ctx.principal.username:
                raise invalid(
                    "change your own password with your current one (users/me/password)",
                    "OWN_PASSWORD_NEEDS_CURRENT",
                    "username",
                )
            user = await repository.fetch_user(self._db, username)
            if user is None:
                raise _not_found(username)
            check_password_policy(new_password, user.username, "newPassword")
            audit.before = _state(user)
            updated = await repository.replace_password(
                self._db, user.username, await _hash(new_password)
            )
            await self._throttle.succeeded(user.username)
            audit.after = {**_state(updated, user.token_version), "passwordChanged": True}
            return updated

    async def change_own_password(
        self, ctx: RequestContext, current_password: str, new_password: str
    ) -> AdminUser:
        """Change the caller's password, proven by the current one. Wrong current passwords count
        against the login throttle of the username (a stolen token cannot guess it)."""
        me = ctx.principal.username
        async with self._gate.guard(ctx, Op.USER_CHANGE_OWN_PASSWORD, f"admin_user:{me}") as audit:
            keys = [user_key(me)]
            now = self._now()
            await self._throttle.check(keys, now)
            user = await repository.fetch_user(self._db, me)
            if user is None:
                raise _not_found(me)
            if not await passwords.verify_password(user.password_hash, current_password):
                await self._throttle.failed(keys, now)
                raise invalid(
                    "current password is wrong", "CURRENT_PASSWORD_WRONG", "currentPassword"
                )
            if new_password == current_password:
                raise invalid(
                    "the new password is the current one", "PASSWORD_UNCHANGED", "newPassword"
                )
            check_password_policy(new_password, me, "newPassword")
            audit.before = _state(user)
            updated = await repository.replace_password(self._db, me, await _hash(new_password))
            audit.after = {**_state(updated, user.token_version), "passwordChanged": True}
            return updated
