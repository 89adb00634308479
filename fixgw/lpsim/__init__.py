"""LP simulator: a QuickFIX FIX 4.4 acceptor quoting the demo symbols and filling orders."""

from fixgw.lpsim.knobs import Fault, SimConfig
from fixgw.lpsim.prices import PriceBook, PriceSpec
from fixgw.lpsim.simulator import LpSimulator

__all__ = ["Fault", "LpSimulator", "PriceBook", "PriceSpec", "SimConfig"]
