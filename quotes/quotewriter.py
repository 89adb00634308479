"""Write a batch of client quotes to Redis (SET + PUBLISH each) in one round trip.

The key, channel, document and TTL are ``fxmesh.quotecache``'s, so readers see exactly what
``write_quote`` writes. Only the transport is leaner: ``write_quote`` builds a redis-py pipeline
per quote (pool checkout, retry, timeout and observability wrappers), about 150 us of CPU per tick
on the quote path; here one connection is kept checked out and the commands of a whole batch are
packed (by hand: ``_resp``), sent and answered together.

Every reply of these commands (SET, PUBLISH, DEL) is one RESP line (``+OK``, ``:n`` or ``-error``),
so the replies of a batch are read as a block of lines straight from the connection's stream:
redis-py's parser costs two coroutines per reply, about a fifth of the 10-group pipeline's CPU.
The documents of the quotes the pricing makes (``PricedQuote``) are formatted by ``document``,
byte for byte ``ClientQuote.to_json``'s (tests/unit/quotes/test_quotes_writer.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from fxmesh.quotecache import (
    QUOTE_TTL_SECONDS,
    ClientQuote,
    channel_of,
    group_quote_channel,
    group_quote_key,
    key_of,
    redis_db,
    removed_message,
)
from quotes.domain import PricedQuote

_SET_EX = b"*5\r\n$3\r\nSET\r\n"
_PUBLISH = b"*3\r\n$7\r\nPUBLISH\r\n"
_EX = b"$2\r\nEX\r\n$%d\r\n%s\r\n" % (
    len(str(QUOTE_TTL_SECONDS)),
    str(QUOTE_TTL_SECONDS).encode(),
)


def _resp(*args: str) -> bytes:
    """One command in RESP: redis-py's general packer costs more than the rest of a quote's
    write (profiled with 10 client groups, 11 quotes per tick); the arguments here are always
    text."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


_ONE_LINE = frozenset((b"+", b":", b"-"))


def _bulk(data: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(data), data)


_json_strings: dict[str, str] = {}


def _js(text: str) -> str:
    """``text`` as a JSON string, as ``json.dumps`` writes it (cached: symbols, groups and LP
    sources are few)."""
    found = _json_strings.get(text)
    if found is None:
        if len(_json_strings) > 10_000:
            _json_strings.clear()
        found = _json_strings[text] = json.dumps(text)
    return found


_SOURCE = json.dumps(ClientQuote.__dataclass_fields__["source"].default)
"""Client quotes are written with ``ClientQuote``'s default source (as before; not the LPs)."""


def client_quote(q: PricedQuote) -> ClientQuote:
    """The Redis quote of a client price."""
    return ClientQuote(
        q.symbol,
        q.bid,
        q.ask,
        q.ts_ms,
        markup_bid=q.markup_bid,
        markup_ask=q.markup_ask,
        bids=q.bids,
        asks=q.asks,
        group=q.group,
    )


def document(q: PricedQuote) -> str:
    """``client_quote(q).to_json()``, formatted directly (no dict, no encoder) when ``q`` has no
    depth; with depth (rare) by ``to_json`` itself."""
    if q.bids or q.asks:
        return client_quote(q).to_json()
    group = f',"group":{_js(q.group)}' if q.group else ""
    return (
        f'{{"symbol":{_js(q.symbol)},"bid":"{q.bid}","ask":"{q.ask}","ts":{q.ts_ms:d},'
        f'"source":{_SOURCE},"markupBid":"{q.markup_bid}",'
        f'"markupAsk":"{q.markup_ask}"{group}}}'
    )


class QuoteWriter:
    """Owns one connection of ``redis``'s pool; callers serialise ``write`` (quotes' write lock)."""

    def __init__(self, redis: Redis) -> None:
        self._pool = redis.connection_pool
        self._db = redis_db(redis)
        self._conn: Any = None
        self._parts: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    async def write(
        self, quotes: Sequence[ClientQuote], removed: Sequence[tuple[str, str]] = ()
    ) -> None:
        """Delete the group quotes of ``removed`` (group, symbol) pairs (announcing it on their
        channels), then store and publish every quote; raise (having dropped the connection) if
        any failed."""
        packed = self._removals(removed)
        for quote in quotes:
            packed.append(self._set_publish(quote.symbol, quote.group, quote.to_json()))
        await self._send(packed, 2 * len(removed) + 2 * len(quotes))

    async def write_priced(
        self, quotes: Sequence[PricedQuote], removed: Sequence[tuple[str, str]] = ()
    ) -> None:
        """``write`` of the client prices ``quotes`` (as ``client_quote`` makes them)."""
        packed = self._removals(removed)
        for quote in quotes:
            packed.append(self._set_publish(quote.symbol, quote.group, document(quote)))
        await self._send(packed, 2 * len(removed) + 2 * len(quotes))

    def _removals(self, removed: Sequence[tuple[str, str]]) -> list[bytes]:
        packed: list[bytes] = []
        for group, symbol in removed:
            packed.append(_resp("DEL", group_quote_key(group, symbol)))
            packed.append(
                _resp(
                    "PUBLISH",
                    group_quote_channel(self._db, group, symbol),
                    removed_message(symbol, group),
                )
            )
        return packed

    def _set_publish(self, symbol: str, group: str, doc: str) -> bytes:
        """SET key doc EX ttl + PUBLISH channel doc, packed (the document encoded once; the key and
        channel parts packed once per quote key)."""
        parts = self._parts.get((group, symbol))
        if parts is None:
            parts = self._parts[(group, symbol)] = (
                _SET_EX + _bulk(key_of(symbol, group).encode()),
                _EX + _PUBLISH + _bulk(channel_of(self._db, symbol, group).encode()),
            )
        data = _bulk(doc.encode())
        return b"".join((parts[0], data, parts[1], data))

    async def _send(self, packed: list[bytes], replies: int) -> None:
        if not replies:
            return
        conn = self._conn
        if conn is None:
            conn = self._conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(b"".join(packed), check_health=False)
            # Every reply is read even after an error reply, so the connection stays in step.
            async with asyncio.timeout(conn.socket_timeout):
                lines = await _read_lines(conn, replies)
            for line in lines:
                if line.startswith(b"-"):
                    raise conn._parser.parse_error(line[1:].decode(errors="replace"))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        """Hand the connection back (closed: a failed one may hold unread replies)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.disconnect()
            finally:
                await self._pool.release(conn)


async def _read_lines(conn: Any, count: int) -> list[bytes]:
    """The next ``count`` replies on ``conn``, each a one-line RESP reply (module doc), without
    their CRLF; raise if the connection closes first or a reply is not one line."""
    reader: asyncio.StreamReader | None = conn._reader
    if reader is None:
        raise RedisConnectionError("connection closed")
    data = b""
    while data.count(b"\r\n") < count:
        chunk = await reader.read(65536)
        if not chunk:
            raise RedisConnectionError("connection closed by server")
        data += chunk
    lines = data.split(b"\r\n")
    # Only this writer uses the connection and nothing is sent before the replies are read:
    # more bytes than ``count`` lines, or a multi-line reply, would be a protocol error.
    if (
        len(lines) != count + 1
        or lines[-1]
        or any(line[:1] not in _ONE_LINE for line in lines[:-1])
    ):
        raise RedisConnectionError("unexpected reply from Redis")
    return lines[:-1]
