"""Regenerate BENCHMARKS.md from a results JSON (issue 8's report).

    python -m bench.report [RESULTS.json] [-o BENCHMARKS.md]

Everything in BENCHMARKS.md comes from the results file, never typed in by hand, so the
document cannot drift from the figures: change the harness, run `bash bench/run.sh`, and the
method, the machine, the table, the ratios and the plot are rewritten together.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/report.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import analysis
from bench.plot import phases_shown

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "bench" / "results" / "latest.json"
DEFAULT_OUT = ROOT / "BENCHMARKS.md"
PLOT = "docs/bench.png"
PHASES_PLOT = "docs/bench-healthy.png"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _stacks(results: dict[str, Any]) -> str:
    rows = []
    for n, stack in sorted(results["stacks"].items(), key=lambda kv: int(kv[0])):
        up = stack.get("bring_up_s")
        rows.append(
            [
                n,
                str(stack["ports_listening"]),
                str(stack["references"]),
                str(stack["referenced_endpoints"]),
                f"{len(stack['filtered_endpoints'])} ({stack['filtered_references']} refs)",
                f"{up:.0f} s" if up else "—",
            ]
        )
    header = [
        "N",
        "listening ports",
        "references",
        "referenced endpoints",
        "timing out",
        "bring-up",
    ]
    return _table(header, rows)


def _findings(results: dict[str, Any]) -> str:
    """Per N and command: the findings, and whether the planted timeouts were all found and
    the findings stayed the same across repetitions (speed must not cost findings). The
    timeout-bound stacks only: a healthy stack of the same N has its own table
    (`_healthy_findings`), and mixing them counted its runs as planted timeouts missed."""
    rows = []
    by_key: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for m in results["measurements"]:
        if m["ok"] and m["method"] != "floor" and not m.get("healthy"):
            by_key.setdefault((m["n"], m["method"]), []).append(m)
    for (n, method), runs in sorted(by_key.items()):
        first = runs[0]
        seen, other = [], []
        for run in runs:
            planted = run.get("planted") or {}
            if method == "ddiag_compose":
                total, unit = planted.get("planted_references"), "references"
                seen.append(planted.get("found") or 0)
                other.append(
                    len(planted.get("unexpected_failing_edges") or [])
                    + (planted.get("other_errors_count") or 0)
                )
            elif method == "ddiag_network":
                total, unit = planted.get("planted_endpoints"), "endpoints"
                seen.append(planted.get("found") or 0)
                other.append(planted.get("other_errors_count") or 0)
            else:
                total, unit = planted.get("planted_references"), "references"
                outcomes = planted.get("outcomes") or {}
                seen.append(outcomes.get("timeout", 0))
                other.append(sum(v for k, v in outcomes.items() if k not in ("ok", "timeout")))
        # The worst repetition: a finding that is missed once is missed.
        found = f"{min(seen)}/{total} {unit}"
        counts = ", ".join(f"{k} {v}" for k, v in (first.get("findings_by_check") or {}).items())
        stable = all(r.get("findings_same_as_first") in (True, None) for r in runs)
        rows.append(
            [
                str(n),
                analysis.LABELS[method],
                found,
                str(max(other)),
                counts or "—",
                "yes" if stable else "**no**",
            ]
        )
    header = [
        "N",
        "method",
        "planted timeouts seen (worst repetition)",
        "other failures (worst)",
        "findings (first repetition)",
        "same in every repetition",
    ]
    return _table(header, rows)


def _healthy_findings(results: dict[str, Any]) -> str:
    """Per healthy N and command: failing edges and errors (a healthy stack has none), and
    whether the findings stayed the same across repetitions."""
    rows = []
    by_key: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for m in results["measurements"]:
        if m.get("healthy") and m["ok"] and m["method"] in analysis.DDIAG_METHODS:
            by_key.setdefault((m["n"], m["method"]), []).append(m)
    for (n, method), runs in sorted(by_key.items()):
        failing = max(
            len((r.get("planted") or {}).get("unexpected_failing_edges") or [])
            + ((r.get("planted") or {}).get("other_errors_count") or 0)
            for r in runs
        )
        counts = ", ".join(f"{k} {v}" for k, v in (runs[0].get("findings_by_check") or {}).items())
        stable = all(r.get("findings_same_as_first") in (True, None) for r in runs)
        rows.append(
            [
                str(n),
                analysis.LABELS[method],
                str(failing),
                counts or "none",
                "yes" if stable else "**no**",
            ]
        )
    header = [
        "N",
        "method",
        "failing edges and errors (worst repetition)",
        "findings (first repetition)",
        "same in every repetition",
    ]
    return _table(header, rows)


def _phases(results: dict[str, Any]) -> str:
    """Where the median healthy run's time went, phase by phase, from its own trace."""
    shown = phases_shown(results)
    if shown is None:
        return "No healthy run was traced."
    n, runs = shown
    rows = []
    for phase in analysis.PHASES:
        cells = [phase]
        for method in runs:
            spans = runs[method]["trace_phases"].get(phase, [])
            if not spans:
                cells.append("—")
                continue
            busy = sum(b - a for a, b in spans)
            cells.append(f"{spans[0][0]:.2f} → {spans[-1][1]:.2f} s ({busy:.2f} s)")
        rows.append(cells)
    rows.append(
        ["exit (as the harness timed it)", *(f"{r['wall_s']:.2f} s" for r in runs.values())]
    )
    header = ["phase", *(f"{analysis.LABELS[m]} (median run)" for m in runs)]
    return f"Healthy N = {n}, from the `--trace` of the median run of each command:\n\n" + _table(
        header, rows
    )


def _overflow(results: dict[str, Any], an: dict[str, Any]) -> str:
    """Why a size's healthy figures are not ddiag's, when the kernel said so."""
    sizes = an["healthy"].get("neighbour_overflow") or []
    if not sizes:
        return ""
    thresh = results.get("machine", {}).get("neigh_gc_thresh3") or "unknown"
    return (
        f"\nAt N = {', '.join(map(str, sizes))} the kernel refused neighbour entries (its "
        f"table full) during the runs (net.ipv4.neigh.default.gc_thresh3 = {thresh} here, "
        "one table for every namespace): it dropped packets and connects timed out as if "
        "filtered; ddiag waited out those timeouts and reported them "
        "(`host.neighbour-table-full` claims them since it exists). Those figures measure "
        "the machine, not ddiag; raising gc_thresh3 (`bench/run.sh` says how) is what a "
        "valid run at that size needs, and the benchmark may not change this machine's "
        "sysctls.\n"
    )


def _unmeasured(an: dict[str, Any]) -> str:
    """Why a target has no figure: its size was not run here (a default kernel's neighbour
    table cannot hold a run at N = 200 without dropping packets)."""
    if all(t["verdict"] != "n/a" for t in an["healthy"]["targets"]):
        return ""
    return (
        "\nA target without a figure was not run (`--healthy-sizes`). At N = 200 a healthy "
        "run needs more neighbour (ARP) entries at once than a default kernel holds "
        '(gc_thresh3 = 1024 for every namespace together; ARCHITECTURE.md, "Host and '
        'firewall"), so its figures are valid only on a machine with higher limits, which '
        "the benchmark may not set (`bench/run.sh` says how).\n"
    )


def _healthy(results: dict[str, Any], an: dict[str, Any]) -> str:
    """The section of issue 19: healthy stacks against one probe start."""
    if not an["healthy"]["summary"]:
        return "No healthy stack was measured in this run."
    targets = _table(
        ["target (issue 19)", "measured", "verdict"],
        [[t["target"], analysis.fmt_value(t), t["verdict"]] for t in an["healthy"]["targets"]],
    )
    return f"""Most runs are of healthy stacks (every CI check that passes, every `--wait` retry),
where nothing has to wait for a timeout. Each healthy stack is the stack of the same N and seed
with no endpoint that times out (`generate(..., healthy=True)`): the same services,
networks and references. ddiag is timed as above, and against **one probe start**, `docker
run --rm IMAGE python3 -c pass` on one of the stack's networks, in the same shuffled
repetitions.

{_table(analysis.HEALTHY_HEADER, analysis.healthy_rows(an))}

{targets}
{_unmeasured(an)}{_overflow(results, an)}

{_healthy_findings(results)}

### Where a healthy run's time goes

Every ddiag run of the benchmark writes `--trace FILE` (README, "Where the time goes"), and
`bench/analysis.py` sorts its spans into phases: the interpreter and the imports; the
engine reads (connecting, the reaper, the engine read, `docker compose config`); the probe
starts (the shared probe and the bridges anchor, asked for before the imports); the
agent's start (from the start request to its first line); the tasks; the windows that wait
for silence (the ARP sweep's grace and the DF pings' rounds); the report; and the probes'
removal, which the run waits for before it exits. A phase's figures: when it began and
ended, and in brackets how long at least one of its spans ran.

{_phases(results)}

![Where a healthy run's time goes, phase by phase]({PHASES_PLOT})"""


def render(results: dict[str, Any]) -> str:
    """The whole BENCHMARKS.md for RESULTS."""
    an = analysis.analyse(results)
    settings, machine = results["settings"], results["machine"]
    sizes = ", ".join(str(n) for n in settings["sizes"])
    targets = _table(
        ["target (issue 8)", "measured", "verdict"],
        [[t["target"], analysis.fmt_value(t), t["verdict"]] for t in an["targets"]],
    )
    engine = (
        f"{machine.get('engine')} (API {machine.get('api_version')}), "
        f"Compose {machine.get('compose')}"
    )
    warning = ""
    if results.get("smoke"):
        warning = (
            "\n> **Smoke run** (N = 10, one repetition): these figures make no timing claim. "
            "Run `bash bench/run.sh` for the real benchmark.\n"
        )
    if results.get("problems"):
        listed = "\n".join(f"> - {p}" for p in results["problems"])
        warning += (
            f"\n> **This run had problems**; failed runs are left out of the figures:\n{listed}\n"
        )
    if results.get("warnings"):
        listed = "\n".join(f"> - {w}" for w in results["warnings"])
        warning += f"\n> Warnings of this run (figures unaffected):\n{listed}\n"
    return f"""# Benchmarks

```sh
bash bench/run.sh            # generate the stacks, measure, write bench/results/latest.json,
                             # docs/bench.png, docs/bench-healthy.png and this file
                             # (N = 10, 50, 200 and healthy 50, 200: about 45 min on 2 cores)
bash bench/run.sh --sizes 10,50 --repeat 3   # options go to `python -m bench.run`
python -m bench.run --smoke  # what CI runs: N = 10 once, no timing claims
```

This file is generated by `python -m bench.report` from `bench/results/latest.json`; do not
edit it by hand.
{warning}
## Method

Issue 8 asks that diagnosing a stack cost about one probe start plus one timeout, whatever
the size. The harness (`bench/`) generates compose stacks of N containers (N = {sizes}) over
4 networks, every container on 1 or 2 of them and listening on 2 TCP ports (BusyBox `httpd`,
or a small Python listener), with 1 to 3 references each to services it shares a network with
(URLs, `HOST`/`PORT` pairs, `host:port` items: what `ddiag compose` turns into dependency
edges). About 10 % of the referenced endpoints time out rather than refuse: their listener's
accept queue is full, so the kernel drops the SYNs. Generation is seeded (seed
{settings["seed"]}), so every run measures the same stacks.

With the same per-connect timeout ({settings["timeout_s"]:g} s) for everyone, it times:

- **ddiag compose**: `ddiag compose -p PROJECT -f FILE --format json`: every dependency
  edge observed from its source's network namespace;
- **ddiag network**: `ddiag network NET1 NET2 NET3 NET4 --format json`: every member's names
  resolved and every listening or exposed port connected from a peer, on each network;
- **baseline**, the runbook way: for each source container, in series, one
  `docker run --rm --network container:SRC {settings["probe_image"]} python3 -c '...'` doing
  that container's DNS lookups and TCP connects one after another;
- **floor**: one `docker run --rm {settings["probe_image"]} python3 -c pass` on one of the
  stack's networks, plus one timeout.

All stacks are up together and each of the {settings["repeat"]} repetitions runs every
(N, method) pair in a new shuffled order, so that load drifting during the run touches all
figures alike; the figures are medians. ddiag's peak RSS is `ru_maxrss` from `wait4` on the
ddiag process (it includes the children it waited for, such as `docker compose config`);
each probe's peak memory is what ddiag itself reports (`run.probe_memory_peak_bytes`).
Before timing, every container has printed that its ports listen; the stacks are removed
afterwards.

## Where a timeout-bound run's time goes

A `ddiag compose` run at N = 50 (traced for issue 8 on the benchmark host with the three
stacks up): about 0.4 s of Python start and imports; then, at once, the shared probe and
one *bridges anchor* start (two container starts: one anchor serves all four bridge
networks, `diag/probes/bridges.py`) while the engine is read (inspects in bulk over its
socket, `diag/engine/bulk_read.py`) and `docker compose config` runs; the probe's first
batch goes out as soon as it is up, listening sockets first (a sock_diag dump, 0.2 ms per
container where `/proc/net/tcp` took 9 ms), so the peers' connects to every listening port
follow within a few hundred milliseconds; then one timeout; then about 0.4 s for the engine
to remove the two probes. Each step is in the commits of issue 8; the ratios below are what
is left. Since issue 19 the probes are asked for before the imports
(`diag/run/prelaunch.py`) and the packet tasks go first in a batch; the healthy section
below shows a run phase by phase, from its own trace.

## Machine

| | |
|---|---|
| cores | {machine.get("cores")} ({machine.get("cpu") or "unknown CPU"}) |
| memory | {machine.get("memory")} |
| kernel | {machine.get("kernel")} |
| Docker engine | {engine} |
| ddiag | commit {machine.get("ddiag_commit")}, Python {machine.get("python")} |
| run | {results["started_at"]} to {results["finished_at"]} |

## Results

Wall time, median of {settings["repeat"]} repetitions; ratios of medians; memory: the maximum
over repetitions.

{_table(analysis.TABLE_HEADER, analysis.table_rows(an))}

![Wall time against N: ddiag compose, ddiag network, the baseline and the floor]({PLOT})

## Targets

{targets}

## Stacks and findings

{_stacks(results)}

Speed must not cost findings: each command's findings are compared across repetitions, and
the planted timeouts are looked for in them (for `ddiag compose` on the edges of the JSON
report, for `ddiag network` in its `port.filtered` findings, for the baseline in its connect
outcomes).

{_findings(results)}

## Healthy stacks

{_healthy(results, an)}
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.output.write_text(render(analysis.load(args.results)))
    print(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
