"""python -m fixgw: the FIX 4.4 gateway."""

from fixgw.server import main
from fxmesh.lifecycle import run_service

if __name__ == "__main__":
    run_service(main)
