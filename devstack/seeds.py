"""The demo data of a development stack, loaded through each service's own seed.

Each service owns its tables and its seed (``oms/seed.py``, ``router/seed.py``, ``quotes/seed.py``,
``admin/seed.py``); the demo values are this package's (``devstack/catalogue.py``) and are handed to
the seeds as data, so no service imports the dev tooling and nothing here writes a service's table.
"""

from __future__ import annotations

from dataclasses import replace

import asyncpg

from devstack.catalogue import ALWAYS_OPEN, DEMO_ACCOUNT, DEMO_SYMBOLS


async def seed_all(dsn: str, *, markets_always_open: bool = False) -> list[str]:
    """Run every service's idempotent seed; return the lines they report (credentials...).

    ``markets_always_open`` gives every demo symbol 24/7 trading sessions (private test and bench
    stacks): the demo FX symbols are closed from Friday 22:00 to Sunday 22:00 UTC, as real FX is,
    and a test or a benchmark must not depend on the weekday it runs on.
    """
    # Imported here, not at the top: every devstack process imports this package (the LP simulator
    # too), and a service's face registers that service's metrics in whichever process imports it.
    from admin.seed import seed as seed_admin
    from oms.seed import seed as seed_oms
    from quotes.seed import seed as seed_quotes
    from router.seed import seed as seed_router

    symbols = DEMO_SYMBOLS
    if markets_always_open:
        symbols = tuple(replace(s, sessions=ALWAYS_OPEN) for s in DEMO_SYMBOLS)
    lines: list[str] = []
    conn = await asyncpg.connect(dsn)
    try:
        lines += await seed_oms(conn, symbols, DEMO_ACCOUNT)
        lines += await seed_router(conn)
        lines += await seed_quotes(conn, symbols)
        lines += await seed_admin(conn)
    finally:
        await conn.close()
    if markets_always_open:
        lines.append("every symbol trades around the clock (markets_always_open)")
    return lines
