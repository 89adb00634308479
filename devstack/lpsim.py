"""``python -m devstack.lpsim``: the LP simulator (``fixgw.lpsim``) quoting the demo catalogue.

The simulator is fixgw's stand-in for a liquidity provider and quotes whatever it is given; the
demo symbols' starting prices, spreads and volatilities are the dev stack's, so they come from here.
"""

from __future__ import annotations

from devstack.catalogue import DEMO_SYMBOLS
from fixgw.lpsim import PriceSpec, serve
from fxmesh.lifecycle import run_service


def demo_price_specs() -> list[PriceSpec]:
    """Price specs of the demo catalogue (the simulator quotes what the demo stack trades)."""
    return [
        PriceSpec(
            symbol=s.symbol,
            digits=s.digits,
            start_mid=s.start_mid,
            half_spread_points=s.lp_half_spread_points,
            annual_volatility=s.annual_volatility,
        )
        for s in DEMO_SYMBOLS
    ]


async def main() -> None:
    await serve(demo_price_specs())


if __name__ == "__main__":
    run_service(main)
