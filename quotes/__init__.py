"""quotes: aggregates LP prices, validates them, applies markup, writes client quotes to Redis.

This is quotes's public face: what other packages, the benchmarks and tooling may import. Anything
else is an internal module; tests may import the modules they test. A newcomer starts at
``quotes/service.py`` (``QuotesService``: a tick batch from fixgw to the client quote in Redis),
then ``quotes/domain.py`` (the pure pricing model: validation, best price, markup) and
``quotes/tickstore.py`` (ticks and candles stored off the hot path). ``quotes/server.py`` wires it
(``start_quotes``); ``python -m quotes`` runs it.
"""

from __future__ import annotations

from quotes.candles import Timeframe
from quotes.config import QuotesSettings
from quotes.domain import PricingConfig, PricingEngine, RawTick
from quotes.history import MarketHistory
from quotes.repository import load_group_markups, load_symbol_settings
from quotes.server import QuotesApp, start_quotes
from quotes.service import QuotesService, wall_clock_ms
from quotes.tickstore import TickStore

__all__ = [
    "MarketHistory",
    "PricingConfig",
    "PricingEngine",
    "QuotesApp",
    "QuotesService",
    "QuotesSettings",
    "RawTick",
    "TickStore",
    "Timeframe",
    "load_group_markups",
    "load_symbol_settings",
    "start_quotes",
    "wall_clock_ms",
]
