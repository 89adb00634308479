"""oms's quote reads on real Redis: every symbol in one MGET, a document parsed once while it lasts."""

from __future__ import annotations

from decimal import Decimal

import redis.asyncio as aioredis

from fxmesh.quotecache import ClientQuote, write_quote
from oms.domain.model import Price
from oms.trading.unit_of_work import read_prices


async def test_read_prices_when_documents_unchanged_then_parsed_once_and_a_change_is_seen(
    redis_client: aioredis.Redis,
) -> None:
    await write_quote(redis_client, ClientQuote("EURUSD", Decimal("1.1"), Decimal("1.2"), 1))
    await write_quote(redis_client, ClientQuote("GBPUSD", Decimal("0"), Decimal("1.3"), 1))
    parsed: dict[object, Price | None] = {}

    first = await read_prices(redis_client, ["EURUSD", "GBPUSD", "USDJPY"], parsed)
    again = await read_prices(redis_client, ["EURUSD", "GBPUSD", "USDJPY"], parsed)
    await write_quote(redis_client, ClientQuote("EURUSD", Decimal("1.15"), Decimal("1.25"), 2))
    moved = await read_prices(redis_client, ["EURUSD"], parsed)

    # No quote (USDJPY) and an unusable one (GBPUSD, bid 0) are both left out, every time.
    assert first == again == {"EURUSD": Price(Decimal("1.1"), Decimal("1.2"))}
    assert again["EURUSD"] is first["EURUSD"]  # the same document was not parsed again
    assert moved == {"EURUSD": Price(Decimal("1.15"), Decimal("1.25"))}
