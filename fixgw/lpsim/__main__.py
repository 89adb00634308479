"""python -m fixgw.lpsim: the FIX 4.4 LP simulator."""

from fixgw.lpsim.server import main
from fxmesh.lifecycle import run_service

if __name__ == "__main__":
    run_service(main)
