"""``python -m admin``."""

import asyncio

from admin.server import main

if __name__ == "__main__":
    asyncio.run(main())
