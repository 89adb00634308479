"""quotes: aggregates LP prices, validates them, applies markup, writes client quotes to Redis."""
