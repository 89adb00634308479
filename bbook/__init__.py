"""The B-book engine: the broker as counterparty, its house book and hedge thresholds.

A library used in-process by the router; it never imports the router or any other service. This
is its public face: what the router and the benchmarks may import. ``store`` is exported as a
module: it lends the router the columns of ``router.bbook_fills``, which the router writes in its
own statements.
"""

from bbook import store
from bbook.book import BookFill, HouseBook, Side, SymbolPosition
from bbook.engine import BBookEngine, Exposure
from bbook.limits import HedgeRequest, check_limit
from bbook.pricing import Rejection, fill_price
from bbook.settings import SymbolSettings

__all__ = [
    "BBookEngine",
    "BookFill",
    "Exposure",
    "HedgeRequest",
    "HouseBook",
    "Rejection",
    "Side",
    "SymbolPosition",
    "SymbolSettings",
    "check_limit",
    "fill_price",
    "store",
]
