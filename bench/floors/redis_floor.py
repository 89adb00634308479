"""Redis floor: SET+PUBLISH in one round trip (as quotes writes a quote), and pub/sub delivery."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from typing import Any

import redis.asyncio as aioredis

from bench.floors.common import sequential
from bench.stats import Latencies
from fxmesh.quotecache import ClientQuote, write_quote

CHANNEL = "benchfloor.EURUSD"


async def measure(quick: bool, redis_url: str) -> dict[str, dict[str, Any]]:
    count, warmup = (300, 50) if quick else (3000, 300)
    quote = ClientQuote(
        "BENCHFLOOR", Decimal("1.08444"), Decimal("1.08456"), int(time.time() * 1000)
    )
    writer = aioredis.Redis.from_url(redis_url, decode_responses=True)
    reader = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        set_publish = await sequential(lambda: write_quote(writer, quote), count, warmup)
        version = (await writer.info("server")).get("redis_version")

        # Delivery: publish on one connection, time until the subscriber (psubscribe + listen, as
        # edge's tick feed reads) has it.
        pubsub = reader.pubsub(ignore_subscribe_messages=True)
        await pubsub.psubscribe("benchfloor.*")
        arrived: asyncio.Queue[float] = asyncio.Queue()

        async def listen() -> None:
            async for message in pubsub.listen():
                if message.get("type") == "pmessage":
                    arrived.put_nowait(time.perf_counter())

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.1)
        doc = quote.to_json()
        delivery = Latencies()
        try:
            for i in range(warmup + count):
                started = time.perf_counter()
                await writer.publish(CHANNEL, doc)
                got = await asyncio.wait_for(arrived.get(), 5)
                if i >= warmup:
                    delivery.record(got - started)
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await pubsub.aclose()  # type: ignore[no-untyped-call]
        await writer.delete("quote:BENCHFLOOR")
    finally:
        await writer.aclose()
        await reader.aclose()
    return {
        "redis_set_publish": {
            "what": "redis.asyncio pipeline SET quote:{sym} EX 60 + PUBLISH (fxmesh.quotecache."
            "write_quote), one round trip, 1 in flight",
            "redis_version": version,
            "latency_ms": set_publish.summary(),
        },
        "redis_pubsub": {
            "what": "PUBLISH on one connection -> message read by a psubscribe listener on another "
            "(as edge's tick feed), 1 in flight",
            "latency_ms": delivery.summary(),
        },
    }
