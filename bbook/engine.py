"""The B-book engine: prices client orders off the Redis client quote and keeps the house book.

The engine does no database writes itself: the router persists each fill (``bbook.store``) in the
same transaction as its routing decision, then calls ``apply``. At start ``load`` replays the stored
fills so the book survives restarts.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import structlog
from prometheus_client import Counter, Gauge
from redis.asyncio import Redis

from bbook.book import BookFill, HouseBook, Side
from bbook.limits import HedgeRequest, check_limit
from bbook.pricing import Rejection, fill_price
from bbook.settings import SymbolSettings
from fxmesh.money import quantize
from fxmesh.quotecache import ClientQuote, read_quote
from fxmesh.reasons import Reason

log = structlog.stdlib.get_logger(__name__)

NET_VOLUME = Gauge(
    "fxmesh_bbook_net_volume_lots",
    "House net position held by the B-book, in lots (positive long, negative short).",
    ["symbol"],
)
HEDGE_REQUESTS = Counter(
    "fxmesh_bbook_hedge_requests_total",
    "Hedge requests raised because the house net exceeded its exposure limit.",
    ["symbol"],
)

HedgeListener = Callable[[HedgeRequest], None]
DEFAULT_SETTINGS = SymbolSettings()


def _now_ms() -> int:
    return int(time.time() * 1000)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Exposure:
    """The house's net in one symbol, its USD notional at the current price and its P&L.

    USD amounts are rounded to cents; ``avg_price`` is None while the house is flat.
    """

    symbol: str
    net_lots: Decimal
    notional_usd: Decimal
    avg_price: Decimal | None
    realized_pnl_usd: Decimal
    unrealized_pnl_usd: Decimal | None  # None without a current quote


class BBookEngine:
    """Price, fill and book B-book orders; raise hedge requests beyond the exposure limits."""

    def __init__(
        self,
        redis: Redis,
        *,
        max_quote_age_ms: int = 5000,
        now_ms: Callable[[], int] = _now_ms,
        utcnow: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._redis = redis
        self.max_quote_age_ms = max_quote_age_ms
        self._now_ms = now_ms
        self._utcnow = utcnow
        self.book = HouseBook()
        self.limits: dict[str, Decimal] = {}
        self.symbol_settings: dict[str, SymbolSettings] = {}
        self._hedge_listeners: list[HedgeListener] = []

    def on_hedge_request(self, listener: HedgeListener) -> None:
        """Call ``listener`` for every hedge request (the C-book hedger subscribes here)."""
        self._hedge_listeners.append(listener)

    def set_limits(self, limits: Mapping[str, Decimal]) -> None:
        """Replace the per-symbol maximum absolute house net, in lots."""
        self.limits = dict(limits)

    def set_symbol_settings(self, settings: Mapping[str, SymbolSettings]) -> None:
        """Replace the per-symbol execution settings; a symbol without any uses the defaults."""
        self.symbol_settings = dict(settings)

    def settings_for(self, symbol: str) -> SymbolSettings:
        return self.symbol_settings.get(symbol, DEFAULT_SETTINGS)

    async def quote(
        self, symbol: str, group: str = "", *, depth: bool = False
    ) -> ClientQuote | None:
        """The client quote of ``symbol`` for ``group``: its own price where it has one, else
        the default (``fxmesh.quotecache``); its depth levels only when ``depth`` (pricing an
        order)."""
        return await read_quote(self._redis, symbol, group, depth=depth)

    async def price(
        self,
        symbol: str,
        side: Side,
        *,
        requested_price: Decimal | None = None,
        max_deviation: Decimal | None = None,
        limit_price: Decimal | None = None,
        units: Decimal | None = None,
        group: str = "",
    ) -> Decimal | Rejection:
        """The fill price for a client order at the current quote of the client's ``group``, or
        the rejection; ``units`` (lots x contract size) prices a large order across the quote's
        depth."""
        settings = self.settings_for(symbol)
        if not settings.enabled:
            return Rejection(Reason.BOOK_UNAVAILABLE, f"B-book execution is disabled for {symbol}")
        return fill_price(
            await self.quote(symbol, group, depth=units is not None),
            symbol,
            side,
            now_ms=self._now_ms(),
            max_quote_age_ms=(
                self.max_quote_age_ms
                if settings.max_quote_age_ms is None
                else settings.max_quote_age_ms
            ),
            requested_price=requested_price,
            max_deviation=max_deviation,
            limit_price=limit_price,
            units=units,
        )

    def new_fill(
        self,
        *,
        order_id: str,
        account_id: str,
        symbol: str,
        side: Side,
        volume: Decimal,
        price: Decimal,
        contract_size: Decimal,
        quote_to_usd_rate: Decimal,
    ) -> BookFill:
        """A fill with a fresh id, not applied yet (persist it, then ``apply``)."""
        return BookFill(
            fill_id=str(uuid.uuid4()),
            order_id=order_id,
            account_id=account_id,
            symbol=symbol,
            client_side=side,
            volume=volume,
            price=price,
            contract_size=contract_size,
            quote_to_usd_rate=quote_to_usd_rate,
            filled_at=self._utcnow(),
        )

    def load(self, fills: Iterable[BookFill]) -> int:
        """Rebuild the book from stored fills (no hedge requests for history); return the count."""
        self.book = HouseBook()
        count = 0
        for fill in fills:
            self.book.apply(fill)
            count += 1
        for symbol in self.book.symbols():
            NET_VOLUME.labels(symbol).set(float(self.book.net_lots(symbol)))
        return count

    def is_booked(self, fill_id: str) -> bool:
        """Whether the fill is already in the book (``apply`` accepts each fill once)."""
        return fill_id in self.book.fill_ids

    def apply(self, fill: BookFill) -> HedgeRequest | None:
        """Book a persisted fill; raise (and return) a hedge request if a limit is now exceeded."""
        before = self.book.net_lots(fill.symbol)
        realized = self.book.apply(fill)
        after = self.book.net_lots(fill.symbol)
        # A gauge is a float by nature; the book itself stays Decimal.
        NET_VOLUME.labels(fill.symbol).set(float(after))
        # Every fill is a row of the router's (bbook_fills) and the net a gauge: a line per fill
        # at info would be the order path's most written one.
        log.debug(
            "bbook_fill",
            fill_id=fill.fill_id,
            order_id=fill.order_id,
            symbol=fill.symbol,
            client_side=fill.client_side.value,
            volume=str(fill.volume),
            price=str(fill.price),
            house_net_lots=str(after),
            realized_pnl_usd=str(realized),
        )
        request = check_limit(self.limits, fill.symbol, before, after, fill.fill_id)
        if request is not None:
            HEDGE_REQUESTS.labels(fill.symbol).inc()
            log.warning(
                "bbook_hedge_request",
                symbol=request.symbol,
                house_net_lots=str(request.house_net_lots),
                max_net_lots=str(request.max_net_lots),
                excess_lots=str(request.excess_lots),
                fill_id=request.fill_id,
            )
            for listener in self._hedge_listeners:
                try:
                    listener(request)
                except Exception:
                    log.exception("bbook_hedge_listener_failed", symbol=request.symbol)
        return request

    async def exposures(self) -> list[Exposure]:
        """Net lots and USD notional per symbol, marked at the current quote when there is one."""
        result: list[Exposure] = []
        for symbol in self.book.symbols():
            position = self.book.position(symbol)
            quote = await self.quote(symbol)
            if quote is not None:
                mark = position.mark_price(quote.bid, quote.ask)
                unrealized: Decimal | None = quantize(
                    position.unrealized_pnl_usd(quote.bid, quote.ask), 2
                )
            else:
                mark, unrealized = position.avg_price, None
            result.append(
                Exposure(
                    symbol=symbol,
                    net_lots=position.net_lots,
                    notional_usd=position.notional_usd(mark),
                    avg_price=position.avg_price if position.net_lots else None,
                    realized_pnl_usd=quantize(position.realized_pnl_usd, 2),
                    unrealized_pnl_usd=unrealized,
                )
            )
        return result
