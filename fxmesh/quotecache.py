"""The latest client quote per symbol in Redis: written by quotes, read by bbook, oms and edge.

Key ``quote:{SYMBOL}`` holds a JSON document (TTL 60 s) and every update is published on channel
``quotes.{DB}.{SYMBOL}`` with the same document, DB being the logical database the key is in: Redis
pub/sub ignores SELECT, so without it two stacks sharing one Redis server (a benchmark next to the
tests, two developers) would trade on each other's quotes. Prices are decimal strings; ``ts`` is epoch milliseconds
(UTC) of the LP tick the quote came from. ``markupBid`` / ``markupAsk`` (optional decimal strings)
are what quotes took off the best LP bid and added to the best LP ask to make this client price
(markup and rounding): the router prices A-book fills with them (LP fill price + markupAsk for a
BUY, - markupBid for a SELL). A document without them reads as None (written before they existed).
``bids`` / ``asks`` (optional) are the client price's depth where LPs send it: ``[[price, size],
...]`` best first, sizes in units of the base currency (FIX MDEntrySize), prices marked up like the
top (whose level is the first); the B-book fills a large order at their volume-weighted price.
Only the B-book reads them: ``from_json`` / ``read_quote`` skip them unless asked (``depth=True``),
so the per-tick subscribers (edge, oms triggers, router flow) pay nothing for depth they ignore.

Client groups with their own markup (``quotes.group_markups``) get their own quote of a symbol,
next to the default one: key ``gquote:{GROUP}:{SYMBOL}``, channel ``gquotes.{DB}.{GROUP}.{SYMBOL}``,
the same document with ``"group": GROUP``. A reader of a group's price reads both keys in one MGET
and takes the group's when it exists, else the default (``read_quote(redis, symbol, group)``): a
group without its own markup on a symbol has no key of its own. The group channels are outside
``quotes.{DB}.*`` on purpose, so a subscriber of default prices never mistakes a group's for one.
When a group markup is removed quotes deletes its key and publishes ``{"symbol", "group",
"removed": true}`` on its channel, so a subscriber falls back to the default price.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from redis.asyncio import Redis

QUOTE_TTL_SECONDS = 60
PriceLevel = tuple[Decimal, Decimal]
"""One depth level: (price, size in units of the base currency)."""


def quote_key(symbol: str) -> str:
    return f"quote:{symbol}"


def group_quote_key(group: str, symbol: str) -> str:
    return f"gquote:{group}:{symbol}"


def group_quote_channel(db: int, group: str, symbol: str) -> str:
    return f"gquotes.{db}.{group}.{symbol}"


def group_channel_pattern(db: int) -> str:
    """Every group's channel of every symbol in logical database ``db``."""
    return f"gquotes.{db}.*"


def key_of(symbol: str, group: str = "") -> str:
    """The key of ``group``'s own quote of ``symbol`` ("" the default quote)."""
    return group_quote_key(group, symbol) if group else quote_key(symbol)


def channel_of(db: int, symbol: str, group: str = "") -> str:
    """The channel of ``group``'s own quote of ``symbol`` ("" the default quote)."""
    return group_quote_channel(db, group, symbol) if group else quote_channel(db, symbol)


def removed_message(symbol: str, group: str) -> str:
    """Published on a group's channel when its own markup on ``symbol`` is removed."""
    return json.dumps({"symbol": symbol, "group": group, "removed": True}, separators=(",", ":"))


def redis_db(redis: Redis) -> int:
    """The logical database a redis-py client (or pipeline) is bound to."""
    return int(redis.connection_pool.connection_kwargs.get("db") or 0)


_QUOTE_CHANNEL_PREFIX = "quotes."


def quote_channel(db: int, symbol: str) -> str:
    return f"{_QUOTE_CHANNEL_PREFIX}{db}.{symbol}"


def channel_pattern(db: int) -> str:
    """Every symbol's channel in logical database ``db``."""
    return f"{_QUOTE_CHANNEL_PREFIX}{db}.*"


def symbol_of_channel(channel: str) -> str | None:
    """The symbol whose default price ``channel`` carries (``quote_channel``); None for any other
    channel (a group's price, ``group_quote_channel``, included)."""
    if not channel.startswith(_QUOTE_CHANNEL_PREFIX):
        return None
    parts = channel.split(".", 2)
    return parts[2] if len(parts) == 3 else None


@dataclass(frozen=True, slots=True)
class ClientQuote:
    """A two-sided client price (markup applied)."""

    symbol: str
    bid: Decimal
    ask: Decimal
    ts_ms: int
    source: str = "fxmesh"
    markup_bid: Decimal | None = None
    """What was taken off the best LP bid to make ``bid``; None when the writer did not say."""
    markup_ask: Decimal | None = None
    """What was added to the best LP ask to make ``ask``; None when the writer did not say."""
    bids: tuple[PriceLevel, ...] = ()
    """Depth below the bid, best first (the first is ``bid``); empty when no LP sends sizes."""
    asks: tuple[PriceLevel, ...] = ()
    """Depth above the ask, best first (the first is ``ask``)."""
    group: str = ""
    """The client group whose own price this is ("" the default price)."""

    def age_ms(self, now_ms: int | None = None) -> int:
        return (now_ms if now_ms is not None else int(time.time() * 1000)) - self.ts_ms

    def to_json(self) -> str:
        doc: dict[str, Any] = {
            "symbol": self.symbol,
            "bid": str(self.bid),
            "ask": str(self.ask),
            "ts": self.ts_ms,
            "source": self.source,
        }
        if self.markup_bid is not None:
            doc["markupBid"] = str(self.markup_bid)
        if self.markup_ask is not None:
            doc["markupAsk"] = str(self.markup_ask)
        if self.bids:
            doc["bids"] = [[str(p), str(size)] for p, size in self.bids]
        if self.asks:
            doc["asks"] = [[str(p), str(size)] for p, size in self.asks]
        if self.group:
            doc["group"] = self.group
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes, *, depth: bool = False) -> ClientQuote:
        """Parse a quote document; its depth levels only with ``depth`` (module doc)."""
        doc: dict[str, Any] = json.loads(raw)
        markup_bid, markup_ask = doc.get("markupBid"), doc.get("markupAsk")
        return cls(
            doc["symbol"],
            Decimal(doc["bid"]),
            Decimal(doc["ask"]),
            int(doc["ts"]),
            doc.get("source", "fxmesh"),
            Decimal(markup_bid) if markup_bid is not None else None,
            Decimal(markup_ask) if markup_ask is not None else None,
            _levels(doc.get("bids")) if depth else (),
            _levels(doc.get("asks")) if depth else (),
            doc.get("group", ""),
        )


def _levels(raw: Any) -> tuple[PriceLevel, ...]:
    return tuple((Decimal(p), Decimal(size)) for p, size in raw or ())


async def read_quote(
    redis: Redis, symbol: str, group: str = "", *, depth: bool = False
) -> ClientQuote | None:
    """The current client quote of ``symbol`` for ``group`` (its own when it has one, else the
    default; with its levels when ``depth``), or None when there is none (or it expired)."""
    if not group:
        raw = await redis.get(quote_key(symbol))
        return ClientQuote.from_json(raw, depth=depth) if raw is not None else None
    return (await read_quotes(redis, [symbol], group, depth=depth)).get(symbol)


async def read_quotes(
    redis: Redis, symbols: Sequence[str], group: str = "", *, depth: bool = False
) -> dict[str, ClientQuote]:
    """The current client quotes of ``symbols`` that have one, for ``group`` as ``read_quote``
    picks them, in one round trip (MGET)."""
    if not symbols:
        return {}
    keys = [quote_key(s) for s in symbols]
    if group:
        keys += [group_quote_key(group, s) for s in symbols]
    raws = await redis.mget(keys)
    n = len(symbols)
    found: dict[str, ClientQuote] = {}
    for i, symbol in enumerate(symbols):
        raw = raws[n + i] if group and raws[n + i] is not None else raws[i]
        if raw is not None:
            found[symbol] = ClientQuote.from_json(raw, depth=depth)
    return found


async def write_quote(redis: Redis, quote: ClientQuote) -> None:
    """Store and publish in one round trip."""
    doc = quote.to_json()
    async with redis.pipeline(transaction=False) as pipe:
        pipe.set(key_of(quote.symbol, quote.group), doc, ex=QUOTE_TTL_SECONDS)
        pipe.publish(channel_of(redis_db(redis), quote.symbol, quote.group), doc)
        await pipe.execute()
