"""``python -m quotes``: run the quotes service."""

from __future__ import annotations

import asyncio

from quotes.server import main

if __name__ == "__main__":
    asyncio.run(main())
