"""``python -m quotes``: run the quotes service."""

from __future__ import annotations

from fxmesh.lifecycle import run_service
from quotes.server import main

if __name__ == "__main__":
    run_service(main)
