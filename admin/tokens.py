"""Admin tokens: ``fxmesh.auth`` tokens of kind "admin" that also carry the user's token version.

``fxmesh.auth.issue_token`` has no room for extra claims, so the token it signs is re-signed here
with ``ver`` added (same key, algorithm and registered claims). A request's token is verified by
``fxmesh.auth.verify_token`` first; ``ver`` is read from it only then. The service compares ``ver``
with the user's current ``token_version`` (and status) on every request, so disabling a user, or
changing their role or password, refuses the tokens issued before.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import jwt

from fxmesh.auth import ALGORITHM, ISSUER, TokenClaims, audience, issue_token, signing_key

VERSION_CLAIM = "ver"


def issue_admin_token(
    secret: str,
    *,
    username: str,
    role: str,
    version: int,
    ttl: timedelta,
    now: datetime | None = None,
) -> tuple[str, TokenClaims]:
    """Sign an admin token for ``username`` carrying ``role`` and token version ``version``."""
    token, claims = issue_token(
        secret, subject=username, token_type="admin", ttl=ttl, role=role, now=now
    )
    key = signing_key(secret)
    payload: dict[str, Any] = jwt.decode(
        token,
        key,
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        audience=audience("admin"),
        options={"verify_exp": False},
    )
    payload[VERSION_CLAIM] = version
    return jwt.encode(payload, key, algorithm=ALGORITHM), claims


def token_version(verified_token: str) -> int | None:
    """The ``ver`` claim of a token ``fxmesh.auth.verify_token`` accepted (None when absent)."""
    payload = jwt.decode(verified_token, options={"verify_signature": False})
    value = payload.get(VERSION_CLAIM)
    return value if isinstance(value, int) and not isinstance(value, bool) else None
