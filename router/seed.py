"""Demo routing configuration for the local profile.

No routing rules means every order goes to the B-book with reason DEFAULT_B_BOOK; A-book rules
(orders to the LPs through fixgw) are added by admins (``router.routing_rules``), C-book ones once
that book is available. Nothing is inserted, so re-running is a no-op and an admin's rules are
never overwritten.
"""

from __future__ import annotations

import asyncpg


async def seed(conn: asyncpg.Connection) -> list[str]:
    rules = await conn.fetchval("SELECT count(*) FROM router.routing_rules WHERE enabled")
    if rules:
        return [f"routing: {rules} enabled rule(s); unmatched flow B-book (DEFAULT_B_BOOK)"]
    return ["routing: all flow B-book (DEFAULT_B_BOOK)"]
