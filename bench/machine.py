"""Facts about the machine and the code under test, and CPU use per process group during a run."""

from __future__ import annotations

import contextlib
import os
import platform
import struct
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOAD_GENERATOR = "bench (load generator)"
OTHER_CHILDREN = "bench child processes (floor servers)"
OTHER = "other"
# Infrastructure found by process name; everything else busy on the machine is "other".
INFRA_PREFIXES = {"postgres": "postgresql", "redis-server": "redis", "beam.smp": "rabbitmq"}


def git_commit() -> dict[str, Any]:
    """The commit under test and whether the work tree differs from it."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "--short=12", "HEAD"),
            "dirty": bool(git("status", "--porcelain")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts() -> dict[str, Any]:
    """What the numbers depend on: CPU, memory, OS, Python, and how busy the machine already was."""
    return {
        "hostname": platform.node(),
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "cpu_idle": cpu_idle_facts(),
    }


CPU_DMA_LATENCY = Path("/dev/cpu_dma_latency")
SYS_CPU = Path("/sys/devices/system/cpu")
HALTPOLL_NS = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cpu_idle_facts(
    sys_cpu: Path = SYS_CPU, haltpoll_ns: Path = HALTPOLL_NS, qos: Path = CPU_DMA_LATENCY
) -> dict[str, Any]:
    """How the cores idle, which sets what every hop between processes pays to wake one (Linux;
    None where the kernel does not say). ``cpu_dma_latency_us``: the wake-up latency every idle
    core must keep to (the kernel's PM QoS; 0 keeps them polling, never halted), readable by root
    only. ``guest_halt_poll_ns``: how long a virtual machine's idle core polls before it halts
    (0: it halts at once, and a wake-up is an exit to the host)."""
    latency: int | None = None
    try:
        raw = qos.read_bytes()
        if len(raw) >= 4:
            latency = struct.unpack("i", raw[:4])[0]
    except OSError:
        pass
    halt_poll = _read(haltpoll_ns)
    return {
        "cpuidle_driver": _read(sys_cpu / "cpuidle" / "current_driver"),
        "cpuidle_governor": _read(sys_cpu / "cpuidle" / "current_governor_ro")
        or _read(sys_cpu / "cpuidle" / "current_governor"),
        "guest_halt_poll_ns": int(halt_poll) if halt_poll and halt_poll.isdigit() else None,
        "cpu_dma_latency_us": latency,
    }


@contextlib.contextmanager
def cpus_awake(qos: Path = CPU_DMA_LATENCY) -> Iterator[None]:
    """Keep every core out of its idle states while inside: a PM QoS request of 0 us wake-up
    latency, held as long as the file stays open (what tuned's latency-performance profile does
    on a trading host). Idle cores then poll instead of halting, so a process woken by another's
    message runs at once; the idle time still counts as idle. Needs root."""
    fd = os.open(qos, os.O_WRONLY)
    try:
        os.write(fd, struct.pack("i", 0))
        yield
    finally:
        os.close(fd)  # the kernel drops the request with the last close


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    wall: float
    # (pid, create time) -> (group, CPU seconds so far)
    processes: dict[tuple[int, float], tuple[str, float]]
    reaped_children: float
    machine_busy: float
    # pid -> (group, seconds its main thread ran, seconds it waited for a core), Linux only
    main_threads: dict[int, tuple[str, float, float]] = field(default_factory=dict)


class CpuMeter:
    """CPU seconds per named process group: the load generator, each stack service, infrastructure.

    ``usage`` turns two snapshots into percent of one core per group (a process that started in
    between counts whole; one that ended in between is lost, except the bench's own children),
    the machine's busy percent of all cores, and ``other``: every process outside the bench and
    the infrastructure, i.e. other users of a shared machine.

    For each named group it also reports its busiest process's main thread (an event loop: a
    service's requests all run there): the share of the window it ran and the share it was
    ready to run but waited for a core (the scheduler's run queue, ``/proc/<pid>/schedstat``).
    Their sum near 100 % is a saturated loop even while the machine shows idle time.
    """

    def __init__(self, groups: Mapping[str, list[int]] | None = None) -> None:
        self.groups: dict[str, list[int]] = {LOAD_GENERATOR: [os.getpid()]}
        self.groups.update(groups or {})

    def add(self, name: str, pid: int) -> None:
        self.groups.setdefault(name, []).append(pid)

    def _group_of(self, pid: int, name: str, descendants: set[int]) -> str:
        for group, pids in self.groups.items():
            if pid in pids:
                return group
        if pid in descendants:
            return OTHER_CHILDREN
        return next((g for p, g in INFRA_PREFIXES.items() if name.startswith(p)), OTHER)

    def snapshot(self) -> CpuSnapshot:
        me = psutil.Process()
        descendants = {c.pid for c in me.children(recursive=True)}
        processes: dict[tuple[int, float], tuple[str, float]] = {}
        for proc in psutil.process_iter(["name", "cpu_times", "create_time"]):
            info = proc.info
            times = info.get("cpu_times")
            if times is None or info.get("create_time") is None:
                continue
            group = self._group_of(proc.pid, info.get("name") or "", descendants)
            processes[(proc.pid, info["create_time"])] = (group, times.user + times.system)
        main_threads: dict[int, tuple[str, float, float]] = {}
        for group, pids in self.groups.items():
            for pid in pids:
                scheduled = main_thread_schedstat(pid)
                if scheduled is not None:
                    main_threads[pid] = (group, *scheduled)
        own = me.cpu_times()
        t = psutil.cpu_times()
        busy = t.user + t.system + sum(getattr(t, f, 0.0) for f in ("nice", "irq", "softirq"))
        return CpuSnapshot(
            time.perf_counter(),
            processes,
            own.children_user + own.children_system,
            busy,
            main_threads,
        )

    def usage(self, before: CpuSnapshot, after: CpuSnapshot) -> dict[str, Any]:
        wall = max(after.wall - before.wall, 1e-9)
        spent: dict[str, float] = {name: 0.0 for name in self.groups}
        for key, (group, cpu) in after.processes.items():
            previous = before.processes.get(key)
            spent[group] = spent.get(group, 0.0) + cpu - (previous[1] if previous else 0.0)
        spent[OTHER_CHILDREN] = spent.get(OTHER_CHILDREN, 0.0) + (
            after.reaped_children - before.reaped_children
        )
        other = spent.pop(OTHER, 0.0)
        cores = os.cpu_count() or 1
        return {
            "window_s": round(wall, 2),
            "percent_of_one_core": {k: round(100 * v / wall, 1) for k, v in spent.items()},
            "machine_busy_pct_of_all_cores": round(
                100 * (after.machine_busy - before.machine_busy) / wall / cores, 1
            ),
            "other_pct_of_one_core": round(100 * other / wall, 1),
            "main_thread_pct_of_wall": _main_threads(before, after, wall),
        }


def main_thread_schedstat(pid: int) -> tuple[float, float] | None:
    """Seconds the process's main thread has run and has waited for a core since it started;
    None where the kernel does not say (not Linux, no schedstats, the process gone)."""
    try:
        fields = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
        return int(fields[0]) / 1e9, int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _main_threads(
    before: CpuSnapshot, after: CpuSnapshot, wall: float
) -> dict[str, dict[str, float]]:
    """Per group, its busiest main thread over the window: percent of the wall time it ran and
    percent it waited for a core."""
    out: dict[str, dict[str, float]] = {}
    for pid, (group, ran, waited) in after.main_threads.items():
        then = before.main_threads.get(pid)
        if then is None or then[0] != group or ran < then[1]:  # not the same process throughout
            continue
        running = 100 * (ran - then[1]) / wall
        waiting = 100 * (waited - then[2]) / wall
        best = out.get(group)
        if best is None or running + waiting > best["running"] + best["waiting_for_a_core"]:
            out[group] = {"running": round(running, 1), "waiting_for_a_core": round(waiting, 1)}
    return out
