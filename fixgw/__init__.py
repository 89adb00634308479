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

import signal
import threading

import quickfix  # noqa: F401  # first, for the SIGINT handler restored below

from fixgw.config import FixgwSettings
from fixgw.engine import FIX44_XML, free_port

# QuickFIX's module sets SIGINT to SIG_DFL when it is imported, behind Python's back (Python's
# own table still names its handler). A process that imported it after installing its handler
# then died at the first SIGINT without its clean-up: the dev stack's supervisor (its seeding
# imports admin, which imports fixgw) left every service running on Ctrl-C, the bench left its
# stack, pytest its databases. Every import of quickfix in this project comes with fixgw, whose
# package runs first: it puts back the handler Python has on record, whatever it is.
if threading.current_thread() is threading.main_thread():
    _handler = signal.getsignal(signal.SIGINT)
    if _handler is not None:
        signal.signal(signal.SIGINT, _handler)

__all__ = ["FIX44_XML", "FixgwSettings", "free_port"]
