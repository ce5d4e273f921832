"""Draw wall time against N from a results JSON: docs/bench.png (issue 8's plot).

    python -m bench.plot [RESULTS.json] [-o docs/bench.png]

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=DEFAULT_RESULTS)
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_PNG)
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("bench.plot needs matplotlib: pip install -e '.[bench]'", file=sys.stderr)
        return 2
    print(plot(analysis.load(args.results), args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
