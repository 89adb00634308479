"""LP simulator: a QuickFIX FIX 4.4 acceptor quoting the symbols it is given and filling orders.

``serve(prices)`` runs it as a process (the dev stack's ``python -m devstack.lpsim``).
"""

from fixgw.lpsim.knobs import Fault, SimConfig
from fixgw.lpsim.prices import PriceBook, PriceSpec
from fixgw.lpsim.server import serve
from fixgw.lpsim.simulator import LpSimulator

__all__ = ["Fault", "LpSimulator", "PriceBook", "PriceSpec", "SimConfig", "serve"]
