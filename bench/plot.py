"""Latency vs. rate, one PNG per scenario (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # the backend must be chosen before this import

PCTS = ("p50", "p90", "p99", "p99.9", "max")


def plot(doc: dict[str, Any], path: Path) -> bool:
    """Draw every rate series of ``doc``; False when it has none (skipped scenario, floors)."""
    series = {k: v for k, v in doc.get("series", {}).items() if any(s.get("ok") for s in v)}
    if not series:
        return False
    fig, axes = plt.subplots(
        1, len(series), figsize=(6.5 * len(series), 4.8), squeeze=False, sharey=True
    )
    floor = doc.get("path_floor") or {}
    for ax, (label, steps) in zip(axes[0], series.items(), strict=True):
        measured = [s for s in steps if s.get("ok")]
        rates = [s["offered_per_s"] for s in measured]
        for pct in PCTS:
            ax.plot(rates, [s["latency_ms"][pct] for s in measured], marker="o", label=pct)
        bound = doc.get("bound_p99_ms")
        if bound:
            ax.axhline(
                bound, color="red", linestyle="--", linewidth=1, label=f"p99 bound {bound} ms"
            )
        floor_p99 = floor.get("p99_ms") or (doc.get("floor_p99_ms_by_series") or {}).get(label)
        if floor_p99:
            ax.axhline(
                floor_p99,
                color="grey",
                linestyle=":",
                linewidth=1,
                label=f"floor sum p99 {floor_p99} ms",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"offered rate ({doc.get('rate_unit', 'requests/s')})")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("latency from scheduled send (ms)")
    commit = doc.get("git", {}).get("commit", "?")
    fig.suptitle(f"{doc['scenario']} @ {commit}{' (quick)' if doc.get('quick') else ''}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
