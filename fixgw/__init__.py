"""fixgw: the FIX 4.4 gateway to liquidity providers (QuickFIX initiator sessions).

This is fixgw's public face: what other packages, the benchmarks and tooling may import. Anything
else is an internal module; tests may import the modules they test. A newcomer starts at
``fixgw/service.py`` (``Gateway``: the LP sessions and their market data), then
``fixgw/orders/manager.py`` (A-book orders at the LPs: attempts, reports, reconciliation) and
``fixgw/application.py`` (the thin QuickFIX adapter). ``fixgw/server.py`` wires it (``FixgwApp``);
``python -m fixgw`` runs it. ``fixgw.lpsim`` is the LP simulator (its own face; the dev stack
runs it as ``python -m devstack.lpsim``).

The face stays light on purpose: the simulator imports it too, and ``FixgwApp`` would register
the gateway's metrics in the simulator's process, so it is imported from ``fixgw.server``.
"""

from __future__ import annotations

from fixgw.config import FixgwSettings
from fixgw.engine import FIX44_XML, free_port

__all__ = ["FIX44_XML", "FixgwSettings", "free_port"]
