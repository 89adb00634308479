"""Latency recording: HDR histograms in microseconds, summarised in milliseconds."""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]

# 1 us .. 10 min at 3 significant digits: ~0.1 % error at every magnitude.
_LOWEST_US, _HIGHEST_US, _DIGITS = 1, 600_000_000, 3
PERCENTILES: tuple[tuple[str, float], ...] = (
    ("p50", 50.0),
    ("p90", 90.0),
    ("p99", 99.0),
    ("p99.9", 99.9),
)


class Latencies:
    """One latency distribution; ``record`` takes seconds (a float timing, never money)."""

    def __init__(self) -> None:
        self._hist = HdrHistogram(_LOWEST_US, _HIGHEST_US, _DIGITS)

    def record(self, seconds: float) -> None:
        micros = int(seconds * 1e6)
        self._hist.record_value(min(max(micros, _LOWEST_US), _HIGHEST_US))

    def merge(self, other: Latencies) -> None:
        self._hist.add(other._hist)

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def percentile_ms(self, pct: float) -> float:
        return round(float(self._hist.get_value_at_percentile(pct)) / 1e3, 3)

    def summary(self) -> dict[str, Any]:
        """``{count, p50, p90, p99, p99.9, max, mean}`` in milliseconds (empty: count 0 only)."""
        if self.count == 0:
            return {"count": 0}
        out: dict[str, Any] = {"count": self.count}
        for name, pct in PERCENTILES:
            out[name] = self.percentile_ms(pct)
        out["max"] = round(self._hist.get_max_value() / 1e3, 3)
        out["mean"] = round(self._hist.get_mean_value() / 1e3, 3)
        return out


def summarize(samples_s: list[float]) -> dict[str, Any]:
    """Summary of a list of timings in seconds."""
    lat = Latencies()
    for s in samples_s:
        lat.record(s)
    return lat.summary()
