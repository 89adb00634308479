"""python -m fixgw.lpsim: the FIX 4.4 LP simulator."""

import asyncio

from fixgw.lpsim.server import main

if __name__ == "__main__":
    asyncio.run(main())
