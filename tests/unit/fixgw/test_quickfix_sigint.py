"""QuickFIX's Python module sets SIGINT to SIG_DFL when it is imported, behind Python's back
(``signal.getsignal`` still answers Python's handler). Every process of ours that imports it must
still stop cleanly on SIGINT: the services install their handlers after their imports
(``fxmesh.lifecycle``), the bench handles SIGINT itself (``bench.cli.until_terminated``,
tests/unit/bench), and the test run restores Python's handler in ``tests/conftest.py``."""

from __future__ import annotations

import signal
from pathlib import Path

import quickfix  # noqa: F401  # imported here too, so this test means something run alone


def _sigint_caught() -> bool:
    """Whether the kernel delivers SIGINT to a handler in this process (``SigCgt`` bit 1)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    raise AssertionError("no SigCgt line in /proc/self/status")


def test_test_run_when_quickfix_was_imported_then_ctrl_c_still_interrupts_it() -> None:
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert _sigint_caught(), "SIGINT is SIG_DFL: a Ctrl-C would kill the run without cleanup"
