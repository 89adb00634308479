"""Admin login throttling: failures counted per username and per source address in PostgreSQL
(so every admin replica sees them); past the limit within the window the key is locked.

A username is counted whether or not it exists, and a locked key is refused before any user is
looked up, so the answer (429 LOGIN_THROTTLED with Retry-After) never tells a known username from
an unknown one.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import grpc

from fxmesh.errors import FxError


class LoginThrottled(FxError):
    """Too many failed logins: retry after ``retry_after`` seconds."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = "LOGIN_THROTTLED"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many failed logins; try again later",
            metadata={"retry_after_seconds": str(retry_after)},
        )
        self.retry_after = retry_after


def user_key(username: str) -> str:
    return f"user:{username.strip().lower()[:128]}"


def ip_key(source_ip: str) -> str:
    return f"ip:{source_ip or 'unknown'}"


class LoginThrottle:
    def __init__(
        self,
        db: Any,
        *,
        max_failures: int,
        max_failures_per_ip: int,
        window: timedelta,
        lockout: timedelta,
    ) -> None:
        self._db = db
        self._limits = {"user": max_failures, "ip": max_failures_per_ip}
        self._window = window
        self._lockout = lockout

    async def check(self, keys: list[str], now: datetime) -> None:
        """Raise LoginThrottled while any of ``keys`` is locked."""
        until: datetime | None = await self._db.fetchval(
            "SELECT max(locked_until) FROM admin.login_failures "
            "WHERE key = ANY($1::text[]) AND locked_until > $2",
            keys,
            now,
        )
        if until is not None:
            raise LoginThrottled(max(1, math.ceil((until - now).total_seconds())))

    async def failed(self, keys: list[str], now: datetime) -> None:
        """Count a failure against each key; lock a key that reaches its limit."""
        for key in keys:
            failures: int = await self._db.fetchval(
                "INSERT INTO admin.login_failures AS f (key, failures, window_start) "
                "VALUES ($1, 1, $2) ON CONFLICT (key) DO UPDATE SET "
                "failures = CASE WHEN f.window_start <= $2 - $3::interval THEN 1 "
                "ELSE f.failures + 1 END, "
                "window_start = CASE WHEN f.window_start <= $2 - $3::interval THEN $2 "
                "ELSE f.window_start END RETURNING failures",
                key,
                now,
                self._window,
            )
            if failures >= self._limits[key.partition(":")[0]]:
                await self._db.execute(
                    "UPDATE admin.login_failures SET locked_until = $2, failures = 0, "
                    "window_start = $3 WHERE key = $1",
                    key,
                    now + self._lockout,
                    now,
                )

    async def succeeded(self, username: str) -> None:
        await self._db.execute(
            "DELETE FROM admin.login_failures WHERE key = $1", user_key(username)
        )
