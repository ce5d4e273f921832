"""--wait (diag.run.waiting): run the diagnosis again until it is ready or the time is up,
with a stand-in for Diagnosis that returns given outcomes and a clock that only moves when
a run or the interval takes time. No engine, no real waiting."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from typer.testing import CliRunner

from diag.cli import diagnosing
from diag.cli.app import app
from diag.errors import DiagError
from diag.model.findings import Severity
from diag.model.topology import Topology
from diag.report.model import Report
from diag.run.config import Settings
from diag.run.diagnosis import Outcome
from diag.run.waiting import Wait, still_failing, until_ready

RUN_S = 3.0  # what one run costs on the fake clock


class Clock:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Runs:
    """Stands for Diagnosis: each run takes RUN_S on the clock and returns the next outcome
    (the last one again once they are used up), or raises the next error."""

    def __init__(self, clock: Clock, *outcomes: Outcome | BaseException) -> None:
        self.clock, self.outcomes, self.runs = clock, list(outcomes), 0

    def run(self, progress: Callable[[str], None]) -> Outcome:
        progress("Starting probes")
        self.clock.now += RUN_S
        given = self.outcomes[min(self.runs, len(self.outcomes) - 1)]
        self.runs += 1
        if isinstance(given, BaseException):
            raise given
        return given


@pytest.fixture
def outcome(topology141: Topology, make_report: Callable[..., Report]) -> Callable[..., Outcome]:
    """`outcome(*severities, fail_on=, **report)`: a finished run."""

    def make(*severities: Severity, fail_on: str = "error", **report: Any) -> Outcome:
        return Outcome(make_report(topology141, *severities, **report), Settings(fail_on=fail_on))

    return make


def _wait(runs: Runs, clock: Clock, seconds: float, interval: float = 2.0) -> tuple:
    told: list[str] = []
    said: list[str] = []
    last = until_ready(
        runs, Wait(seconds, interval), said.append, told.append, clock=clock, sleep=clock.sleep
    )
    return last, told, said


def test_a_ready_stack_costs_one_run_and_no_wait(outcome) -> None:
    clock = Clock()
    runs = Runs(clock, outcome(Severity.WARNING))  # a warning does not fail --fail-on error
    last, told, _ = _wait(runs, clock, 30)
    assert runs.runs == 1 and clock.slept == [] and told == []
    assert last.ready()


def test_runs_again_until_ready_and_says_what_still_fails(outcome) -> None:
    clock = Clock()
    failing, ready = outcome(Severity.ERROR), outcome()
    runs = Runs(clock, failing, failing, ready)
    last, told, said = _wait(runs, clock, 30)
    assert last is ready and runs.runs == 3 and clock.slept == [2.0, 2.0]
    assert told[0] == "not ready (attempt 1, 3.0 s of 30): dns.check0 (a); again in 2 s"
    assert told[1].startswith("not ready (attempt 2, 8.0 s of 30)")
    assert told[2] == "ready at attempt 3, after 13.0 s"
    assert "Waiting 2 s before attempt 2" in said


def test_the_time_up_ends_with_the_last_report(outcome) -> None:
    clock = Clock()
    first, later = outcome(Severity.ERROR), outcome(Severity.ERROR, Severity.ERROR)
    runs = Runs(clock, first, later)
    last, told, _ = _wait(runs, clock, 10, interval=1.0)
    # attempts start at 0, 4 and 8 s; a fourth could not start before 10 s (8 + 3 + 1 > 10)
    assert runs.runs == 3 and clock.slept == [1.0, 1.0] and last is later
    assert told[-1] == (
        "not ready after 3 attempt(s) in 11.0 s (--wait 10); the report is the last attempt's"
    )


def test_without_wait_one_run_whatever_it_finds(outcome) -> None:
    clock = Clock()
    runs = Runs(clock, outcome(Severity.ERROR))
    last, told, _ = _wait(runs, clock, 0)
    assert runs.runs == 1 and told == [] and last.failed()


def test_an_incomplete_run_is_not_ready(outcome) -> None:
    clock = Clock()
    runs = Runs(clock, outcome(deadline_reached=True), outcome())
    last, told, _ = _wait(runs, clock, 30)
    assert runs.runs == 2 and last.ready()
    assert "the run's deadline (120 s) came before every observation" in told[0]


def test_fail_on_decides_what_is_ready(outcome) -> None:
    clock = Clock()
    runs = Runs(clock, outcome(Severity.WARNING, fail_on="warning"), outcome())
    _, told, _ = _wait(runs, clock, 30)
    assert runs.runs == 2 and "dns.check0 (a)" in told[0]


def test_bad_input_or_a_lost_engine_ends_the_wait_at_once(outcome) -> None:
    clock = Clock()
    runs = Runs(clock, outcome(Severity.ERROR), DiagError("Cannot reach the Docker engine"))
    with pytest.raises(DiagError, match="Cannot reach"):
        _wait(runs, clock, 60)
    assert runs.runs == 2


def test_what_still_fails_names_a_few_and_counts_the_rest(outcome) -> None:
    many = outcome(*[Severity.ERROR] * 6, Severity.INFO, unobserved_places=1)
    text = still_failing(many)
    assert text.startswith(
        "dns.check0 (a), dns.check1 (a), dns.check2 (a), dns.check3 (a), 2 more;"
    )
    assert "1 place(s) could not be observed" in text and "dns.check6" not in text


# --- the command line --------------------------------------------------------------------------


class GivenRuns:
    """Stands for Diagnosis in diag.cli.diagnosing: the outcomes given, one per run."""

    outcomes: ClassVar[list[Outcome]] = []
    made: ClassVar[list[GivenRuns]] = []

    def __init__(self, request: Any) -> None:
        self.runs = 0
        self.made.append(self)

    def run(self, progress: Callable[[str], None]) -> Outcome:
        self.runs += 1
        return self.outcomes[min(self.runs, len(self.outcomes)) - 1]


@pytest.fixture
def given(monkeypatch) -> Iterator[Callable[..., None]]:
    import signal

    sigterm = signal.getsignal(signal.SIGTERM)  # the command installs its own handler
    monkeypatch.setattr(diagnosing, "Diagnosis", GivenRuns)
    monkeypatch.setattr(GivenRuns, "made", [])

    def give(*outcomes: Outcome) -> None:
        monkeypatch.setattr(GivenRuns, "outcomes", list(outcomes))

    yield give
    signal.signal(signal.SIGTERM, sigterm)


def test_wait_on_the_command_line_runs_one_diagnosis_again(given, outcome) -> None:
    given(outcome(Severity.ERROR), outcome(Severity.WARNING))
    args = ["compose", "--format", "json", "--wait", "30", "--wait-interval", "0.1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [made] = GivenRuns.made  # one Diagnosis, run twice
    assert made.runs == 2
    assert "ddiag: not ready (attempt 1" in result.stderr and "dns.check0 (a)" in result.stderr
    assert "ready at attempt 2" in result.stderr
    assert [f["severity"] for f in json.loads(result.stdout)["findings"]] == ["warning"]


def test_quiet_wait_tells_nothing_and_exits_as_the_last_run(given, outcome) -> None:
    given(outcome(Severity.ERROR))
    args = ["network", "n", "--format", "json", "--wait", "0.2", "--wait-interval", "0.1", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr == "" and GivenRuns.made[0].runs >= 1


@pytest.mark.parametrize("args", [["--wait", "-1"], ["--wait-interval", "0"]])
def test_bad_wait_values_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, ["network", "n", *args])
    assert result.exit_code == 2 and "Invalid value for" in result.output
