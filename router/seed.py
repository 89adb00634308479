"""Demo routing configuration for the local profile.

No routing rules means every order goes to the B-book with reason DEFAULT_B_BOOK; A- and C-book
rules, account overrides, B-book volume maxima and per-symbol routing settings are added by admins
(``docs/routing.md``). Nothing is inserted, so re-running is a no-op and an admin's configuration
is never overwritten.
"""

from __future__ import annotations

from fxmesh.db import Conn


async def seed(conn: Conn) -> list[str]:
    rules = await conn.fetchval("SELECT count(*) FROM router.routing_rules WHERE enabled")
    if rules:
        return [f"routing: {rules} enabled rule(s); unmatched flow B-book (DEFAULT_B_BOOK)"]
    return ["routing: all flow B-book (DEFAULT_B_BOOK)"]
