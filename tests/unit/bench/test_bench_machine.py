"""The bench's CPU meter: each named process's main thread, running and waiting for a core.

A service's requests all run on one event loop, so its main thread is what saturates; the machine's
busy percent can show idle time while that thread is busy or queued for a core all the time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cli import cpu_awake_or_not
from bench.machine import CpuMeter, CpuSnapshot, cpu_idle_facts, main_thread_schedstat

SPIN = "import time\nend = time.monotonic() + 30\nwhile time.monotonic() < end: pass\n"
SLEEP = "import time\ntime.sleep(30)\n"


def _snapshot(wall: float, threads: dict[int, tuple[str, float, float]]) -> CpuSnapshot:
    return CpuSnapshot(wall, {}, 0.0, 0.0, threads)


def test_each_group_reports_its_busiest_main_thread_over_the_window() -> None:
    meter = CpuMeter({"edge": [11, 12], "oms": [21]})
    before = _snapshot(
        0.0, {11: ("edge", 1.0, 0.5), 12: ("edge", 4.0, 0.0), 21: ("oms", 10.0, 2.0)}
    )
    after = _snapshot(4.0, {11: ("edge", 1.5, 1.5), 12: ("edge", 5.2, 0.0), 21: ("oms", 12.9, 3.0)})

    assert meter.usage(before, after)["main_thread_pct_of_wall"] == {
        # pid 12 ran 1.2 s of 4 (30 %); pid 11 ran 0.5 s and waited 1 s (37.5 %): the busier.
        "edge": {"running": 12.5, "waiting_for_a_core": 25.0},
        "oms": {"running": 72.5, "waiting_for_a_core": 25.0},
    }


def test_a_process_missing_at_either_end_or_restarted_is_left_out() -> None:
    meter = CpuMeter({"oms": [21, 22, 23]})
    before = _snapshot(0.0, {21: ("oms", 5.0, 1.0), 23: ("oms", 9.0, 1.0)})
    # 22 started in the window; 23 is a new process under a reused pid (less time so far).
    after = _snapshot(2.0, {21: ("oms", 5.2, 1.0), 22: ("oms", 1.0, 0.0), 23: ("oms", 0.1, 0.0)})
    assert meter.usage(before, after)["main_thread_pct_of_wall"] == {
        "oms": {"running": 10.0, "waiting_for_a_core": 0.0}
    }


@pytest.mark.skipif(
    main_thread_schedstat(os.getpid()) is None, reason="the kernel keeps no schedstat here"
)
def test_a_spinning_process_shows_running_and_a_sleeping_one_does_not() -> None:
    spinner = subprocess.Popen([sys.executable, "-c", SPIN])
    sleeper = subprocess.Popen([sys.executable, "-c", SLEEP])
    try:
        time.sleep(0.3)  # both started (the interpreter's own start-up is not in the window)
        meter = CpuMeter({"spinner": [spinner.pid], "sleeper": [sleeper.pid]})
        before = meter.snapshot()
        time.sleep(1.0)
        threads = meter.usage(before, meter.snapshot())["main_thread_pct_of_wall"]
    finally:
        spinner.kill()
        sleeper.kill()
        spinner.wait()
        sleeper.wait()
    spun, slept = threads["spinner"], threads["sleeper"]
    # Running or queued for a core the whole second, however busy the machine is.
    assert spun["running"] + spun["waiting_for_a_core"] > 50
    assert slept["running"] + slept["waiting_for_a_core"] < 5


def test_cpu_idle_facts_read_the_kernel_s_files_and_say_none_where_there_are_none(
    tmp_path: Path,
) -> None:
    sys_cpu = tmp_path / "cpu"
    (sys_cpu / "cpuidle").mkdir(parents=True)
    (sys_cpu / "cpuidle" / "current_driver").write_text("haltpoll\n")
    (sys_cpu / "cpuidle" / "current_governor_ro").write_text("haltpoll\n")
    (tmp_path / "halt_poll_ns").write_text("0\n")
    (tmp_path / "qos").write_bytes(struct.pack("i", 2_000_000_000))

    assert cpu_idle_facts(sys_cpu, tmp_path / "halt_poll_ns", tmp_path / "qos") == {
        "cpuidle_driver": "haltpoll",
        "cpuidle_governor": "haltpoll",
        "guest_halt_poll_ns": 0,
        "cpu_dma_latency_us": 2_000_000_000,
    }
    assert cpu_idle_facts(tmp_path / "none", tmp_path / "none", tmp_path / "none") == {
        "cpuidle_driver": None,
        "cpuidle_governor": None,
        "guest_halt_poll_ns": None,
        "cpu_dma_latency_us": None,
    }


def _open_files() -> list[str]:
    """What this process has open now (the listing's own descriptor may be gone by the read)."""
    paths = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            paths.append(os.readlink(f"/proc/self/fd/{fd}"))
    return paths


def test_cpus_awake_asks_for_zero_latency_and_holds_it_until_the_run_ends(tmp_path: Path) -> None:
    qos = tmp_path / "cpu_dma_latency"
    qos.write_bytes(b"")
    with cpu_awake_or_not(argparse.Namespace(cpu_awake=True), qos):
        assert qos.read_bytes() == struct.pack("i", 0)
        # The request lasts while the file is open (the kernel drops it at the last close).
        assert str(qos) in _open_files()
    assert str(qos) not in _open_files()


def test_without_the_flag_nothing_is_held_and_a_refusal_stops_the_run(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-device"
    with cpu_awake_or_not(argparse.Namespace(cpu_awake=False), missing):
        assert not missing.exists()
    with pytest.raises(SystemExit) as stopped:
        cpu_awake_or_not(argparse.Namespace(cpu_awake=True), missing)
    assert stopped.value.code == 2
