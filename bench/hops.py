"""Where the time goes: each service's own latency histograms, scraped before and after a step.

Every service measures its handler time (``fxmesh_<svc>_http_request_seconds``,
``fxmesh_<svc>_grpc_server_duration_seconds``, ...). The difference of ``_sum`` and ``_count``
between two scrapes is the mean time spent inside that hop during the step; nested hops
subtracted from each other give each process's own share (its work plus the call to the next).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True)
class Hop:
    """One histogram series: ``family`` at ``url`` filtered by ``labels``."""

    name: str
    url: str
    family: str
    labels: tuple[tuple[str, str], ...] = ()


Snapshot = dict[str, tuple[float, float]]  # hop name -> (sum seconds, count)


async def scrape(hops: Sequence[Hop]) -> Snapshot:
    """Current (sum, count) of every hop; a hop whose endpoint fails reads as (0, 0)."""
    out: Snapshot = {}
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        texts: dict[str, str] = {}
        for url in {h.url for h in hops}:
            try:
                texts[url] = (await client.get(url)).text
            except httpx.HTTPError:
                texts[url] = ""
    for hop in hops:
        total = count = 0.0
        wanted = dict(hop.labels)
        for family in text_string_to_metric_families(texts[hop.url]):
            if family.name != hop.family:
                continue
            for sample in family.samples:
                if any(sample.labels.get(k) != v for k, v in wanted.items()):
                    continue
                if sample.name == f"{hop.family}_sum":
                    total += sample.value
                elif sample.name == f"{hop.family}_count":
                    count += sample.value
        out[hop.name] = (total, count)
    return out


def mean_ms(before: Snapshot, after: Snapshot) -> dict[str, dict[str, Any]]:
    """Mean ms per observation of each hop between two snapshots."""
    result: dict[str, dict[str, Any]] = {}
    for name, (total, count) in after.items():
        t0, c0 = before.get(name, (0.0, 0.0))
        n = count - c0
        result[name] = {
            "observations": int(n),
            "mean_ms": round(1000 * (total - t0) / n, 3) if n > 0 else None,
        }
    return result


def nested_breakdown(
    client_mean_ms: float, means: dict[str, dict[str, Any]], chain: Sequence[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Split a client's mean latency over nested hops, outermost first.

    ``chain`` is [(hop name, what its own share covers)]; each hop's share is its mean minus the
    next (inner) hop's mean; the first row is what the client saw outside the outermost hop.
    """
    rows: list[dict[str, Any]] = []
    outer = client_mean_ms
    label = "client <-> outermost hop: network, HTTP parsing, queueing before the handler"
    for name, covers in chain:
        inner = means.get(name, {}).get("mean_ms")
        if inner is None:
            break
        rows.append({"share": label, "mean_ms": round(outer - inner, 3)})
        outer, label = inner, f"{name}: {covers}"
    rows.append({"share": label, "mean_ms": round(outer, 3)})
    for row in rows:
        row["percent"] = round(100 * row["mean_ms"] / client_mean_ms, 1) if client_mean_ms else None
    return rows
