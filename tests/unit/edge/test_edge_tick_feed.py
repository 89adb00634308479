"""edge's tick feed: every quote channel of its Redis database, to the sockets that watch."""

from __future__ import annotations

from decimal import Decimal

from redis.asyncio import Redis

from edge.feeds import TickFeed
from edge.hub import Connection, Hub
from fxmesh.quotecache import (
    ClientQuote,
    group_quote_channel,
    quote_channel,
    symbol_of_channel,
)
from tests.unit.edge.test_edge_hub import FakeTransportSocket

DB = 3


def pmessage(channel: str, quote: ClientQuote) -> dict[str, str]:
    return {"type": "pmessage", "channel": channel, "data": quote.to_json()}


def quote(symbol: str, bid: str, group: str = "") -> ClientQuote:
    return ClientQuote(symbol, Decimal(bid), Decimal(bid) + Decimal("0.0002"), 1, group=group)


def watcher(hub: Hub, account: str, symbols: set[str], group: str = "") -> FakeTransportSocket:
    socket = FakeTransportSocket()
    conn = Connection(account, socket, socket.close, 10)
    conn.group = group
    hub.add(conn)
    hub.subscribe(conn, symbols)
    return socket


def test_symbol_of_channel_when_default_or_group_channel_then_symbol_only_for_default():
    assert symbol_of_channel(quote_channel(DB, "EURUSD")) == "EURUSD"
    assert symbol_of_channel(quote_channel(DB, "US30.cash")) == "US30.cash"
    assert symbol_of_channel(group_quote_channel(DB, "vip", "EURUSD")) is None
    assert symbol_of_channel("other.3.EURUSD") is None


def test_handle_when_ticks_of_watched_and_unwatched_symbols_then_only_watched_are_sent():
    hub = Hub()
    eurusd = watcher(hub, "1001", {"EURUSD"})
    feed = TickFeed(hub, Redis(db=DB))

    feed.handle(pmessage(quote_channel(DB, "GBPUSD"), quote("GBPUSD", "1.27000")))
    feed.handle(pmessage(quote_channel(DB, "EURUSD"), quote("EURUSD", "1.08450")))

    assert [(m["symbol"], m["bid"]) for m in eurusd.messages()] == [("EURUSD", "1.08450")]


def test_handle_when_group_price_arrives_unwatched_then_its_sockets_later_skip_the_default():
    hub = Hub()
    feed = TickFeed(hub, Redis(db=DB))
    # Nobody watches XAUUSD yet: the group's own price must still be noted.
    feed.handle(pmessage(group_quote_channel(DB, "vip", "XAUUSD"), quote("XAUUSD", "2000", "vip")))
    vip = watcher(hub, "1001", {"XAUUSD"}, group="vip")
    retail = watcher(hub, "1002", {"XAUUSD"})

    feed.handle(pmessage(quote_channel(DB, "XAUUSD"), quote("XAUUSD", "2001")))
    feed.handle(
        pmessage(group_quote_channel(DB, "vip", "XAUUSD"), quote("XAUUSD", "2000.5", "vip"))
    )

    assert [m["bid"] for m in retail.messages()] == ["2001"]
    assert [m["bid"] for m in vip.messages()] == ["2000.5"]
