"""bench/: healthy stacks and how a traced run is sorted into phases (issue 19), without an
engine (the harness itself runs in tests/integration/test_bench_smoke.py)."""

from __future__ import annotations

from bench import analysis, report
from bench.stack import generate


def test_a_healthy_stack_is_the_same_stack_with_nothing_timing_out() -> None:
    planted, healthy = generate(50, slot=0), generate(50, slot=1, healthy=True)
    assert planted.filtered_endpoints and not healthy.filtered_endpoints
    assert [r.target for r in planted.references] == [r.target for r in healthy.references]
    assert healthy.project == "ddiagbench-healthy-n50" != planted.project
    assert generate(10, prefix="other-").project == "other-n10"


def test_a_trace_is_sorted_into_phases_merged_per_phase() -> None:
    trace = {
        "spans": [
            {"name": "interpreter and imports", "start_s": 0.0, "end_s": 0.3},
            {"name": "probe start", "start_s": 0.1, "end_s": 0.6, "probe": "shared"},
            {"name": "probe start", "start_s": 0.2, "end_s": 0.7, "probe": "anchor"},
            {"name": "task", "start_s": 0.7, "end_s": 0.8, "kind": "connect"},
            {"name": "task", "start_s": 0.9, "end_s": 1.0, "kind": "listening"},
            {"name": "task", "start_s": 0.7, "end_s": 1.1, "kind": "arp_sweep"},
            {"name": "observing", "start_s": 0.5, "end_s": 1.1},  # not a phase of its own
            {"name": "probe removal", "start_s": 1.1, "end_s": 1.4},
        ]
    }
    assert analysis.phases(trace) == {
        "interpreter and imports": [[0.0, 0.3]],
        "probe start": [[0.1, 0.7]],
        "tasks": [[0.7, 0.8], [0.9, 1.0]],
        "windows waiting for silence": [[0.7, 1.1]],
        "probe removal": [[1.1, 1.4]],
    }


def _run(method: str, wall: float, rep: int) -> dict:
    return {
        "n": 50,
        "method": method,
        "rep": rep,
        "ok": True,
        "wall_s": wall,
        "healthy": True,
        "trace_phases": {"tasks": [[0.5, wall]]} if method != "probe_start" else {},
    }


def test_healthy_runs_are_judged_against_one_probe_start() -> None:
    runs = [_run("probe_start", 0.4, r) for r in range(3)]
    runs += [_run("ddiag_compose", w, r) for r, w in enumerate((1.5, 1.6, 2.0))]
    runs += [_run("ddiag_network", w, r) for r, w in enumerate((1.8, 1.7, 1.9))]
    runs.append({**_run("ddiag_compose", 9.0, 0), "healthy": False})  # another table's
    found = analysis.healthy(runs)
    assert found["ratios"]["50"]["ddiag_compose_vs_probe_start"] == 1.6 / 0.4
    verdicts = {row["target"]: row["verdict"] for row in found["targets"]}
    assert verdicts["healthy: ddiag compose <= 4 x one probe start at N = 50"] == "met"
    assert verdicts["healthy: ddiag network <= 4 x one probe start at N = 50"] == "missed"
    assert verdicts["healthy: ddiag compose <= 6 x one probe start at N = 200"] == "n/a"
    assert analysis.median_run(runs, 50, "ddiag_compose")["wall_s"] == 1.6


def test_a_size_whose_runs_overflowed_the_neighbour_table_is_not_judged() -> None:
    """Dropped packets time out like filtered ones: such figures are the machine's."""
    runs = [_run("probe_start", 0.4, r) for r in range(3)]
    runs += [_run("ddiag_compose", w, r) for r, w in enumerate((1.5, 1.6, 2.0))]
    runs += [{**_run("ddiag_network", 1.5, 0), "neighbour_overflow": True}]
    found = analysis.healthy(runs)
    verdicts = {row["target"]: row["verdict"] for row in found["targets"]}
    assert verdicts["healthy: ddiag compose <= 4 x one probe start at N = 50"] == (
        "not valid: neighbour table overflow (met)"
    )
    assert found["neighbour_overflow"] == [50]


def test_the_report_says_why_a_target_has_no_figure() -> None:
    runs = [_run("probe_start", 0.4, r) for r in range(3)]
    runs += [_run(m, 1.5, r) for m in ("ddiag_compose", "ddiag_network") for r in range(3)]
    without_200 = {"healthy": analysis.healthy(runs)}
    assert "At N = 200 a healthy run needs more neighbour (ARP) entries" in report._unmeasured(
        without_200
    )
    every_size_run = {"healthy": {"targets": [{"verdict": "met"}, {"verdict": "missed"}]}}
    assert report._unmeasured(every_size_run) == ""


def test_the_findings_table_counts_only_the_stack_with_planted_timeouts() -> None:
    """A healthy stack of the same N once shared its rows: "0/0 references" were reported
    for ddiag, and the first (healthy) run's empty findings for `ddiag network`."""

    def measured(method: str, healthy: bool, planted: dict, found: dict) -> dict:
        return {
            "n": 50,
            "method": method,
            "ok": True,
            "healthy": healthy,
            "planted": planted,
            "findings_by_check": found,
            "findings_same_as_first": True,
        }

    timeouts = {"planted_endpoints": 6, "found": 6}
    measurements = [
        measured("ddiag_network", True, {"planted_endpoints": 0, "found": 0}, {}),
        measured("ddiag_network", False, timeouts, {"port.filtered": 6}),
        measured("probe_start", True, {}, {}),
    ]
    table = report._findings({"measurements": measurements})
    assert "| 50 | ddiag network | 6/6 endpoints | 0 | port.filtered 6 | yes |" in table
    assert "one probe start" not in table
