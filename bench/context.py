"""What a scenario gets from the harness: mode, floors of this run, the stack, a progress logger."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bench.stackctl import BenchStack


def say(line: str) -> None:
    """Progress to stderr (stdout carries only the JSON documents)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {line}", file=sys.stderr, flush=True)


@dataclass(slots=True)
class Context:
    quick: bool
    floors: dict[str, dict[str, Any]] = field(default_factory=dict)
    stack: BenchStack | None = None
    ws_client_counts: tuple[int, ...] = (1, 100, 1000)

    @property
    def s(self) -> BenchStack:
        assert self.stack is not None, "this scenario needs the stack"
        return self.stack

    def say(self, line: str) -> None:
        say(line)

    def floor_ms(self, name: str, pct: str, *, key: str = "latency_ms") -> float:
        """One percentile of one measured floor, in ms (KeyError if it was not measured)."""
        value: float = self.floors[name][key][pct]
        return value

    def path_floor(self, components: Sequence[tuple[str, int, str]]) -> dict[str, Any]:
        """Sum of floors along a path: (floor name, times on the path, which hop) per component."""
        parts = []
        totals = {"p50": 0.0, "p99": 0.0}
        for name, times, hop in components:
            part: dict[str, Any] = {"floor": name, "times": times, "hop": hop}
            for pct in totals:
                value = self.floor_ms(name, pct)
                part[f"{pct}_ms"] = value
                totals[pct] += times * value
            parts.append(part)
        return {
            "components": parts,
            "p50_ms": round(totals["p50"], 3),
            "p99_ms": round(totals["p99"], 3),
        }
