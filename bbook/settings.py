"""Per-symbol B-book execution settings (``router.bbook_symbol_settings``), with defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SymbolSettings:
    """How the B-book executes one symbol."""

    enabled: bool = True
    """False takes the symbol off the B-book: its orders are rejected ``BOOK_UNAVAILABLE``."""
    max_quote_age_ms: int | None = None
    """A client quote older than this is stale; None uses the engine-wide default."""
