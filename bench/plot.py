"""Draw wall time against N from a results JSON: docs/bench.png (issue 8's plot), and where a
healthy run's time goes: docs/bench-healthy.png (issue 19).

    python -m bench.plot [RESULTS.json] [-o docs/bench.png] [--phases-output PNG]

The Agg backend draws without a display (CI, ssh). Lines: `ddiag compose`, the baseline
(the runbook way) and the floor, as issue 8 asks, plus `ddiag network` dashed. Bars show
the min..max over repetitions around each median, so a reader sees how noisy a point was.
The y axis is logarithmic: the baseline grows linearly with N while ddiag should stay near
the floor, and a linear axis would flatten the two lines that matter into one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/plot.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import analysis

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RESULTS = ROOT / "bench" / "results" / "latest.json"
DEFAULT_PNG = ROOT / "docs" / "bench.png"
DEFAULT_PHASES_PNG = ROOT / "docs" / "bench-healthy.png"
STYLE = {
    "ddiag_compose": {"color": "#1f77b4", "linestyle": "-", "marker": "o"},
    "ddiag_network": {"color": "#1f77b4", "linestyle": "--", "marker": "s"},
    "baseline": {"color": "#d62728", "linestyle": "-", "marker": "^"},
    "floor": {"color": "#7f7f7f", "linestyle": ":", "marker": "v"},
}


def plot(results: dict[str, Any], out: Path) -> Path:
    """Write the PNG for RESULTS to OUT and return OUT."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    summary = analysis.analyse(results)["summary"]
    sizes = sorted(int(n) for n in summary)
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for method in analysis.METHODS:
        points = [
            (n, summary[str(n)][method])
            for n in sizes
            if summary[str(n)].get(method, {}).get("wall_s") is not None
        ]
        if not points:
            continue
        xs = [n for n, _ in points]
        ys = [m["wall_s"] for _, m in points]
        low = [m["wall_s"] - m["wall_min_s"] for _, m in points]
        high = [m["wall_max_s"] - m["wall_s"] for _, m in points]
        ax.errorbar(
            xs, ys, yerr=[low, high], label=analysis.LABELS[method], capsize=3, **STYLE[method]
        )
    settings, machine = results["settings"], results["machine"]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, [str(n) for n in sizes])
    ax.minorticks_off()
    # 1, 2, 5, 10, 20, 50 ... s, written as plain seconds: readable without log arithmetic.
    ax.yaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda y, _: f"{y:g}"))
    ax.set_xlabel("containers in the stack (N)")
    ax.set_ylabel("wall time (s), median; bars: min..max")
    ax.set_title(
        f"ddiag vs the runbook way: timeout {settings['timeout_s']:g} s, "
        f"{settings['repeat']} repetition(s), {machine.get('cores')} cores",
        fontsize=10,
    )
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def phases_shown(results: dict[str, Any]) -> tuple[int, dict[str, dict[str, Any]]] | None:
    """The healthy size whose traces BENCHMARKS.md shows (N = 50 if measured, else the
    smallest), and the median run of each ddiag command there; None without traces."""
    sizes = sorted({m["n"] for m in results["measurements"] if m.get("healthy")})
    if not sizes:
        return None
    n = analysis.TARGET_N if analysis.TARGET_N in sizes else sizes[0]
    runs = {
        method: run
        for method in analysis.DDIAG_METHODS
        if (run := analysis.median_run(results["measurements"], n, method)) is not None
    }
    return (n, runs) if runs else None


def plot_phases(results: dict[str, Any], out: Path) -> Path | None:
    """Where a healthy run's time goes (issue 19): for the median run of each ddiag command
    at the size `phases_shown` picks, one bar per phase over the seconds since ddiag
    started, from the run's own --trace; the run's end as the harness timed it, and one
    probe start (median) and the target's multiple of it as vertical lines."""
    shown = phases_shown(results)
    if shown is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, runs = shown
    start = analysis.healthy(results["measurements"])["summary"][str(n)]
    one = start.get("probe_start", {}).get("wall_s")
    limit = analysis.HEALTHY_LIMITS.get(n)
    fig, axes = plt.subplots(len(runs), 1, figsize=(8, 1.2 + 1.9 * len(runs)), dpi=120)
    axes = axes if len(runs) > 1 else [axes]
    for ax, (method, run) in zip(axes, runs.items(), strict=True):
        rows = [p for p in analysis.PHASES if p in run["trace_phases"]]
        for y, phase in enumerate(rows):
            spans = [(a, b - a) for a, b in run["trace_phases"][phase]]
            ax.broken_barh(spans, (y - 0.35, 0.7), color=PHASE_COLORS[phase])
        ax.axvline(run["wall_s"], color="black", linewidth=1)
        ax.text(run["wall_s"], len(rows) - 0.4, " exit", fontsize=8, va="top")
        if one:
            ax.axvline(one, color="#7f7f7f", linestyle=":", linewidth=1)
            if limit:
                ax.axvline(limit * one, color="#d62728", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(
            f"{analysis.LABELS[method]}, healthy N = {n}: median run, {run['wall_s']:.2f} s",
            fontsize=9,
        )
        ax.grid(True, axis="x", alpha=0.3)
        ax.set_xlim(0, max(run["wall_s"], (limit or 0) * (one or 0)) * 1.05)
    axes[-1].set_xlabel(
        "seconds since ddiag started (dotted: one probe start, median"
        + (f"; dashed: {limit:g} x that, the target)" if limit else ")")
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


PHASE_COLORS = {
    "interpreter and imports": "#9467bd",
    "engine reads": "#8c564b",
    "probe start": "#1f77b4",
    "agent start": "#17becf",
    "tasks": "#2ca02c",
    "windows waiting for silence": "#bcbd22",
    "report": "#ff7f0e",
    "probe removal": "#7f7f7f",
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_PNG)
    parser.add_argument("--phases-output", type=Path, default=DEFAULT_PHASES_PNG)
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench.plot needs matplotlib: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    results = analysis.load(args.results)
    print(plot(results, args.output))
    print(plot_phases(results, args.phases_output) or "no healthy runs traced: no phases plot")
    return 0


if __name__ == "__main__":
    sys.exit(main())
