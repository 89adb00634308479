"""``python -m admin.verify``: recompute the audit log's hash chain; exit 1 at a broken link.

Uses ``FXMESH_POSTGRES_DSN`` (or the DSN given as the first argument) and prints one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import asyncpg

from admin import audit
from admin.documents import verification_to_json


async def main(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        result = await audit.verify(conn)
    finally:
        await conn.close()
    print(json.dumps(verification_to_json(result)))
    return 0 if result.ok else 1


if __name__ == "__main__":
    default = os.environ.get("FXMESH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/fxmesh")
    sys.exit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else default)))
