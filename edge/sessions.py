"""Client sessions in Redis, shared by every edge replica: refresh tokens, logout, revocation.

A login starts a session (``sid``, carried in every access token of it) and hands out a refresh
token: an opaque random string, stored only as its SHA-256 (``edge:refresh:{hash}``, with the
session, account and login). ``POST /api/token/refresh`` rotates it: the presented token is marked
used (kept until it would have expired) and a new one issued with a new access token of the same
session. Presenting a used refresh token again means it was copied: the whole session (the
family) is revoked, the thief's tokens and the owner's alike.

Revocation is a list in Redis: ``edge:revoked:jti:{jti}`` for one access token (for its remaining
lifetime) and ``edge:revoked:sid:{sid}`` for a session (for the longest an access token of it may
still live). Every authenticated request checks both in the same round trip as its rate limit
(``edge.limits.RequestGuard``), so a logout takes effect at once on every replica; a message on
``revocation_channel`` makes every replica close that session's open WebSockets.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import structlog
from redis.asyncio import Redis

from edge.feeds import RedisFeed
from fxmesh.auth import TokenClaims
from fxmesh.errors import Unauthenticated
from fxmesh.quotecache import redis_db

log = structlog.stdlib.get_logger(__name__)

REFRESH_PREFIX = "edge:refresh:"
SESSION_PREFIX = "edge:session:"
REVOKED_TOKEN_PREFIX = "edge:revoked:jti:"
REVOKED_SESSION_PREFIX = "edge:revoked:sid:"
TOKEN_REVOKED = "TOKEN_REVOKED"
REFRESH_TOKEN_INVALID = "REFRESH_TOKEN_INVALID"
REFRESH_TOKEN_REUSED = "REFRESH_TOKEN_REUSED"

# KEYS: the presented refresh token, its session, the session's revocation, the new refresh token.
# ARGV: the session id read beforehand, new token hash, refresh ttl ms, session revocation ttl ms.
# Answers {status, account, login}: status "ok", "missing", "revoked" or "reused".
_ROTATE = """
local sid = redis.call('HGET', KEYS[1], 'sid')
if not sid or sid ~= ARGV[1] then return {'missing', '', ''} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'revoked', '', ''} end
local account = redis.call('HGET', KEYS[1], 'account')
local login = redis.call('HGET', KEYS[1], 'login')
if redis.call('HGET', KEYS[1], 'used') == '1' then
  redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
  local current = redis.call('HGET', KEYS[2], 'current')
  if current then redis.call('DEL', 'edge:refresh:' .. current) end
  redis.call('DEL', KEYS[2])
  return {'reused', account, login}
end
redis.call('HSET', KEYS[1], 'used', '1')
redis.call('HSET', KEYS[4], 'sid', sid, 'account', account, 'login', login, 'used', '0')
redis.call('PEXPIRE', KEYS[4], ARGV[3])
redis.call('HSET', KEYS[2], 'account', account, 'login', login, 'current', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return {'ok', account, login}
"""


def revocation_channel(db: int) -> str:
    """Pub/sub channel of revoked sessions in logical database ``db`` (pub/sub ignores SELECT)."""
    return f"edge.{db}.revoked"


def _hash(refresh_token: str) -> str:
    return hashlib.sha256(refresh_token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Rotated:
    """A refresh token exchanged for a new one: the session and account it belongs to."""

    session_id: str
    account_id: str
    login: str
    refresh_token: str


class SessionStore:
    """Refresh-token families and the revocation list (see the module docstring)."""

    def __init__(self, redis: Redis, *, access_ttl_seconds: int, refresh_ttl_seconds: int) -> None:
        self._redis = redis
        self._access_ttl_ms = access_ttl_seconds * 1000
        self._refresh_ttl_ms = refresh_ttl_seconds * 1000
        self._rotate = redis.register_script(_ROTATE)
        self.channel = revocation_channel(redis_db(redis))

    async def start(self, account_id: str, login: str) -> tuple[str, str]:
        """A new session of ``account_id``: its id and its first refresh token."""
        session_id = uuid.uuid4().hex
        refresh_token = secrets.token_urlsafe(32)
        digest = _hash(refresh_token)
        fields = {"account": account_id, "login": login}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(REFRESH_PREFIX + digest, mapping={**fields, "sid": session_id, "used": "0"})
            pipe.pexpire(REFRESH_PREFIX + digest, self._refresh_ttl_ms)
            pipe.hset(SESSION_PREFIX + session_id, mapping={**fields, "current": digest})
            pipe.pexpire(SESSION_PREFIX + session_id, self._refresh_ttl_ms)
            await pipe.execute()
        return session_id, refresh_token

    async def rotate(self, refresh_token: str) -> Rotated:
        """Exchange a refresh token for a new one; Unauthenticated when it is unknown, expired or
        revoked, and (revoking the session) when it was used before."""
        key = REFRESH_PREFIX + _hash(refresh_token)
        session_id = await cast(Awaitable[str | None], self._redis.hget(key, "sid"))
        if not session_id:
            raise _refused("refresh token is not valid", REFRESH_TOKEN_INVALID)
        new_token = secrets.token_urlsafe(32)
        new_digest = _hash(new_token)
        status, account_id, login = await self._rotate(
            keys=[
                key,
                SESSION_PREFIX + session_id,
                REVOKED_SESSION_PREFIX + session_id,
                REFRESH_PREFIX + new_digest,
            ],
            args=[session_id, new_digest, self._refresh_ttl_ms, self._access_ttl_ms],
        )
        if status == "reused":
            log.warning("refresh_token_reused", account_id=account_id, session_id=session_id)
            await self._announce(session_id)
            raise _refused("refresh token was already used; session revoked", REFRESH_TOKEN_REUSED)
        if status != "ok":
            raise _refused("refresh token is not valid", REFRESH_TOKEN_INVALID)
        return Rotated(session_id, str(account_id), str(login), new_token)

    async def revoke(self, claims: TokenClaims) -> None:
        """Log out: the access token and its whole session, at once on every replica."""
        remaining_ms = int((claims.expires_at - datetime.now(UTC)).total_seconds() * 1000)
        async with self._redis.pipeline(transaction=True) as pipe:
            if claims.token_id is not None and remaining_ms > 0:
                pipe.set(REVOKED_TOKEN_PREFIX + claims.token_id, "1", px=remaining_ms)
            if claims.session_id is not None:
                pipe.set(REVOKED_SESSION_PREFIX + claims.session_id, "1", px=self._access_ttl_ms)
            await pipe.execute()
        if claims.session_id is not None:
            current = await cast(
                Awaitable[str | None],
                self._redis.hget(SESSION_PREFIX + claims.session_id, "current"),
            )
            keys = [SESSION_PREFIX + claims.session_id]
            if current:
                keys.append(REFRESH_PREFIX + current)
            await self._redis.delete(*keys)
        await self._announce(claims.session_id, claims.token_id)

    async def is_revoked(self, claims: TokenClaims) -> bool:
        """Whether the token or its session has been revoked."""
        keys = revocation_keys(claims)
        return bool(keys) and bool(await self._redis.exists(*keys))

    async def _announce(self, session_id: str | None, token_id: str | None = None) -> None:
        message = json.dumps({"sessionId": session_id, "tokenId": token_id})
        await cast(Awaitable[int], self._redis.publish(self.channel, message))


def revocation_keys(claims: TokenClaims) -> list[str]:
    """The revocation-list keys that would refuse ``claims``."""
    keys = []
    if claims.token_id is not None:
        keys.append(REVOKED_TOKEN_PREFIX + claims.token_id)
    if claims.session_id is not None:
        keys.append(REVOKED_SESSION_PREFIX + claims.session_id)
    return keys


def token_revoked() -> Unauthenticated:
    return _refused("token has been revoked", TOKEN_REVOKED)


def _refused(message: str, cause: str) -> Unauthenticated:
    # Reason UNAUTHENTICATED like every token failure; the cause says which.
    return Unauthenticated(message, metadata={"cause": cause})


OnRevoked = Callable[[str | None, str | None], object]


class RevocationFeed(RedisFeed):
    """Listen on ``revocation_channel`` and hand every revoked (session, token) to ``on_revoked``
    (the hub closes those sockets); reconnects on failure."""

    name = "revocation_feed"

    def __init__(self, redis: Redis, channel: str, on_revoked: OnRevoked) -> None:
        super().__init__(redis)
        self._channel = channel
        self._on_revoked = on_revoked

    async def subscribe(self, pubsub: Any) -> None:
        await pubsub.subscribe(self._channel)

    def handle(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        try:
            doc: dict[str, Any] = json.loads(message["data"])
        except (ValueError, TypeError):
            return
        session_id, token_id = doc.get("sessionId"), doc.get("tokenId")
        self._on_revoked(
            session_id if isinstance(session_id, str) else None,
            token_id if isinstance(token_id, str) else None,
        )
