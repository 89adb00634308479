"""QuickFIX's Python module sets SIGINT to SIG_DFL when it is imported, behind Python's back
(``signal.getsignal`` still answers Python's handler). ``fixgw``, through which every import of
it in this project comes, puts the handler back: otherwise a Ctrl-C killed the dev stack's
supervisor (leaving every service running), the bench (leaving its stack) and a test run
(leaving its databases) at once, without their clean-up."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

# Python's handler installed first, then QuickFIX imported as fixgw's importers do; prints
# whether the kernel still delivers SIGINT to a handler (SigCgt bit 1 of /proc/self/status).
_PROBE = """
import signal, sys
signal.signal(signal.SIGINT, lambda *_: None)
import quickfix
if sys.argv[1] == "fixgw":
    import fixgw
caught = [l for l in open("/proc/self/status") if l.startswith("SigCgt:")][0].split()[1]
print(bool(int(caught, 16) & (1 << (signal.SIGINT - 1))))
"""


def _sigint_caught_after(imports: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, imports],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip() == "True"


def test_quickfix_when_imported_alone_then_sigint_is_left_to_the_default() -> None:
    """The library's side effect this guards against (if QuickFIX stops doing it, the guard in
    fixgw can go)."""
    assert not _sigint_caught_after("quickfix")


def test_fixgw_when_imported_after_quickfix_then_the_sigint_handler_is_back() -> None:
    assert _sigint_caught_after("fixgw")


def test_test_run_when_fixgw_was_imported_then_ctrl_c_still_interrupts_it() -> None:
    import fixgw  # noqa: F401  # as the fixgw tests do

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    status = Path("/proc/self/status").read_text()
    [caught] = [line.split()[1] for line in status.splitlines() if line.startswith("SigCgt:")]
    assert int(caught, 16) & (1 << (signal.SIGINT - 1)), "a Ctrl-C would kill the run at once"
