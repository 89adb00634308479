"""A scenario's JSON document, its short human table, and where both are written."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.machine import LOAD_GENERATOR

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def result_stem(doc: dict[str, Any]) -> str:
    started = datetime.fromisoformat(doc["started_at"]).strftime("%Y%m%dT%H%M%SZ")
    return f"{doc['scenario']}-{started}-{doc['git']['commit']}"


def write(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    """``<scenario>-<utc>-<commit>.json`` (and ``.png`` when there are rate series)."""
    from bench.plot import plot

    out_dir.mkdir(parents=True, exist_ok=True)
    stem = result_stem(doc)
    json_path = out_dir / f"{stem}.json"
    json_path.write_text(json.dumps(doc, indent=2) + "\n")
    written = [json_path]
    png = out_dir / f"{stem}.png"
    if plot(doc, png):
        written.append(png)
    return written


def _fmt(value: Any, width: int, places: int = 2) -> str:
    if value is None:
        return "-".rjust(width)
    if isinstance(value, float):
        return f"{value:{width}.{places}f}"
    return str(value).rjust(width)


def _steps_table(steps: list[dict[str, Any]], unit: str) -> list[str]:
    head = (
        f"  {'offered':>8} {'achieved':>9} {'ok':>7} {'fail':>5} {'refused':>7} {'rf99':>7} "
        f"{'p50':>8} {'p90':>8} "
        f"{'p99':>8} {'p99.9':>8} {'max':>8} {'x50':>6} {'x99':>6} {'gen%':>5} {'busy%':>5}"
    )
    lines = [
        f"  ({unit}; latency in ms; refused = 503/429 overload refusals, rf99 = their p99 time "
        "to refusal; x50/x99 = ratio to the floor sum; gen% = load generator CPU of one core; "
        "busy% = machine, all cores)",
        head,
    ]
    for s in steps:
        lat = s.get("latency_ms", {})
        ratio = s.get("ratio_to_floor_sum", {})
        cpu = s.get("cpu", {})
        fails = sum(s.get("failures", {}).values())
        refused = sum(s.get("refused", {}).values())
        refusal_p99 = s.get("time_to_refusal_ms", {}).get("p99")
        lines.append(
            f"  {_fmt(s['offered_per_s'], 8, 0)} {_fmt(s.get('achieved_per_s'), 9, 1)} "
            f"{_fmt(s.get('ok'), 7)} {_fmt(fails, 5)} {_fmt(refused, 7)} {_fmt(refusal_p99, 7)} "
            f"{_fmt(lat.get('p50'), 8)} "
            f"{_fmt(lat.get('p90'), 8)} {_fmt(lat.get('p99'), 8)} {_fmt(lat.get('p99.9'), 8)} "
            f"{_fmt(lat.get('max'), 8)} {_fmt(ratio.get('p50'), 6)} {_fmt(ratio.get('p99'), 6)} "
            f"{_fmt(cpu.get('percent_of_one_core', {}).get(LOAD_GENERATOR), 5, 0)} "
            f"{_fmt(cpu.get('machine_busy_pct_of_all_cores'), 5, 0)}"
        )
    return lines


def table(doc: dict[str, Any]) -> str:
    """A few lines a person reads after the run."""
    lines = [f"== {doc['scenario']}: {doc['title']}"]
    if "skipped" in doc:
        lines.append(f"  SKIPPED: {doc['skipped']}")
    if doc["scenario"] == "floors":
        for name, floor in doc.get("floors", {}).items():
            lat = floor.get("latency_ms")
            if lat:
                lines.append(
                    f"  {name:28} p50 {lat.get('p50'):>8} p99 {lat.get('p99'):>8} "
                    f"p99.9 {lat.get('p99.9'):>8} max {lat.get('max'):>8} ms"
                )
            for n, ws in floor.get("by_clients", {}).items():
                last = ws["last_client_ms"]
                lines.append(
                    f"  {name + ' ' + n + ' clients':28} p50 {last.get('p50'):>8} p99 "
                    f"{last.get('p99'):>8} p99.9 {last.get('p99.9'):>8} max {last.get('max'):>8} "
                    "ms (until the last client)"
                )
    result = doc.get("result")
    if isinstance(result, dict):  # a scenario measured in process: its headline numbers
        for key, value in result.items():
            if isinstance(value, int | float | str | bool):
                lines.append(f"  {key}: {value}")
            elif isinstance(value, dict) and all(
                isinstance(v, int | float) for v in value.values()
            ):
                lines.append(f"  {key}: {json.dumps(value)}")
    path = doc.get("path_floor")
    if path:
        parts = ", ".join(f"{c['floor']} x{c['times']}" for c in path["components"])
        lines.append(
            f"  floor sum on the path: p50 {path['p50_ms']} ms, p99 {path['p99_ms']} ms ({parts})"
        )
    for label, steps in doc.get("series", {}).items():
        lines.append(f"  {label} (bound p99 {doc.get('bound_p99_ms')} ms):")
        lines.extend(_steps_table(steps, doc.get("rate_unit", "requests/s")))
    cap = doc.get("capacity")
    if cap:
        lines.append(f"  capacity: {json.dumps(cap)}")
    burst = doc.get("burst")
    if burst:
        lines.append(
            f"  burst: {burst['sent']} sent, {burst['filled_responses']} filled, never stored "
            f"{burst['never_stored']}, in flight at the end "
            f"{burst.get('in_flight_when_the_last_response_came')} (none after "
            f"{burst.get('seconds_until_none_in_flight')} s), not terminal "
            f"{burst['not_terminal']}, acknowledged "
            f"{burst['acknowledged']} / found FILLED {burst['acknowledged_found_filled']}, p99 "
            f"{burst['latency_ms'].get('p99')} ms, done in {burst['completed_in_s']} s; "
            f"refusals {burst.get('refusals', 0)} (orders retried after Retry-After "
            f"{burst.get('orders_retried_after_refusal', 0)}, most retries of one order "
            f"{burst.get('most_retries_of_one_order')}, time to refusal p99 "
            f"{burst.get('time_to_refusal_ms', {}).get('p99')} ms)"
        )
    for t in doc.get("targets", []):
        verdict = {True: "PASS", False: "FAIL", None: "n/j "}[t["pass"]]
        lines.append(f"  {verdict} {t['target']} (limit {t['limit']}, measured {t['measured']})")
    for err in doc.get("errors", []):
        lines.append(f"  ERROR {err}")
    return "\n".join(lines)
