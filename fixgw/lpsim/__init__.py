"""LP simulator: a QuickFIX FIX 4.4 acceptor quoting the demo symbols and filling orders."""

from fixgw.lpsim.prices import PriceBook, PriceSpec
from fixgw.lpsim.simulator import LpSimulator, SimConfig

__all__ = ["LpSimulator", "PriceBook", "PriceSpec", "SimConfig"]
