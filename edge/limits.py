"""Abuse limits of the client API, in Redis so that every edge replica shares them.

- ``RequestGuard``: one round trip per authenticated request checks the token's revocation
  (``edge.sessions``) and counts the request in its account's fixed window for its route class
  (``orders``: anything that places, changes, cancels or closes; ``reads``: the rest). Over the
  limit: 429 ``RATE_LIMITED`` with ``Retry-After``; every answer carries ``RateLimit-Limit``,
  ``RateLimit-Remaining`` and ``RateLimit-Reset`` (seconds).
- ``LoginThrottle``: failed logins counted per login (lower-cased, whether or not it exists) and
  per source address; reaching the limit in the window locks the key for the lockout, and a
  locked key is refused (429 ``LOGIN_THROTTLED``, ``Retry-After``) before oms is asked, so the
  answers never tell a known login from an unknown one.
- ``SocketLeases``: open WebSockets per account, as leases in a sorted set renewed by each
  socket's heartbeat, so a replica that dies without closing its sockets frees them by expiry.
- ``TokenBucket``: the message rate of one socket (in process: a socket lives on one replica).
- ``BodyLimitMiddleware``: 413 ``PAYLOAD_TOO_LARGE`` for a body over ``max_body_bytes``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Literal, cast

import grpc
from fastapi import Request
from fastapi.responses import JSONResponse
from redis.asyncio import Redis
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fxmesh.admission import RETRY_AFTER_KEY
from fxmesh.errors import FxError
from fxmesh.http import error_body

RouteClass = Literal["orders", "reads"]
RATE_LIMITED = "RATE_LIMITED"
LOGIN_THROTTLED = "LOGIN_THROTTLED"
PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
_ORDER_PATHS = ("/api/orders", "/api/positions", "/api/trade")
# MetaTrader's order_check: a question, counted as a read.
_ORDER_CHECK = "/api/trade/check"

# KEYS: revocation keys (0 to 2), then the window counter (when ARGV[1] > 0).
# ARGV: window ms (0: no counting), number of revocation keys. Answers {revoked, count, ttl ms}.
_GUARD = """
local n = tonumber(ARGV[2])
if n > 0 and redis.call('EXISTS', unpack(KEYS, 1, n)) > 0 then return {1, 0, 0} end
local window = tonumber(ARGV[1])
if window == 0 then return {0, 0, 0} end
local bucket = KEYS[n + 1]
local count = redis.call('INCR', bucket)
local ttl = redis.call('PTTL', bucket)
if ttl < 0 then
  redis.call('PEXPIRE', bucket, window)
  ttl = window
end
return {0, count, ttl}
"""

# KEYS: lock keys. Answers the longest remaining lock in ms (0: none).
_LOCKED = """
local longest = 0
for _, key in ipairs(KEYS) do
  local ttl = redis.call('PTTL', key)
  if ttl > longest then longest = ttl end
end
return longest
"""

# KEYS: counter, lock (pairs). ARGV: window ms, lockout ms, then one limit per pair.
_FAILED = """
for i = 1, #KEYS, 2 do
  local count = redis.call('INCR', KEYS[i])
  if count == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  if count >= tonumber(ARGV[2 + (i + 1) / 2]) then
    redis.call('SET', KEYS[i + 1], '1', 'PX', ARGV[2])
    redis.call('DEL', KEYS[i])
  end
end
return 0
"""

# KEYS: the account's lease set. ARGV: now ms, lease expiry ms, socket id, limit, set ttl ms.
_LEASE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZSCORE', KEYS[1], ARGV[3]) == false
   and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"""


def route_class(method: str, path: str) -> RouteClass:
    """``orders`` for what places, changes, cancels or closes; ``reads`` for the rest."""
    if method != "GET" and path.startswith(_ORDER_PATHS) and path != _ORDER_CHECK:
        return "orders"
    return "reads"


class RateLimited(FxError):
    """Over the account's request limit for a route class."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = RATE_LIMITED

    def __init__(self, window: Window) -> None:
        super().__init__(
            f"too many {window.route_class} requests; retry after {window.reset} s",
            metadata={RETRY_AFTER_KEY: str(window.reset), "routeClass": window.route_class},
        )
        self.window = window


class LoginThrottled(FxError):
    """Too many failed logins for this login or address."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED
    default_reason = LOGIN_THROTTLED

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            "too many failed logins; try again later",
            metadata={RETRY_AFTER_KEY: str(retry_after)},
        )


@dataclass(frozen=True, slots=True)
class Window:
    """Where an account stands in its current rate-limit window."""

    route_class: RouteClass
    limit: int
    count: int
    reset: int
    """Seconds until the window ends."""

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


async def on_rate_limited(_: Request, exc: Exception) -> JSONResponse:
    """The 429 of ``RateLimited``: the house error shape with the limit headers."""
    assert isinstance(exc, RateLimited)
    window = exc.window
    return JSONResponse(
        error_body(exc.reason, exc.message, exc.metadata),
        status_code=429,
        headers={**window.headers(), "Retry-After": str(window.reset)},
    )


class RequestGuard:
    """Revocation check and per-account rate limit in one Redis round trip."""

    def __init__(self, redis: Redis, *, window_seconds: int, limits: dict[RouteClass, int]):
        self._script = redis.register_script(_GUARD)
        self._window_ms = window_seconds * 1000
        self._limits = limits

    async def check(
        self, revocation_keys: list[str], account_id: str, route: RouteClass
    ) -> tuple[bool, Window]:
        """(revoked, the account's window); counts the request when not revoked."""
        keys = [*revocation_keys, f"edge:rate:{route}:{account_id}"]
        revoked, count, ttl_ms = await self._script(
            keys=keys, args=[self._window_ms, len(revocation_keys)]
        )
        window = Window(route, self._limits[route], int(count), max(1, math.ceil(ttl_ms / 1000)))
        return bool(revoked), window


class LoginThrottle:
    """Failed-login counters and locks per login and per source address (see the module)."""

    def __init__(
        self,
        redis: Redis,
        *,
        max_failures: int,
        max_failures_per_ip: int,
        window_seconds: int,
        lockout_seconds: int,
    ) -> None:
        self._locked = redis.register_script(_LOCKED)
        self._failed = redis.register_script(_FAILED)
        self._redis = redis
        self._limits = (max_failures, max_failures_per_ip)
        self._window_ms = window_seconds * 1000
        self._lockout_ms = lockout_seconds * 1000

    @staticmethod
    def _keys(login: str, source_ip: str) -> tuple[str, str]:
        return f"login:{login.strip().lower()[:128]}", f"ip:{source_ip or 'unknown'}"

    async def check(self, login: str, source_ip: str) -> None:
        """Raise LoginThrottled while the login or the address is locked."""
        keys = [f"edge:login-lock:{k}" for k in self._keys(login, source_ip)]
        ttl_ms = int(await self._locked(keys=keys))
        if ttl_ms > 0:
            raise LoginThrottled(max(1, math.ceil(ttl_ms / 1000)))

    async def failed(self, login: str, source_ip: str) -> None:
        """Count one failure against the login and the address; lock those at their limit."""
        keys: list[str] = []
        for key in self._keys(login, source_ip):
            keys += [f"edge:login-fail:{key}", f"edge:login-lock:{key}"]
        await self._failed(keys=keys, args=[self._window_ms, self._lockout_ms, *self._limits])

    async def succeeded(self, login: str) -> None:
        """Forget the login's failures (the address's stay counted)."""
        await self._redis.delete(f"edge:login-fail:{self._keys(login, '')[0]}")


class SocketLeases:
    """Open WebSockets per account across every replica: a lease per socket, renewed by its
    heartbeat, expiring ``lease_seconds`` after the last renewal."""

    def __init__(self, redis: Redis, *, limit: int, lease_seconds: float) -> None:
        self._script = redis.register_script(_LEASE)
        self._redis = redis
        self._limit = limit
        self._lease_ms = int(lease_seconds * 1000)

    async def acquire(self, account_id: str, socket_id: str) -> bool:
        """Take (or renew) the socket's lease; False when the account has ``limit`` already."""
        now = int(time.time() * 1000)
        taken = await self._script(
            keys=[f"edge:ws:{account_id}"],
            args=[now, now + self._lease_ms, socket_id, self._limit, self._lease_ms],
        )
        return bool(taken)

    async def release(self, account_id: str, socket_id: str) -> None:
        await cast(Awaitable[int], self._redis.zrem(f"edge:ws:{account_id}", socket_id))


class TokenBucket:
    """``rate`` tokens a second up to ``burst``; ``take`` spends one when there is one."""

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._at = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True


class BodyLimitMiddleware:
    """Refuse a request body over ``max_bytes`` with 413 before any route reads it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        # No length (chunked): read it here, up to the limit, and replay it to the app.
        messages: list[Message] = []
        size = 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            error_body(
                PAYLOAD_TOO_LARGE,
                f"request body is larger than {self.max_bytes} bytes",
                {"maxBytes": self.max_bytes},
            ),
            status_code=413,
        )
        await response(scope, receive, send)
