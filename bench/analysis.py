"""From raw measurements to medians, ratios and the verdict on issue 8's targets.

Kept apart from the runner so that the plot and BENCHMARKS.md are computed from a results
JSON alone: a saved run can be re-rendered (or re-judged against changed targets) without
running anything again.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

METHODS = ("ddiag_compose", "ddiag_network", "baseline", "floor")
DDIAG_METHODS = ("ddiag_compose", "ddiag_network")
# On a healthy stack (issue 19) nothing waits for a timeout: ddiag is measured against one
# probe start alone.
HEALTHY_METHODS = ("ddiag_compose", "ddiag_network", "probe_start")
LABELS = {
    "ddiag_compose": "ddiag compose",
    "ddiag_network": "ddiag network",
    "baseline": "baseline (runbook)",
    "floor": "floor",
    "probe_start": "one probe start",
}
# Issue 19's targets: ddiag on a healthy stack, in probe starts.
HEALTHY_LIMITS = {50: 4.0, 200: 6.0}
# Where a traced run's time goes (diag.trace's spans, by name; tasks by kind), in the order
# a run meets them. The packet tasks listen for silence: their own phase.
PHASES = (
    "interpreter and imports",
    "engine reads",
    "probe start",
    "agent start",
    "tasks",
    "windows waiting for silence",
    "report",
    "probe removal",
)
SILENCE_KINDS = ("arp_sweep", "pmtu")
SPAN_PHASES = {
    "interpreter and imports": "interpreter and imports",
    "probe asked for before the imports": "engine reads",
    "engine connect": "engine reads",
    "reaper": "engine reads",
    "engine read": "engine reads",
    "target prepared (compose: docker compose config)": "engine reads",
    "target made": "engine reads",
    "probe start": "probe start",
    "agent start": "agent start",
    "checks evaluated, report made": "report",
    "report rendered": "report",
    "probe removal": "probe removal",
}
# Issue 8's targets.
TARGET_N = 50
MAX_VS_FLOOR = 2.0
MAX_VS_BASELINE = 0.2
MAX_GROWTH = 3.0
MAX_RSS_BYTES = 150 * 10**6  # "150 MB"
MAX_PROBE_BYTES = 64 * 2**20  # "64 MiB"


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def phases(trace: dict[str, Any]) -> dict[str, list[list[float]]]:
    """A `--trace` document as PHASES: each phase's spans merged into the intervals during
    which at least one of them ran (seconds since the ddiag process started)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for span in trace.get("spans", []):
        if span["name"] == "task":
            phase = "windows waiting for silence" if span.get("kind") in SILENCE_KINDS else "tasks"
        else:
            phase = SPAN_PHASES.get(span["name"], "")
        if phase:
            spans.setdefault(phase, []).append((span["start_s"], span["end_s"]))
    merged: dict[str, list[list[float]]] = {}
    for phase in PHASES:
        for start, end in sorted(spans.get(phase, [])):
            runs = merged.setdefault(phase, [])
            if runs and start <= runs[-1][1]:
                runs[-1][1] = max(runs[-1][1], end)
            else:
                runs.append([round(start, 4), round(end, 4)])
    return merged


def median_run(measurements: list[dict[str, Any]], n: int, method: str) -> dict[str, Any] | None:
    """The healthy run of (N, method) whose wall time is the median (the lower middle one of
    an even count): the run whose trace BENCHMARKS.md shows."""
    runs = sorted(
        (m for m in measurements if m.get("healthy") and m["ok"] and m["n"] == n
         and m["method"] == method and m.get("trace_phases")),
        key=lambda m: m["wall_s"],
    )  # fmt: skip
    return runs[(len(runs) - 1) // 2] if runs else None


def healthy(measurements: list[dict[str, Any]]) -> dict[str, Any]:
    """Issue 19's figures: per N, the medians of the healthy runs and ddiag's ratio to one
    probe start (medians of the same run), and the verdict on each target."""
    summary = summarize([m for m in measurements if m.get("healthy")])
    per_n: dict[str, dict[str, float | None]] = {}
    for n, methods in summary.items():
        start = methods.get("probe_start", {}).get("wall_s")
        per_n[n] = {
            f"{method}_vs_probe_start": _ratio(methods.get(method, {}).get("wall_s"), start)
            for method in DDIAG_METHODS
        }
    overflowed = {m["n"] for m in measurements if m.get("healthy") and m.get("neighbour_overflow")}
    rows = []
    for n, limit in HEALTHY_LIMITS.items():  # every target, "n/a" where N was not measured
        for method in DDIAG_METHODS:
            value = per_n.get(str(n), {}).get(f"{method}_vs_probe_start")
            verdict = _verdict(value, limit)
            rows.append(
                {
                    "target": f"healthy: {LABELS[method]} <= {limit:g} x one probe start "
                    f"at N = {n}",
                    "value": value,
                    "limit": limit,
                    # dropped packets time out like filtered ones: not a figure of ddiag's
                    "verdict": f"{OVERFLOW} ({verdict})" if n in overflowed else verdict,
                }
            )
    return {
        "summary": summary,
        "ratios": per_n,
        "targets": rows,
        "neighbour_overflow": sorted(overflowed),
    }


def summarize(measurements: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per N and method: median wall time (the figure issue 8 asks for), its spread, and
    memory. Memory targets are judged on the *maximum* over repetitions, a peak being a
    bound, not a typical value. Failed runs are left out of the figures, never counted as
    fast."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for m in measurements:
        out.setdefault(str(m["n"]), {}).setdefault(m["method"], {"runs": []})["runs"].append(m)
    for per_method in out.values():
        for entry in per_method.values():
            runs = [r for r in entry.pop("runs") if r.get("ok")]
            walls = [r["wall_s"] for r in runs]
            rss = [r["rss_tree_kib"] for r in runs if r.get("rss_tree_kib")]
            rss_self = [r["rss_self_kib"] for r in runs if r.get("rss_self_kib")]
            probe = [r["probe_memory_peak_bytes"] for r in runs if r.get("probe_memory_peak_bytes")]
            probes = [r["probes_started"] for r in runs if r.get("probes_started") is not None]
            entry.update(
                runs=len(runs),
                wall_s=_median(walls),
                wall_min_s=min(walls) if walls else None,
                wall_max_s=max(walls) if walls else None,
                rss_tree_kib=_median(rss),
                rss_tree_max_kib=max(rss) if rss else None,
                rss_self_kib=_median(rss_self),
                rss_self_max_kib=max(rss_self) if rss_self else None,
                probe_memory_peak_bytes=max(probe) if probe else None,
                probes_started=_median(probes),
            )
    return out


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(summary: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """ddiag/floor and ddiag/baseline at each N, and ddiag's growth from the smallest N to
    the largest measured (issue 8 asks 10 -> 200)."""
    per_n: dict[str, dict[str, float | None]] = {}
    for n, methods in summary.items():
        floor = methods.get("floor", {}).get("wall_s")
        base = methods.get("baseline", {}).get("wall_s")
        row: dict[str, float | None] = {}
        for method in DDIAG_METHODS:
            wall = methods.get(method, {}).get("wall_s")
            row[f"{method}_vs_floor"] = _ratio(wall, floor)
            row[f"{method}_vs_baseline"] = _ratio(wall, base)
        per_n[n] = row
    sizes = sorted(int(n) for n in summary)
    growth: dict[str, Any] = {}
    if len(sizes) > 1:
        lo, hi = str(sizes[0]), str(sizes[-1])
        for method in DDIAG_METHODS:
            growth[method] = {
                "from": sizes[0],
                "to": sizes[-1],
                "ratio": _ratio(
                    summary[hi].get(method, {}).get("wall_s"),
                    summary[lo].get(method, {}).get("wall_s"),
                ),
            }
    return {"per_n": per_n, "growth": growth}


OVERFLOW = "not valid: neighbour table overflow"


def _verdict(value: float | None, limit: float) -> str:
    if value is None:
        return "n/a"
    return "met" if value <= limit else "missed"


def targets(summary: dict[str, dict[str, dict[str, Any]]], ratio: dict[str, Any]) -> list[dict]:
    """Each target of issue 8 with the measured value and "met", "missed" or "n/a" (not
    measured in this run, e.g. N = 50 absent, or the probe memory key not reported)."""
    rows: list[dict[str, Any]] = []
    at = ratio["per_n"].get(str(TARGET_N), {})
    for method in DDIAG_METHODS:
        label = LABELS[method]
        value = at.get(f"{method}_vs_floor")
        rows.append(
            {
                "target": f"{label} <= {MAX_VS_FLOOR:g} x floor at N = {TARGET_N}",
                "value": value,
                "limit": MAX_VS_FLOOR,
                "verdict": _verdict(value, MAX_VS_FLOOR),
            }
        )
        value = at.get(f"{method}_vs_baseline")
        rows.append(
            {
                "target": f"{label} <= {MAX_VS_BASELINE:g} x baseline at N = {TARGET_N}",
                "value": value,
                "limit": MAX_VS_BASELINE,
                "verdict": _verdict(value, MAX_VS_BASELINE),
            }
        )
        growth = ratio["growth"].get(method, {})
        value = growth.get("ratio")
        span = f"N = {growth['from']} -> {growth['to']}" if growth else "N = 10 -> 200"
        complete = growth.get("from") == 10 and growth.get("to") == 200
        rows.append(
            {
                "target": f"{label} wall time grows <= {MAX_GROWTH:g} x ({span})",
                "value": value,
                "limit": MAX_GROWTH,
                "verdict": _verdict(value, MAX_GROWTH) if complete else "n/a",
            }
        )
    rss = [
        m.get("rss_tree_max_kib")
        for methods in summary.values()
        for name, m in methods.items()
        if name in DDIAG_METHODS and m.get("rss_tree_max_kib")
    ]
    peak = max(rss) * 1024 if rss else None
    rows.append(
        {
            "target": "ddiag peak RSS <= 150 MB (process and the children it waited for)",
            "value": peak,
            "limit": MAX_RSS_BYTES,
            "verdict": _verdict(peak, MAX_RSS_BYTES),
        }
    )
    probe = [
        m["probe_memory_peak_bytes"]
        for methods in summary.values()
        for name, m in methods.items()
        if name in DDIAG_METHODS and m.get("probe_memory_peak_bytes")
    ]
    value = max(probe) if probe else None
    rows.append(
        {
            "target": "each probe's peak memory <= 64 MiB",
            "value": value,
            "limit": MAX_PROBE_BYTES,
            "verdict": _verdict(value, MAX_PROBE_BYTES),
        }
    )
    return rows


def analyse(results: dict[str, Any]) -> dict[str, Any]:
    """Summary, ratios and targets of a results document (what run.py stores under
    `analysis`, and what plot.py and report.py recompute from the measurements)."""
    timeout_bound = [m for m in results["measurements"] if not m.get("healthy")]
    summary = summarize(timeout_bound)
    ratio = ratios(summary)
    return {
        "summary": summary,
        "ratios": ratio,
        "targets": targets(summary, ratio),
        "healthy": healthy(results["measurements"]),
    }


def fmt_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def fmt_ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def fmt_bytes(value: float | None) -> str:
    return "—" if value is None else f"{value / 2**20:.1f} MiB"


def fmt_value(row: dict[str, Any]) -> str:
    """A target's measured value, in the unit of its limit."""
    if row["limit"] in (MAX_RSS_BYTES, MAX_PROBE_BYTES):
        if row["value"] is None:
            return "—"
        if row["limit"] == MAX_RSS_BYTES:
            return f"{row['value'] / 10**6:.0f} MB"
        return fmt_bytes(row["value"])
    return fmt_ratio(row["value"])


def table_rows(analysis: dict[str, Any]) -> list[list[str]]:
    """The main table, one row per N: medians and the two ratios for `ddiag compose` and
    `ddiag network`, shared by the terminal output and BENCHMARKS.md."""
    rows = []
    summary, per_n = analysis["summary"], analysis["ratios"]["per_n"]
    for n in sorted(summary, key=int):
        methods, ratio = summary[n], per_n[n]
        compose = methods.get("ddiag_compose", {})
        rows.append(
            [
                n,
                fmt_seconds(compose.get("wall_s")),
                fmt_seconds(methods.get("ddiag_network", {}).get("wall_s")),
                fmt_seconds(methods.get("baseline", {}).get("wall_s")),
                fmt_seconds(methods.get("floor", {}).get("wall_s")),
                fmt_ratio(ratio.get("ddiag_compose_vs_floor")),
                fmt_ratio(ratio.get("ddiag_compose_vs_baseline")),
                fmt_ratio(ratio.get("ddiag_network_vs_floor")),
                fmt_ratio(ratio.get("ddiag_network_vs_baseline")),
                fmt_bytes(
                    max(
                        (
                            (methods.get(m, {}).get("rss_tree_max_kib") or 0) * 1024
                            for m in DDIAG_METHODS
                        ),
                        default=0,
                    )
                    or None
                ),
                fmt_bytes(
                    max(
                        (methods.get(m, {}).get("probe_memory_peak_bytes") or 0)
                        for m in DDIAG_METHODS
                    )
                    or None
                ),
            ]
        )
    return rows


def healthy_rows(analysis: dict[str, Any]) -> list[list[str]]:
    """The healthy stacks' table (issue 19), one row per N."""
    found = analysis["healthy"]
    rows = []
    for n, methods in sorted(found["summary"].items(), key=lambda kv: int(kv[0])):
        ratio = found["ratios"][n]
        rows.append(
            [
                n,
                fmt_seconds(methods.get("ddiag_compose", {}).get("wall_s")),
                fmt_seconds(methods.get("ddiag_network", {}).get("wall_s")),
                fmt_seconds(methods.get("probe_start", {}).get("wall_s")),
                fmt_ratio(ratio.get("ddiag_compose_vs_probe_start")),
                fmt_ratio(ratio.get("ddiag_network_vs_probe_start")),
                str(max((methods.get(m, {}).get("runs") or 0 for m in HEALTHY_METHODS), default=0)),
            ]
        )
    return rows


HEALTHY_HEADER = [
    "N",
    "compose",
    "network",
    "one probe start",
    "compose/probe start",
    "network/probe start",
    "runs",
]


TABLE_HEADER = [
    "N",
    "compose",
    "network",
    "baseline",
    "floor",
    "compose/floor",
    "compose/baseline",
    "network/floor",
    "network/baseline",
    "ddiag peak RSS",
    "probe peak mem",
]
