"""python -m fixgw: the FIX 4.4 gateway."""

import asyncio

from fixgw.server import main

if __name__ == "__main__":
    asyncio.run(main())
