"""Repair candles from the stored ticks: ``python -m quotes.rebuild SYMBOL FROM TO``.

FROM and TO are ISO-8601 dates or UTC times; every candle of SYMBOL in the whole weeks (Sunday to
Sunday, UTC) around [FROM, TO) is rebuilt from the client ticks still stored (ticks past the
retention are gone: their candles are left alone only outside those weeks). Safe while quotes runs:
its candle writes wait for the rebuild, then add on top.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg

from fxmesh.config import load_settings
from quotes import repository
from quotes.config import QuotesSettings


def _moment(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


async def run(argv: Sequence[str], *, dsn: str | None = None) -> int:
    """Rebuild as ``argv`` says; returns the number of candles written."""
    parser = argparse.ArgumentParser(prog="python -m quotes.rebuild", description=__doc__)
    parser.add_argument("symbol")
    parser.add_argument("start", metavar="FROM", type=_moment)
    parser.add_argument("end", metavar="TO", type=_moment)
    args = parser.parse_args(argv)
    if args.start >= args.end:
        parser.error("FROM must be before TO")
    conn = await asyncpg.connect(dsn or load_settings(QuotesSettings).postgres_dsn)
    try:
        return await repository.rebuild_candles(conn, args.symbol.upper(), args.start, args.end)
    finally:
        await conn.close()


def main() -> None:
    written = asyncio.run(run(sys.argv[1:]))
    print(f"quotes: {written} candles rebuilt")


if __name__ == "__main__":
    main()
