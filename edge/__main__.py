"""``python -m edge``."""

import asyncio

from edge.server import main

if __name__ == "__main__":
    asyncio.run(main())
