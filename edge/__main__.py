"""``python -m edge``."""

from edge.server import main
from fxmesh.lifecycle import run_service

if __name__ == "__main__":
    run_service(main)
