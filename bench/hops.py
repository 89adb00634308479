"""Where the time goes: each service's own latency histograms, scraped before and after a step.

Every service measures its handler time (``fxmesh_<svc>_http_request_seconds``,
``fxmesh_<svc>_grpc_server_duration_seconds``, ...). The difference of ``_sum`` and ``_count``
between two scrapes is the mean time spent inside that hop during the step; nested hops
subtracted from each other give each process's own share (its work plus the call to the next).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from bench.rawhttp import HttpError, HttpPool

SCRAPE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Hop:
    """One histogram (or counter) series: ``family`` at ``url`` filtered by ``labels``."""

    name: str
    url: str
    family: str
    labels: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Reading:
    """One histogram series at one scrape: its sum (seconds), count and cumulative buckets."""

    total: float = 0.0
    count: float = 0.0
    buckets: dict[float, float] = field(default_factory=dict)  # upper bound -> observations <= it


Snapshot = dict[str, Reading]  # hop name -> its reading


Texts = dict[str, str]  # metrics URL -> its exposition text at one scrape


async def fetch(hops: Sequence[Hop]) -> Texts:
    """Each metrics endpoint's text, unparsed: all a scrape does while orders are in flight.

    Parsing is the expensive part (tens of ms of the generator's own CPU on this machine) and is
    left to ``read``, after the step: done inside the measured window it stopped the load
    generator's loop at the window's start, and the orders it was sending or reading then
    counted that pause as the stack's latency (the ~100 ms maximum of every step). The texts
    come over the bench's own HTTP client: an httpx client builds a TLS context with the CA
    bundle when created, 17-38 ms of the loop for plain-HTTP endpoints."""
    texts: Texts = {}
    for url in {h.url for h in hops}:
        parts = urlsplit(url)
        pool = HttpPool(parts.hostname or "127.0.0.1", parts.port or 80, max_connections=1)
        try:
            async with asyncio.timeout(SCRAPE_TIMEOUT_S):
                reply = await pool.request("GET", parts.path or "/")
            texts[url] = reply.body.decode() if reply.status == 200 else ""
        except (HttpError, OSError, TimeoutError):
            texts[url] = ""
        finally:
            await pool.close()
    return texts


def read(hops: Sequence[Hop], texts: Texts) -> Snapshot:
    """The reading of every hop in fetched texts (each text parsed once); a hop whose endpoint
    failed reads as empty."""
    families: dict[tuple[str, str], list[Metric]] = defaultdict(list)
    for url, text in texts.items():
        for family in text_string_to_metric_families(text):
            families[url, family.name].append(family)
    out: Snapshot = {}
    for hop in hops:
        total = count = 0.0
        buckets: dict[float, float] = {}
        wanted = dict(hop.labels)
        for family in families.get((hop.url, hop.family), ()):
            for sample in family.samples:
                if any(sample.labels.get(k) != v for k, v in wanted.items()):
                    continue
                if sample.name == f"{hop.family}_sum":
                    total += sample.value
                elif family.type == "counter" and sample.name == f"{hop.family}_total":
                    total += sample.value  # a counter: its total, no count
                elif sample.name == f"{hop.family}_count":
                    count += sample.value
                elif sample.name == f"{hop.family}_bucket":
                    bound = float(sample.labels["le"])
                    buckets[bound] = buckets.get(bound, 0.0) + sample.value
        out[hop.name] = Reading(total, count, buckets)
    return out


async def scrape(hops: Sequence[Hop]) -> Snapshot:
    """Current reading of every hop (``fetch`` then ``read``)."""
    return read(hops, await fetch(hops))


def mean_ms(before: Snapshot, after: Snapshot) -> dict[str, dict[str, Any]]:
    """Mean ms per observation of each hop between two snapshots."""
    result: dict[str, dict[str, Any]] = {}
    for name, now in after.items():
        then = before.get(name, Reading())
        n = now.count - then.count
        result[name] = {
            "observations": int(n),
            "mean_ms": round(1000 * (now.total - then.total) / n, 3) if n > 0 else None,
        }
    return result


def mean_size(before: Snapshot, after: Snapshot) -> dict[str, dict[str, Any]]:
    """Mean observed value (not a time: a group's size, say) of each hop between two snapshots."""
    result: dict[str, dict[str, Any]] = {}
    for name, now in after.items():
        then = before.get(name, Reading())
        n = now.count - then.count
        result[name] = {
            "observations": int(n),
            "mean": round((now.total - then.total) / n, 2) if n > 0 else None,
        }
    return result


def per_order(before: Snapshot, after: Snapshot, orders: int) -> dict[str, float | None]:
    """How much each counter hop rose between two snapshots, per order of the step (messages
    published per order, say): a regression in messages or round trips shows without timing."""
    return {
        name: round((now.total - before.get(name, Reading()).total) / orders, 2) if orders else None
        for name, now in after.items()
    }


def over(before: Snapshot, after: Snapshot, bounds_s: Sequence[float]) -> dict[str, dict[str, int]]:
    """How many observations of each hop between two snapshots exceeded each of ``bounds_s``
    (each must be a bucket bound of the histogram), and how many there were."""
    result: dict[str, dict[str, int]] = {}
    for name, now in after.items():
        then = before.get(name, Reading())
        seen = now.count - then.count
        counts = {"observations": int(seen)}
        for bound in bounds_s:
            at_most = now.buckets.get(bound, 0.0) - then.buckets.get(bound, 0.0)
            counts[f"over_{bound * 1000:g}_ms"] = int(seen - at_most)
        result[name] = counts
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
