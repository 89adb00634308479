"""Bearer tokens for clients (edge) and admins (admin): HS256 JWTs with typed claims.

A token names its kind twice: ``typ`` ("client" or "admin") and the registered ``aud`` claim
("fxmesh-client" / "fxmesh-admin"); ``verify_token`` requires both to match the kind it expects
(cause ``WRONG_TOKEN_TYPE`` otherwise), so a client token can never open the back office and an
admin token can never trade. Every failure is ``Unauthenticated`` (reason ``UNAUTHENTICATED``) with the cause in
the metadata, and the token itself is never put into a message or a log.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt

from fxmesh.errors import Unauthenticated

TokenType = Literal["client", "admin"]
ISSUER = "fxmesh"
ALGORITHM = "HS256"
_REQUIRED = ["exp", "iat", "sub", "typ", "iss", "aud"]
_KEY_CONTEXT = b"fxmesh-jwt-hs256-v1"


def audience(token_type: TokenType) -> str:
    """The ``aud`` claim of a token of this kind."""
    return f"fxmesh-{token_type}"


def signing_key(secret: str) -> bytes:
    """The HS256 key derived from ``jwt_secret``: always 32 bytes, whatever the secret's length.

    RFC 7518 wants an HS256 key of at least 256 bits (PyJWT warns below that); deriving it with
    HMAC-SHA256 keeps short configured secrets usable without weakening long ones.
    """
    return hmac.new(secret.encode(), _KEY_CONTEXT, hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token says about its bearer."""

    subject: str
    """Account id for a client token, username for an admin token."""
    token_type: TokenType
    issued_at: datetime
    expires_at: datetime
    login: str | None = None
    """Client login (client tokens)."""
    role: str | None = None
    """Admin role name, e.g. SUPER_ADMIN (admin tokens)."""
    token_id: str | None = None
    """``jti``: names this token in a revocation list (None in tokens issued before it existed)."""
    session_id: str | None = None
    """``sid``: the login session (client tokens: the refresh-token family) the token belongs to."""


def issue_token(
    secret: str,
    *,
    subject: str,
    token_type: TokenType,
    ttl: timedelta,
    login: str | None = None,
    role: str | None = None,
    session_id: str | None = None,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    """Sign a token (with a fresh ``jti``); return it with the claims it carries."""
    issued = (now or datetime.now(UTC)).replace(microsecond=0)
    claims = TokenClaims(
        subject=subject,
        token_type=token_type,
        issued_at=issued,
        expires_at=issued + ttl,
        login=login,
        role=role,
        token_id=uuid.uuid4().hex,
        session_id=session_id,
    )
    payload: dict[str, object] = {
        "iss": ISSUER,
        "sub": subject,
        "typ": token_type,
        "aud": audience(token_type),
        "iat": int(issued.timestamp()),
        "exp": int(claims.expires_at.timestamp()),
        "jti": claims.token_id,
    }
    if session_id is not None:
        payload["sid"] = session_id
    if login is not None:
        payload["login"] = login
    if role is not None:
        payload["role"] = role
    return jwt.encode(payload, signing_key(secret), algorithm=ALGORITHM), claims


def verify_token(secret: str, token: str, *, expected_type: TokenType) -> TokenClaims:
    """Check signature, expiry and kind; raise Unauthenticated (cause in metadata) otherwise."""
    if not token:
        raise _denied("missing bearer token", "TOKEN_MISSING")
    try:
        payload = jwt.decode(
            token,
            signing_key(secret),
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=audience(expected_type),
            options={"require": _REQUIRED},
        )
    except jwt.ExpiredSignatureError:
        raise _expired() from None
    except jwt.InvalidAudienceError:
        raise _denied(f"not a {expected_type} token", "WRONG_TOKEN_TYPE") from None
    except jwt.PyJWTError:
        raise _denied("invalid token", "TOKEN_INVALID") from None
    token_type = payload.get("typ")
    if token_type != expected_type:
        raise _denied(f"not a {expected_type} token", "WRONG_TOKEN_TYPE")
    subject = payload.get("sub")
    if not isinstance(subject, str) or not subject:
        raise _denied("invalid token", "TOKEN_INVALID")
    login, role = payload.get("login"), payload.get("role")
    token_id, session_id = payload.get("jti"), payload.get("sid")
    if expected_type == "admin" and not isinstance(role, str):
        raise _denied("invalid token", "TOKEN_INVALID")
    return TokenClaims(
        subject=subject,
        token_type=expected_type,
        issued_at=datetime.fromtimestamp(int(payload["iat"]), UTC),
        expires_at=datetime.fromtimestamp(int(payload["exp"]), UTC),
        login=login if isinstance(login, str) else None,
        role=role if isinstance(role, str) else None,
        token_id=token_id if isinstance(token_id, str) and token_id else None,
        session_id=session_id if isinstance(session_id, str) and session_id else None,
    )


class TokenVerifier:
    """``verify_token`` for one secret and kind, remembering the tokens it accepted.

    A client sends the same access token with every request until it expires, and checking it
    again (HMAC key, base64 of every segment, JSON, claims) was ~5 % of edge's CPU per order. A
    token is its own cache key: the same bytes verify the same way until ``exp``, which is
    checked on every use (expired: ``TOKEN_EXPIRED``, as ``verify_token`` says it). Only accepted
    tokens are kept, at most ``size`` (least recently used first out), so bad tokens cannot fill
    it. Revocation is not a property of the token and stays the caller's check per request.
    """

    def __init__(
        self,
        secret: str,
        expected_type: TokenType,
        *,
        size: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._expected_type: TokenType = expected_type
        self._size = size
        self._clock = clock
        self._accepted: OrderedDict[str, tuple[float, TokenClaims]] = OrderedDict()

    def verify(self, token: str) -> TokenClaims:
        """The token's claims; ``Unauthenticated`` (cause in metadata) as ``verify_token``."""
        known = self._accepted.get(token)
        if known is not None:
            expires, claims = known
            if self._clock() >= expires:  # PyJWT's rule: expired once now >= exp
                del self._accepted[token]
                raise _expired()
            self._accepted.move_to_end(token)
            return claims
        claims = verify_token(self._secret, token, expected_type=self._expected_type)
        self._accepted[token] = (claims.expires_at.timestamp(), claims)
        if len(self._accepted) > self._size:
            self._accepted.popitem(last=False)
        return claims

    def __len__(self) -> int:
        return len(self._accepted)


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` value ('' when absent or malformed)."""
    if not authorization:
        return ""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _denied(message: str, cause: str) -> Unauthenticated:
    return Unauthenticated(message, metadata={"cause": cause})


def _expired() -> Unauthenticated:
    """What an expired token is told, by PyJWT's check or ``TokenVerifier``'s own."""
    return _denied("token expired", "TOKEN_EXPIRED")
